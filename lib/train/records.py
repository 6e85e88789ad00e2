"""The training roidb (the original's main_train.py and lib/data_utils/load_data.py): image sets, proposals for
negative mining, flipped copies, filtering."""
import logging

from lib.dataset import check_same_classes, load_dataset
from lib.dataset.proposals import load_proposals, proposal_file
from lib.dataset.roidb import append_flipped, filter_empty, no_gt_boxes_error

log = logging.getLogger(__name__)


def training_records(cfg):
    """Records of every set in cfg.dataset.image_set ('+'-joined), ready for chip mining.

    With TRAIN.USE_NEG_CHIPS each set's proposals (`<proposal_path>/<dataset name>_rpn.pkl`) are attached;
    a missing file stops with one line saying how to make it. With TRAIN.FLIP the mirrored copies follow.
    Images without gt boxes are dropped (the reference's filter_roidb); when none is left a DatasetError
    says, per dataset, what loading dropped and why.
    Returns (records, class_names, category_ids): the dataset's class names and category ids by contiguous
    class id (entry 0 is the background: '__background__', None).
    """
    records, class_names, category_ids, datasets = [], None, None, []
    for image_set in cfg.dataset.image_set.split("+"):
        dataset = load_dataset(cfg, image_set, with_masks=cfg.TRAIN.WITH_MASK)
        datasets.append(dataset)
        class_names = class_names or dataset.class_names
        category_ids = category_ids or dataset.category_ids
        if cfg.TRAIN.USE_NEG_CHIPS:
            load_proposals(proposal_file(cfg.proposal_path, dataset.name), dataset.records)
        records.extend(dataset.records)
    check_same_classes(datasets)
    if len(class_names) != cfg.dataset.NUM_CLASSES:
        raise ValueError("config key dataset.NUM_CLASSES is %d but the dataset has %d classes (with background)"
                         % (cfg.dataset.NUM_CLASSES, len(class_names)))
    records, dropped = filter_empty(records)
    if not records:
        raise no_gt_boxes_error(datasets)
    if dropped:
        log.info("dropped %d training images without gt boxes", dropped)
    if cfg.TRAIN.FLIP:
        records = append_flipped(records)
    log.info("%d training records (%s)", len(records), "with flipped copies" if cfg.TRAIN.FLIP else "no flip")
    return records, class_names, category_ids

