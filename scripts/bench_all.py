"""All benchmarks behind one command (`make bench`): runs each bench script and prints one table.

    python scripts/bench_all.py [--quick] [--json FILE]

chip mining ms/image, loader chips/s per core, train step s/chip with the per-pixel ratio against gluoncv's
Faster R-CNN, tester images/s and the share of its time outside the network forward.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from lib.utils.atomic import atomic_write_json  # noqa: E402


def run_script(name, args, folder):
    """Run scripts/<name> with --json; its figures (dict), or None when it failed (its output is shown)."""
    out = os.path.join(folder, name + ".json")
    command = [sys.executable, os.path.join(ROOT, "scripts", name)] + list(args) + ["--json", out]
    print("$ " + " ".join(command[1:]), flush=True)
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not os.path.exists(out):
        print(proc.stderr[-2000:])
        return None
    with open(out) as f:
        return json.load(f)


def machine():
    """One line naming this machine."""
    cpu = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return "%s, %d cores, Python %s" % (cpu, os.cpu_count(), platform.python_version())


def rows(figures):
    """Table rows (what, figure) from the scripts' figures."""
    out = []
    chips, loader, model, tester = (figures.get(k) for k in ("chips", "loader", "model", "test"))
    if chips:
        out.append(("chip mining, 640x480 image, positive + negative chips (900 proposals)",
                    "%.2f ms/image (original: 4.6)" % chips["coco_ms_median_proposals"]))
        if "deepforest_ms_max_proposals" in chips:
            out.append(("chip mining, largest deepforest image, with proposals",
                        "%.1f ms/image" % chips["deepforest_ms_max_proposals"]))
    if loader:
        out.append(("loader, 512 chips with RPN targets, paper scales", "%.0f chips/s per core (in-process)"
                    % loader["workers_0"]["chips_per_cpu_s"]))
        workers = [k for k in loader if k != "workers_0"]
        for key in workers:
            out.append(("loader, %s worker processes" % key.split("_")[1], "%.0f chips/s" % loader[key]["chips_per_s"]))
    if model:
        for name, ref in (("tiny", None), ("resnet50", "gcv_resnet50"), ("resnet101", "gcv_resnet101")):
            if name not in model:
                continue
            ratio = ""
            if ref in model:
                ratio = ", %.2fx gluoncv Faster R-CNN per pixel" % (model[name]["s_per_megapixel"]
                                                                     / model[ref]["s_per_megapixel"])
            out.append(("train step fwd+bwd, %s" % name, "%.3f s/chip%s" % (model[name]["s_per_chip"], ratio)))
    for row in tester or []:
        gcv = (", gluoncv Faster R-CNN R50 %.3f images/s at the same pixels" % row["gluoncv_images_per_s"]
               if "gluoncv_images_per_s" in row else "")
        out.append(("tester, %s, %s (%.1f Mpx/image)" % (row["model"], row["scales"], row["megapixels_per_image"]),
                    "%.3f images/s, %.1f %% outside the forward%s" % (row["images_per_s"],
                                                                     100 * row["overhead_fraction"], gcv)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer images and models (a few minutes)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    models = "tiny,resnet50,gcv_resnet50" if args.quick else "tiny,resnet50,gcv_resnet50,resnet101,gcv_resnet101"
    with tempfile.TemporaryDirectory() as folder:
        figures = {
            "chips": run_script("bench_chips.py", ["--images", "100" if args.quick else "300"], folder),
            "loader": run_script("bench_loader.py", ["--images", "30", "--batches", "15" if args.quick else "40"],
                                 folder),
            "model": run_script("bench_model.py", ["--iters", "1", "--models", models], folder),
        }
        figures["test"] = run_script("bench_test.py", ["--images", "1" if args.quick else "2"], folder)
    table = rows(figures)
    print("\nMachine: %s\n" % machine())
    print("| benchmark | figure |\n|---|---|")
    for what, value in table:
        print("| %s | %s |" % (what, value))
    if args.json:
        atomic_write_json(args.json, {"machine": machine(), "figures": figures, "table": table}, indent=1)


if __name__ == "__main__":
    main()
