"""Download the original's pre-computed RPN proposals for negative chip mining into data/proposals.

    python scripts/download_neg_props.py [--dest DIR] [--force] [--keep-archive] [--url MIRROR]

The original's scripts/download_sniper_neg_props.sh fetched proposals.tar.gz from the URL below and unpacked it
into data/ (its README: "extracts them into the default path (data/proposals)", the default `proposal_path`).
Training reads `<proposal_path>/<dataset name>_rpn.pkl`, e.g. COCO_train2014_rpn.pkl and COCO_val2014_rpn.pkl for
the paper's train2014+val2014: a pickled list over images of (N, 5) x1, y1, x2, y2, score arrays. The file
names inside the archive could not be checked here (no internet).
"""
import glob
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.utils.download import Item, main  # noqa: E402

log = logging.getLogger("download_neg_props")


def drop_foreign_nms_caches(item, dest):
    """Remove `*_rpn_after_nms.pkl` files that came with the archive: the original cached [boxes, maps] there
    (lib/dataset/imdb.py, load_rpn_data), this project caches a list of arrays, rebuilt from the _rpn.pkl."""
    for path in glob.glob(os.path.join(dest, "proposals", "*_rpn_after_nms.pkl")):
        os.remove(path)
        log.info("removed %s (the original's cache format; rebuilt on first use)", path)


ITEMS = {
    "proposals": Item(name="proposals", url="https://bit.ly/3j8SOl7", archive="proposals.tar.gz", dest=".",
                      expect=("proposals/COCO_train2014_rpn.pkl", "proposals/COCO_val2014_rpn.pkl"),
                      after=drop_foreign_nms_caches,
                      note="train with negative chips: `python main_train.py` (proposal_path data/proposals)"),
}

if __name__ == "__main__":
    main(ITEMS, ["proposals"], __doc__, base="data")
