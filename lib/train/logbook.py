"""Training log: metrics as JSON lines (`metrics.jsonl`) and a loss-curve PNG redrawn after every epoch.

A line that does not parse (the half-written last line of a killed run) is dropped with a warning naming the
file and line; a resumed run rewrites the file without it.
"""
import json
import logging
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lib.train.output_errors import writing  # noqa: E402
from lib.utils.atomic import atomic_write  # noqa: E402

log = logging.getLogger(__name__)


class Logbook:
    """Appends one JSON object per logged interval to `<folder>/metrics.jsonl`; draws `<folder>/loss_curve.png`."""

    def __init__(self, folder, truncate=False):
        self.path = os.path.join(folder, "metrics.jsonl")
        self.png = os.path.join(folder, "loss_curve.png")
        with writing("the metrics log", self.path):
            os.makedirs(folder, exist_ok=True)
            if truncate and os.path.exists(self.path):
                os.remove(self.path)

    def write(self, row):
        """row: dict with at least 'iteration' and metric values."""
        with writing("the metrics log", self.path), open(self.path, "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    def rows(self, keep_after=None):
        """Rows logged so far (a resumed run drops rows past its restart iteration when keep_after is given)."""
        if not os.path.exists(self.path):
            return []
        rows = []
        with open(self.path, errors="replace") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    row = _parse_row(line)
                    if row is None:
                        log.warning("%s line %d is not a complete metrics row (a killed run?): dropped",
                                    self.path, number)
                    else:
                        rows.append(row)
        return [r for r in rows if keep_after is None or r["iteration"] <= keep_after]

    def rewrite(self, rows):
        """Replace the file by `rows` (used on resume to drop intervals that are trained again)."""
        def write(tmp):
            with open(tmp, "w") as f:
                f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        with writing("the metrics log", self.path):
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
        try:
            with writing("the loss curve", self.png):
                atomic_write(self.png, lambda tmp: fig.savefig(tmp, format="png"))
        finally:
            plt.close(fig)
        return self.png


def _parse_row(line):
    """The dict of one metrics line, or None when it is not a complete row with an iteration."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get("iteration"), int) else None
