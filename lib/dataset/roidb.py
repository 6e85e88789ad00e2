"""The roidb record: one image and its boxes, the only data type the chip engine and loaders see."""
from dataclasses import dataclass, field, replace
from typing import List, Optional

import numpy as np

from lib.dataset.errors import DatasetError
from lib.dataset.segms import flip_segm
from lib.geometry.boxes import flip_boxes


@dataclass
class ImageRecord:
    """One image of a dataset.

    image: path of the image file.
    width, height: image size in pixels.
    boxes: (N, 4) float32 gt boxes, inclusive x1, y1, x2, y2 in image pixels.
    classes: (N,) int32 contiguous class ids 1..NUM_CLASSES-1 (0 is background).
    image_id: the dataset's own id of the image (COCO image id, VOC file stem).
    flipped: the image is to be mirrored horizontally when read (boxes already are).
    proposals: (M, 4) float32 RPN proposals used to place negative chips, or None.
    proposal_scores: (M,) float32 scores of the proposals, or None.
    segms: one instance segmentation per gt box (polygons or RLE, lib/dataset/segms.py), or None for a
        dataset of boxes only.
    """
    image: str
    width: int
    height: int
    boxes: np.ndarray
    classes: np.ndarray
    image_id: object = None
    flipped: bool = False
    proposals: Optional[np.ndarray] = None
    proposal_scores: Optional[np.ndarray] = None
    segms: Optional[list] = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.classes = np.asarray(self.classes, dtype=np.int32).reshape(-1)
        if len(self.boxes) != len(self.classes):
            raise ValueError("image %s: %d boxes but %d classes" % (self.image, len(self.boxes), len(self.classes)))
        if self.segms is not None and len(self.segms) != len(self.boxes):
            raise ValueError("image %s: %d boxes but %d segmentations" % (self.image, len(self.boxes), len(self.segms)))


def flip_record(record):
    """The horizontally mirrored copy of a record (boxes, proposals and segms mirrored, `flipped` toggled)."""
    proposals = None if record.proposals is None else flip_boxes(record.proposals, record.width)
    segms = None if record.segms is None else [flip_segm(s, record.width) for s in record.segms]
    return replace(record, boxes=flip_boxes(record.boxes, record.width), proposals=proposals, segms=segms,
                   flipped=not record.flipped)


def append_flipped(records):
    """records + their mirrored copies (the reference's TRAIN.FLIP doubling), same order twice."""
    return list(records) + [flip_record(r) for r in records]


def filter_empty(records):
    """Drop records without gt boxes (the reference's `filter_roidb`). Returns (kept, n_dropped)."""
    kept = [r for r in records if len(r.boxes)]
    return kept, len(records) - len(kept)


def no_gt_boxes_error(datasets):
    """The DatasetError of a training set in which no image has a gt box left: per dataset, its annotation
    file, image and box counts and what loading dropped, and why."""
    parts = ["%s (%s): %d images, %d boxes kept%s"
             % (d.name, d.annotation_file or "no annotation file", len(d.records), sum(len(r.boxes) for r in d.records),
                "; " + d.load_summary if d.load_summary else "") for d in datasets]
    return DatasetError("no training image has a gt box, so there is nothing to train on: %s" % "; ".join(parts))


def no_masks_error(dataset):
    """The one-line DatasetError of a mask configuration on a dataset whose records carry boxes only."""
    return DatasetError("dataset %s (%s) has no instance masks (boxes only), so it cannot train or test a mask "
                        "head; use a COCO-format json with `segmentation` (e.g. dataset.dataset shapes)"
                        % (dataset.name, dataset.annotation_file or "no annotation file"))


@dataclass
class Dataset:
    """A loaded image set.

    name: e.g. "shapes_train" (used in proposal file names).
    records: list of ImageRecord, in the dataset's order.
    class_names: names indexed by contiguous class id; class_names[0] == "__background__".
    category_ids: dataset category id per contiguous id (category_ids[0] is None), for result files.
    annotation_file: a COCO-format json with the gts (for COCOeval), or None when there are no annotations.
    load_summary: what loading dropped or repaired, with counts ("dropped 3 crowd boxes, ..."), or "".
    """
    name: str
    records: List[ImageRecord]
    class_names: List[str]
    category_ids: List[object] = field(default_factory=list)
    annotation_file: Optional[str] = None
    load_summary: str = ""

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def has_masks(self):
        """True when every record carries one segm per gt box."""
        return all(r.segms is not None for r in self.records)
