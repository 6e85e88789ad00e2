"""Training log: metrics as JSON lines (`metrics.jsonl`) and a loss-curve PNG redrawn after every epoch."""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lib.utils.atomic import atomic_write  # noqa: E402


class Logbook:
    """Appends one JSON object per logged interval to `<folder>/metrics.jsonl`; draws `<folder>/loss_curve.png`."""

    def __init__(self, folder, truncate=False):
        self.path = os.path.join(folder, "metrics.jsonl")
        self.png = os.path.join(folder, "loss_curve.png")
        os.makedirs(folder, exist_ok=True)
        if truncate and os.path.exists(self.path):
            os.remove(self.path)

    def write(self, row):
        """row: dict with at least 'iteration' and metric values."""
        with open(self.path, "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    def rows(self, keep_after=None):
        """Rows logged so far (a resumed run drops rows past its restart iteration when keep_after is given)."""
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [r for r in rows if keep_after is None or r["iteration"] <= keep_after]

    def rewrite(self, rows):
        """Replace the file by `rows` (used on resume to drop intervals that are trained again)."""
        def write(tmp):
            with open(tmp, "w") as f:
                f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        atomic_write(self.path, write)

    def plot(self, names=("RPNLogLoss", "RPNL1Loss", "RCNNLogLoss", "RCNNL1Loss")):
        """Draw every loss in `names` against the iteration; returns the PNG path (None when nothing logged)."""
        rows = self.rows()
        if not rows:
            return None
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        for name in names:
            points = [(r["iteration"], r[name]) for r in rows if name in r]
            if points:
                ax.plot(*zip(*points), label=name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        atomic_write(self.png, lambda tmp: fig.savefig(tmp, format="png"))
        plt.close(fig)
        return self.png
