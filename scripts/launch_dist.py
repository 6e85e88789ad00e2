"""Launch a multi-process dist_sync job on this machine with MXNet's own parameter server (ps-lite).

    python scripts/launch_dist.py -n 2 -s 1 -- python main_train.py --cfg configs/quickstart/shapes_cpu.yml \
        --set default.kvstore dist_sync

starts one scheduler, `-s` servers and `-n` workers on 127.0.0.1; each worker runs the command with the
DMLC_* variables set (the worker's rank comes from the kvstore). For several machines, start the same roles
with DMLC_PS_ROOT_URI set to the scheduler's address on each machine (see README, "Multi-node").
Exits with the first non-zero worker exit code; servers and scheduler are stopped when the workers end.
"""
import argparse
import os
import socket
import subprocess
import sys
import time


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def role_env(role, num_workers, num_servers, port, host="127.0.0.1"):
    """The environment of one ps-lite process (the repository on PYTHONPATH for the worker command)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    env.update({"DMLC_ROLE": role, "DMLC_PS_ROOT_URI": host, "DMLC_PS_ROOT_PORT": str(port),
                "DMLC_NUM_WORKER": str(num_workers), "DMLC_NUM_SERVER": str(num_servers)})
    return env


def launch(command, num_workers=2, num_servers=1, timeout=None):
    """Run `command` (list) as `num_workers` workers; returns the exit code (non-zero on failure or timeout)."""
    port = free_port()
    serve = [sys.executable, "-c", "import mxnet"]  # importing mxnet with DMLC_ROLE=server/scheduler serves
    daemons = [subprocess.Popen(serve, env=role_env("scheduler", num_workers, num_servers, port))]
    daemons += [subprocess.Popen(serve, env=role_env("server", num_workers, num_servers, port))
                for _ in range(num_servers)]
    workers = [subprocess.Popen(command, env=role_env("worker", num_workers, num_servers, port))
               for _ in range(num_workers)]
    deadline = None if timeout is None else time.time() + timeout
    code = 0
    try:
        while any(w.poll() is None for w in workers):
            failed = [w.returncode for w in workers if w.returncode not in (None, 0)]
            if failed or (deadline and time.time() > deadline):
                code = failed[0] if failed else 124
                break
            time.sleep(0.2)
        code = code or next((w.returncode for w in workers if w.returncode), 0)
    finally:
        for proc in workers + daemons:
            if proc.poll() is None:
                proc.terminate()
        for proc in workers + daemons:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return code


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--num-workers", type=int, default=2)
    parser.add_argument("-s", "--num-servers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=None, help="seconds before the job is stopped")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the worker command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the worker command after --")
    sys.exit(launch(command, args.num_workers, args.num_servers, args.timeout))


if __name__ == "__main__":
    main()
