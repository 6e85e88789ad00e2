"""The mask branch's spec (TRAIN.WITH_MASK): built once from the config, read by the loader, the network and the
tester."""
from dataclasses import dataclass

GT_GRID = 56  # cells a side of a gt's mask grid sent by the loader: 2 per target cell for a RoI of the gt's size


@dataclass(frozen=True)
class MaskSpec:
    """loss: TRAIN.MASK_LOSS ('binary' | 'softmax'); masks_per_chip: TRAIN.MASKS_PER_CHIP (mask RoIs per chip,
    B x this per batch); channels: network.MASK_CHANNELS; weight_init: network.MASK_INIT; grid: the loader's gt
    grid side; rpn_on_conv4: network.MASK_RPN_ON_CONV4 (the RPN reads conv4 alone, as the original's mask symbol,
    or the box symbol's conv4 + conv5)."""
    loss: str
    masks_per_chip: int
    channels: int
    weight_init: str = "normal"
    grid: int = GT_GRID
    rpn_on_conv4: bool = True

    @classmethod
    def from_config(cls, cfg):
        """The spec of cfg.TRAIN.WITH_MASK, or None without the mask branch."""
        if not cfg.TRAIN.WITH_MASK:
            return None
        return cls(loss=str(cfg.TRAIN.MASK_LOSS), masks_per_chip=int(cfg.TRAIN.MASKS_PER_CHIP),
                   channels=int(cfg.network.MASK_CHANNELS), weight_init=str(cfg.network.MASK_INIT),
                   rpn_on_conv4=bool(cfg.network.MASK_RPN_ON_CONV4))
