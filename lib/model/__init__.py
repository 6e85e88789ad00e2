"""The SNIPER detector in Gluon: backbones, RPN, proposals, proposal targets, RCNN head, losses, checkpoints."""
