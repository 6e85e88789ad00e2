"""The paper's claims in miniature: SNIPER against full-image training, negatives, 2 vs 3 scales (README table).

    python scripts/ablation.py [--cfg configs/quickstart/shapes_cpu.yml] [--arms a,b,...] [--out DIR]
                               [--budget-epochs 3] [--rpn-epochs 1] [--force]

Every arm trains the config's tiny network from scratch on the same images with the same learning-rate
schedule shape and is tested with the same 3-scale tester on the val split. Compute is equalised in processed
pixels: the budget is `--budget-epochs` epochs of the config itself (SNIPER, positive chips only, i.e. the
quickstart), and every arm trains for the number of iterations whose network-input pixels (canvas pixels,
padding included) match it (TRAIN.MAX_ITERATIONS), with its lr step and warmup at the same fractions of its
run. Negative chips need a short RPN-only run and its proposals on the training set first (the two-stage
pipeline); that stage is reported apart from the budget. Full-image arms are also tested with their own
protocol ("own test": their (930, 1340) resolution alone, no valid ranges). The `*_time` arms give the
full-image baselines the reference arm's training wall time instead (their equal-pixel arms measure their speed
first); `sniper_epochs` gives SNIPER with negatives the reference's number of passes (the paper's comparison;
more pixels). Every arm trains without the AutoFocus branch the quickstart config turns on (TRAIN.AUTO_FOCUS
False), so that the arms differ in their chips only. Each arm's result is kept in <out>/<arm>/result.json and reused unless --force; the table goes to
stdout and <out>/ablation.md.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import init_paths  # noqa: E402,F401  (logging set up)
from lib.config import load_config  # noqa: E402
from lib.utils.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402

PYRAMID = ((1700, 2400), (930, 1340), (240, 256))  # the test scales: the 3-scale image pyramid
SINGLE = ["TRAIN.FULL_IMAGE", "True", "TRAIN.SCALES", "((930, 1340),)", "TRAIN.BATCH_IMAGES", "2"]
MULTI = ["TRAIN.FULL_IMAGE", "True", "TRAIN.SCALES", str(PYRAMID), "TRAIN.BATCH_IMAGES", "2"]
# name -> (label, --set words on top of the config, uses negative chips, budget): budget None is the pixel
# budget, "epochs" the reference's number of passes over the data, an arm name the reference's training time at
# that arm's measured seconds per iteration)
ARMS = {
    "sniper": ("SNIPER, 3 scales, + negative chips", [], True, None),
    "sniper_pos": ("SNIPER, 3 scales, positive chips only", [], False, None),
    "sniper_2scales": ("SNIPER, 2 scales (no x1.5), positive chips only",
                       ["TRAIN.SCALES", "(0.833, 256.0)", "TRAIN.VALID_RANGES", "((-1, 150), (120, -1))"], False,
                       None),
    "single_scale": ("full image, single scale (930, 1340)", SINGLE, False, None),
    "multi_scale": ("full image, multi-scale (1700, 2400) / (930, 1340) / (240, 256)", MULTI, False, None),
    "sniper_epochs": ("SNIPER, 3 scales, + negative chips, 3 passes (more pixels)", [], True, "epochs"),
    "single_scale_time": ("full image, single scale, equal wall time", SINGLE, False, "single_scale"),
    "multi_scale_time": ("full image, multi-scale, equal wall time", MULTI, False, "multi_scale"),
    "single_scale_anchors": ("full image, single scale, anchors 16-480 px, equal wall time",
                             SINGLE + ["network.ANCHOR_SCALES", "(1, 2, 3.5, 6, 10, 18, 30)"], False, "single_scale"),
}
# the full-image arms' own test protocol: their training resolution, no valid ranges
OWN_TEST = ["TEST.SCALES", "((930, 1340),)", "TEST.VALID_RANGES", "((-1, -1),)", "TEST.BATCH_IMAGES", "(1,)"]
REFERENCE_ARM = "sniper_pos"  # the config as it is: its budget-epochs define the pixel budget
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def run(command, log_path):
    """Run a repository script (one OpenMP thread, as the quickstart) into a log file; seconds it took."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    start = time.time()
    print("$ " + " ".join(command), flush=True)
    with open(log_path, "w") as log:
        code = subprocess.call([sys.executable] + command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise SystemExit("error: %s failed (exit %d); log %s:\n%s" % (command[0], code, log_path, tail))
    return time.time() - start


def epoch_plan(cfg_file, words):
    """Epoch 0 of a config: (batches, network-input pixels incl. padding, chips, images)."""
    from lib.data.epoch import build_epoch
    from lib.train.records import training_records
    cfg = load_config(cfg_file, words)
    records = training_records(cfg)[0]
    epoch = build_epoch(records, cfg, 0)
    pixels = sum(chip.canvas ** 2 for _, chip in epoch.entries)
    return epoch.num_batches, pixels, epoch.num_chips, len(records)


def schedule_words(cfg, plan, iterations, reference_iterations):
    """--set words giving an arm `iterations` of training, the config's schedule shape scaled to it."""
    passes = iterations / plan[0]
    step_fraction = float(cfg.TRAIN.lr_step) / cfg.TRAIN.end_epoch if cfg.TRAIN.lr_step else None
    warmup = max(1, round(cfg.TRAIN.warmup_step * iterations / reference_iterations))
    words = ["TRAIN.MAX_ITERATIONS", str(iterations), "TRAIN.end_epoch", str(math.ceil(passes) + 1),
             "TRAIN.warmup_step", str(warmup), "TRAIN.lr_step",
             "%.4f" % (step_fraction * passes) if step_fraction else ""]
    return words, passes


def stage_negatives(args, out):
    """The two-stage pipeline's first half: a short RPN-only run, then its proposals on the training set.

    Returns (--set words pointing the training at the proposals, seconds spent)."""
    folder = os.path.join(out, "rpn")
    proposals = os.path.join(out, "proposals")
    done = os.path.join(folder, "done.json")
    words = ["proposal_path", proposals, "TRAIN.USE_NEG_CHIPS", "True"]
    if os.path.exists(done) and not args.force:
        with open(done) as f:
            return words, json.load(f)["seconds"]
    os.makedirs(folder, exist_ok=True)
    cfg = load_config(args.cfg)
    rpn = ["output_path", folder, "TRAIN.ONLY_PROPOSAL", "True", "TRAIN.USE_NEG_CHIPS", "False",
           "TRAIN.end_epoch", str(args.rpn_epochs), "TRAIN.lr_step", ""]
    seconds = run(["main_train.py", "--cfg", args.cfg, "--overwrite", "--set"] + rpn, os.path.join(folder, "train.log"))
    seconds += run(["main_test.py", "--cfg", args.cfg, "--epoch", str(args.rpn_epochs), "--set"] + rpn +
                   ["TEST.EXTRACT_PROPOSALS", "True", "TEST.PROPOSAL_SAVE_PATH", proposals,
                    "dataset.test_image_set", cfg.dataset.image_set], os.path.join(folder, "proposals.log"))
    atomic_write_json(done, {"seconds": seconds})
    return words, seconds


def arm_iterations(name, plan, budget, out):
    """Iterations of an arm: its batches' pixels matching the budget, the budget's epochs of its own batches, or
    (equal wall time) the reference arm's training seconds at this arm's measured seconds per iteration."""
    speed_of = ARMS[name][3]
    if speed_of is None:
        return max(1, round(budget["pixels"] * plan[0] / plan[1]))
    if speed_of == "epochs":
        return round(budget["epochs"] * plan[0])
    reference, measured = (load_result(out, arm) for arm in (REFERENCE_ARM, speed_of))
    return max(1, round(reference["train_s"] * measured["iterations"] / measured["train_s"]))


def load_result(out, name):
    """The saved result of arm `name`; SystemExit saying which arm to run first when it is missing."""
    path = os.path.join(out, name, "result.json")
    if not os.path.exists(path):
        raise SystemExit("error: %s is needed first (python scripts/ablation.py --arms %s)" % (path, name))
    with open(path) as f:
        return json.load(f)


def test_arm(args, words, log_path, extra=()):
    """main_test.py on an arm's last checkpoint with `extra` --set words; (COCO metrics dict, seconds)."""
    from lib.train.checkpoint import latest_checkpoint, output_dir
    cfg = load_config(args.cfg, list(words) + list(extra))
    progress, _ = latest_checkpoint(output_dir(cfg))
    seconds = run(["main_test.py", "--cfg", args.cfg, "--epoch", str(progress["epoch"]), "--set"] + list(words) +
                  list(extra), log_path)
    metrics_file = os.path.join(output_dir(cfg), "results", "detections_%s_metrics.json" % cfg.dataset.test_image_set)
    with open(metrics_file) as f:
        return json.load(f)["metrics"], seconds


def run_arm(args, name, words, budget, out):
    """Train and test one arm within its budget; its result dict (also saved as result.json).

    Full-image arms are also tested with their own protocol (OWN_TEST: one scale, no valid ranges)."""
    from lib.train.checkpoint import latest_checkpoint, output_dir
    folder = os.path.join(out, name)
    result_path = os.path.join(folder, "result.json")
    words = ["output_path", folder, "TRAIN.AUTO_FOCUS", "False"] + words  # the ablation is about chips
    if os.path.exists(result_path) and not args.force:
        result = load_result(out, name)
    else:
        os.makedirs(folder, exist_ok=True)
        cfg = load_config(args.cfg, words)
        plan = epoch_plan(args.cfg, words)
        schedule, passes = schedule_words(cfg, plan, arm_iterations(name, plan, budget, out),
                                                      budget["iterations"])
        train_s = run(["main_train.py", "--cfg", args.cfg, "--overwrite", "--set"] + words + schedule,
                      os.path.join(folder, "train.log"))
        progress, _ = latest_checkpoint(output_dir(cfg))
        metrics, test_s = test_arm(args, words, os.path.join(folder, "test.log"))
        result = {"arm": name, "label": ARMS[name][0], "metrics": metrics, "iterations": progress["num_update"],
                  "pixels": progress["pixels"], "passes": passes, "pixels_per_image_pass": plan[1] / plan[3],
                  "chips_per_image_pass": plan[2] / plan[3], "train_s": train_s, "test_s": test_s}
    if "TRAIN.FULL_IMAGE" in words and "own_metrics" not in result:
        result["own_metrics"] = test_arm(args, words, os.path.join(folder, "test_own.log"), OWN_TEST)[0]
    atomic_write_json(result_path, result, indent=1)
    return result


def pyramid_pixels():
    """Input pixels of one image at all 3 resolutions of the multi-scale arm (its canvases are fixed)."""
    from lib.chips.full_image import full_image_canvas
    return sum(full_image_canvas(scale) ** 2 for scale in PYRAMID)


def table(results, pyramid, extra_s):
    """The markdown table of the results (and a note on the negative-mining stage)."""
    head = ("| arm | AP | AP50 | AP75 | APs | APm | APl | AP, own test | input px / image / pass "
            "| vs 3-scale pyramid | passes | px processed | train min |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        m = r["metrics"]
        ratio = r["pixels_per_image_pass"] / pyramid
        own = "%.3f" % r["own_metrics"]["AP"] if "own_metrics" in r else "-"
        lines.append("| %s | %s | %s | %.0fk | %.2f | %.2f | %.0fM | %.1f |" % (
            r["label"], " | ".join("%.3f" % m[k] for k in METRICS), own, r["pixels_per_image_pass"] / 1e3, ratio,
            r["passes"], r["pixels"] / 1e6, r["train_s"] / 60))
    if extra_s is not None:
        lines.append("\nNegative chips need a %.1f-minute first stage (RPN-only training + proposals on the "
                     "training set), outside the budget." % (extra_s / 60))
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default="configs/quickstart/shapes_cpu.yml")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated, from: " + ", ".join(ARMS))
    parser.add_argument("--out", default="output/ablation")
    parser.add_argument("--budget-epochs", type=float, default=None,
                        help="the budget in epochs of the config (default: its TRAIN.end_epoch)")
    parser.add_argument("--rpn-epochs", type=int, default=1, help="RPN-only epochs before negative mining")
    parser.add_argument("--force", action="store_true", help="rerun arms that have a result")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit("error: unknown arm(s) %s (choose from %s)" % (", ".join(unknown), ", ".join(ARMS)))
    out = os.path.abspath(args.out)
    cfg = load_config(args.cfg)
    epochs = args.budget_epochs or cfg.TRAIN.end_epoch
    ref_batches, ref_pixels, _, _ = epoch_plan(args.cfg, [])
    budget = {"pixels": epochs * ref_pixels, "iterations": epochs * ref_batches, "epochs": epochs}
    print("budget: %.0fM input pixels (%g epochs of %s, %d iterations)"
          % (budget["pixels"] / 1e6, epochs, args.cfg, budget["iterations"]), flush=True)
    extra_s, results = None, []
    for name in arms:
        words = list(ARMS[name][1])
        if ARMS[name][2]:
            negatives, extra_s = stage_negatives(args, out)
            words += negatives
        results.append(run_arm(args, name, words, budget, out))
    text = table(results, pyramid_pixels(), extra_s)
    atomic_write_bytes(os.path.join(out, "ablation.md"), (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    main()
