"""scripts/mask_class_cells.py's cell shares on a hand-made pair of class maps."""
import os
import sys

import numpy as np
import pytest

from train_helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import mask_class_cells  # noqa: E402


def test_cell_shares_by_hand():
    # 2 classes on 2 x 2 cells: class 1 holds 0.6 in one cell, class 2 holds 0.7 and 0.4 in two others,
    # the fourth cell is background (sums 0.2)
    maps = np.array([[[0.6, 0.1], [0.2, 0.1]],
                     [[0.1, 0.7], [0.4, 0.1]]], np.float32)
    own, foreground, winners = mask_class_cells.cell_shares(maps, own=1)
    assert own == pytest.approx(0.25)          # only the 0.6 cell
    assert foreground == pytest.approx(0.75)   # sums 0.7, 0.8, 0.6 pass 0.5; 0.2 does not
    assert winners == pytest.approx([1 / 3, 2 / 3])  # class 1 wins the first cell, class 2 the other two
