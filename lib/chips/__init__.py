"""The chip engine (numpy only): which chips to train on, and which gts are valid in each."""
from lib.chips.chip import Chip, ImageChips
from lib.chips.generator import generate_chips
from lib.chips.rng import as_rng, draw_stride
from lib.chips.sampler import sample_chips, sample_negatives
from lib.chips.scales import scale_factor, scale_factors

__all__ = ["Chip", "ImageChips", "generate_chips", "sample_chips", "sample_negatives", "draw_stride", "as_rng",
           "scale_factor", "scale_factors"]
