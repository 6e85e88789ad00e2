"""Backbone pre-training for a new run: `network.pretrained` + `network.pretrained_epoch`."""
import logging
import os

from lib.model.checkpoint_names import load_gluon_resnet_v2, load_original_params
from lib.model.efficientnet_weights import load_efficientnet_lite0

log = logging.getLogger(__name__)
HOW_TO_GET = ("download it with `python scripts/download_pretrained_models.py` (the original's files; "
              "`... resnet101_v2` for an ImageNet ResNet-101), or set network.pretrained '' to train from scratch")


def pretrained_path(cfg):
    """`<network.pretrained>-<pretrained_epoch:04d>.params` (the original's Module naming), or a direct path."""
    base = cfg.network.pretrained
    return base if base.endswith(".params") else "%s-%04d.params" % (base, cfg.network.pretrained_epoch)


def load_pretrained(net, cfg):
    """Load the configured backbone weights into `net` (nothing when network.pretrained is empty).

    Files named like the gluon model zoo's (`resnet101_v2-*.params`) go through the zoo name map; others are
    MXNet Module checkpoints in the original's names (ImageNet `resnet_mx_101`, or a released SNIPER model);
    `efficientnet_lite0-*.params` is written by scripts/convert_efficientnet_lite0.py in this project's names.
    """
    if not cfg.network.pretrained:
        log.info("network.pretrained is empty: the backbone starts from random initialisation")
        return None
    path = pretrained_path(cfg)
    if not os.path.exists(path):
        raise FileNotFoundError("pretrained weights %s not found (config key network.pretrained): %s"
                                % (path, HOW_TO_GET))
    if os.path.basename(path).startswith("efficientnet_lite0"):
        load_efficientnet_lite0(net.backbone, path)
    elif os.path.basename(path).startswith(("resnet50_v2", "resnet101_v2")):
        load_gluon_resnet_v2(net, path, cfg.network.PIXEL_MEANS)
    else:
        load_original_params(net, path, backbone_only=True)
    log.info("loaded pretrained weights %s", path)
    return path
