"""The paper's mask rows in miniature (its Table 3: box AP 46.8 -> 47.1 with binary masks -> 47.6 with softmax
masks; mask AP 41.3 binary, 38.9 softmax): box only vs box + per-class binary masks vs box + (N+1)-way softmax
masks, on the shapes data, each arm trained from scratch for the same iterations on the same chips.

    python scripts/mask_ablation.py [--cfg configs/quickstart/shapes_mask_cpu.yml] [--arms box,binary,softmax]
                                    [--iterations N] [--out output/mask_ablation] [--force]

--iterations 0 (default) trains the config's whole schedule; N > 0 cuts every arm to N iterations with the
schedule's shape scaled to it (lr step and warmup at the same fractions). Equal compute here is equal chips and
iterations (the mask arms also pay for their head; their training seconds are in the table). The box arm is the
config with TRAIN.WITH_MASK False, so its RPN reads conv4 + conv5 (the box symbol) while the mask arms' RPN reads
conv4 (the mask symbol), as the paper's rows; arm binary_rpn45 (not run by default) is the binary arm with the
box symbol's RPN (network.MASK_RPN_ON_CONV4 False), which separates the two. Each arm's result is kept in <out>/<arm>/result.json and reused
unless --force; the table goes to stdout and <out>/mask_ablation.md.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import init_paths  # noqa: E402,F401  (logging set up)
from ablation import epoch_plan, run, schedule_words  # noqa: E402
from lib.config import load_config  # noqa: E402
from lib.utils.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402

ARMS = {
    "box": ("box only", ["TRAIN.WITH_MASK", "False"]),
    "binary": ("box + binary masks (per-class 2-way, the original)", ["TRAIN.MASK_LOSS", "binary"]),
    "softmax": ("box + softmax masks ((N+1)-way)", ["TRAIN.MASK_LOSS", "softmax"]),
    "binary_rpn45": ("box + binary masks, RPN on conv4 + conv5 as the box symbol",
                     ["TRAIN.MASK_LOSS", "binary", "network.MASK_RPN_ON_CONV4", "False"]),
}
PAPER = {"box": (46.8, None), "binary": (47.1, 41.3), "softmax": (47.6, 38.9), "binary_rpn45": (None, None)}  # Table 3, COCO test-dev


def run_arm(args, name, out):
    """Train and test one arm; its result dict (saved as <out>/<name>/result.json)."""
    from lib.train.checkpoint import latest_checkpoint, output_dir
    folder = os.path.join(out, name)
    path = os.path.join(folder, "result.json")
    if os.path.exists(path) and not args.force:
        with open(path) as f:
            return json.load(f)
    os.makedirs(folder, exist_ok=True)
    words = ["output_path", folder] + ARMS[name][1]
    cfg = load_config(args.cfg, words)
    if args.iterations:
        plan = epoch_plan(args.cfg, words)
        words += schedule_words(cfg, plan, args.iterations, plan[0] * cfg.TRAIN.end_epoch)[0]
    train_s = run(["main_train.py", "--cfg", args.cfg, "--overwrite", "--set"] + words,
                  os.path.join(folder, "train.log"))
    progress, _ = latest_checkpoint(output_dir(cfg))
    test_s = run(["main_test.py", "--cfg", args.cfg, "--epoch", str(progress["epoch"]), "--set"] + words,
                 os.path.join(folder, "test.log"))
    metrics = os.path.join(output_dir(cfg), "results", "detections_%s_metrics.json" % cfg.dataset.test_image_set)
    with open(metrics) as f:
        evaluation = json.load(f)
    result = {"arm": name, "label": ARMS[name][0], "iterations": progress["num_update"], "train_s": train_s,
              "test_s": test_s, "bbox": evaluation["metrics"],
              "segm": evaluation["segm"]["metrics"] if "segm" in evaluation else None}
    atomic_write_json(path, result, indent=1)
    return result


def table(results):
    """Markdown table: per arm box AP / AP50, mask AP / AP50, iterations, training seconds, the paper's row."""
    lines = ["| arm | box AP | box AP50 | mask AP | mask AP50 | iterations | train s | paper box / mask AP |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        segm = r["segm"] or {}
        box, mask = PAPER[r["arm"]]
        lines.append("| %s | %.3f | %.3f | %s | %s | %d | %.0f | %s / %s |" % (
            r["label"], r["bbox"]["AP"], r["bbox"]["AP50"], "%.3f" % segm["AP"] if segm else "-",
            "%.3f" % segm["AP50"] if segm else "-", r["iterations"], r["train_s"],
            "%.1f" % box if box else "-", "%.1f" % mask if mask else "-"))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default="configs/quickstart/shapes_mask_cpu.yml")
    parser.add_argument("--arms", default="box,binary,softmax", help="comma-separated, from: " + ", ".join(ARMS))
    parser.add_argument("--iterations", type=int, default=0, help="iterations per arm (0: the config's schedule)")
    parser.add_argument("--out", default=os.path.join(ROOT, "output", "mask_ablation"))
    parser.add_argument("--force", action="store_true", help="re-run arms that have a result")
    args = parser.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit("error: unknown arm(s) %s (choose from %s)" % (", ".join(unknown), ", ".join(ARMS)))
    results = [run_arm(args, name, args.out) for name in arms]
    text = table(results)
    print(text)
    atomic_write_bytes(os.path.join(args.out, "mask_ablation.md"), (text + "\n").encode())


if __name__ == "__main__":
    main()
