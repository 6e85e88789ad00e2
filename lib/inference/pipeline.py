"""The one inference path: images -> final detections. main_test.py (through jobs.py), demo.py and the Python
Detector all run a `Pipeline`.

Stages, in order, one method each:
    scale_batches  one scale's network inputs: whole images resized by their factor and batched
                   (pyramid.plan_batches / prepare_batch; B per device, several devices split a batch). With
                   AutoFocus chips or tiles (ChipTestSpec.active) lib/inference/focus.py runs the scales instead,
                   on parts of the images, through the same forward, decode and merge.
    forward        one batch through the network over the devices.
    decode         one image's outputs -> per-class detections in original pixels (detections.decode_image).
    merge          every scale -> final detections: valid ranges, soft-NMS per class, the per-image cap
                   (merge.merge_scales).
    masks          with the mask branch: each final box's mask at one scale, pasted into the image (masks.py).
The next batch is read and resized in a background thread while the network runs on the current one.
"""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mxnet as mx
import numpy as np
from tqdm import tqdm

from lib.inference.detections import decode_image, empty_image
from lib.inference.masks import MaskStage
from lib.inference.merge import merge_scales
from lib.model.mask_head import MaskPredictor
from lib.inference.pyramid import plan_batches, prepare_batch, read_uncached
from lib.inference.focus import ChipRunner
from lib.specs.inference import ChipTestSpec, NMSSpec, TestPyramidSpec
from lib.specs.masks import MaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedImage:
    """An image already in memory (the Detector's input), usable where the pipeline takes records.

    pixels: HxWx3 uint8 BGR.
    """
    pixels: np.ndarray

    @property
    def width(self):
        return self.pixels.shape[1]

    @property
    def height(self):
        return self.pixels.shape[0]


def read_item(item):
    """HxWx3 uint8 BGR pixels of a LoadedImage or an ImageRecord (its file, mirrored when flipped)."""
    return item.pixels if isinstance(item, LoadedImage) else read_uncached(item)


def merge_detections(per_scale, *, pyramid, nms):
    """The merge stage: per_scale[scale][image][cls] -> final dets[image][cls] with the pyramid's valid ranges,
    NMS per (image, class) and the per-image cap of `nms` (an NMSSpec)."""
    return merge_scales(per_scale, list(pyramid.valid_ranges), nms)


class Pipeline:
    """Runs a test network (`net(data, im_info) -> rois, roi_scores, cls_prob, deltas`, or the RPN-only
    network's rois, roi_scores) over images (ImageRecords or LoadedImages)."""

    def __init__(self, net, contexts, *, pyramid, nms, num_classes, chips=None, masks=None):
        self.net, self.contexts, self.num_classes = net, list(contexts), num_classes
        self.pyramid, self.nms, self.mask_spec = pyramid, nms, masks  # TestPyramidSpec, NMSSpec, MaskSpec or None
        self.chips = chips if chips is not None and chips.active else None  # ChipTestSpec
        self.forward_seconds = self.total_seconds = 0.0  # time in the network forward, in the whole pipeline
        self.pixels = 0  # network-input pixels (B x H x W of every batch, padding included)

    @classmethod
    def from_config(cls, cfg, net, contexts, num_classes):
        """The pipeline of cfg.TEST (TestPyramidSpec, NMSSpec, ChipTestSpec) and the mask branch of
        TRAIN.WITH_MASK."""
        return cls(net, contexts, pyramid=TestPyramidSpec.from_config(cfg), nms=NMSSpec.from_config(cfg),
                   num_classes=num_classes, chips=ChipTestSpec.from_config(cfg), masks=MaskSpec.from_config(cfg))

    def scale_batches(self, items, scale_index):
        """The batches of one scale: an iterator of (data (B, 3, H, W), im_info (B, 3), indices (B,)) numpy;
        the next batch is prepared in a background thread while the caller runs the current one."""
        spec = self.pyramid
        batches = plan_batches(items, spec.scales[scale_index],
                               spec.batch_images[scale_index] * len(self.contexts),
                               is_last=spec.is_last(scale_index))
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(prepare_batch, items, batches[0], spec.pixel_means, read_item) if batches else None
            for k in range(len(batches)):
                prepared = pending.result()
                if k + 1 < len(batches):
                    pending = reader.submit(prepare_batch, items, batches[k + 1], spec.pixel_means, read_item)
                yield prepared

    def forward(self, data, im_info):
        """(B, 3, H, W), (B, 3) numpy -> list over images of the network's per-image outputs (numpy tuples).

        The batch is split over the devices."""
        parts = np.array_split(np.arange(len(data)), min(len(self.contexts), len(data)))
        self.pixels += int(data.shape[0] * data.shape[2] * data.shape[3])
        start = time.time()
        launched = [self.net(mx.nd.array(data[idx], ctx=ctx), mx.nd.array(im_info[idx], ctx=ctx))
                    for ctx, idx in zip(self.contexts, parts)]  # asynchronous: the devices run together
        outputs = [[o.asnumpy() for o in out] for out in launched]
        self.forward_seconds += time.time() - start
        return [image for out in outputs for image in zip(*out)]

    def run_scale(self, items, scale_index, handle, progress=True):
        """Feed every item through the network at one scale; handle(index, im_info row, outputs) per image."""
        start = time.time()
        bar = tqdm(total=len(items), desc="scale %s" % (self.pyramid.scales[scale_index],), unit="img",
                   disable=not progress)
        for data, im_info, indices in self.scale_batches(items, scale_index):
            for i, info, outputs in zip(indices, im_info, self.forward(data, im_info)):
                handle(i, info, outputs)
            bar.update(len(indices))
            bar.set_postfix(img_s="%.2f" % (bar.n / max(time.time() - start, 1e-9)))
        bar.close()
        self.total_seconds += time.time() - start

    def decode(self, outputs, info):
        """One image's detection outputs and im_info row -> its per-class (n, 5) detections, original pixels."""
        rois, _scores, cls_prob, deltas = outputs[:4]  # a fifth output is the AutoFocus map
        return decode_image(rois, cls_prob, deltas, info, self.nms.score_thresh)

    def detect_scale(self, items, scale_index, progress=True):
        """Raw detections of one scale: dets[image][cls] (n, 5), images in `items` order."""
        dets = [None] * len(items)

        def handle(i, info, outputs):
            dets[i] = self.decode(outputs, info)

        self.run_scale(items, scale_index, handle, progress)
        return [d if d is not None else empty_image(self.num_classes) for d in dets]

    def detect_all_scales(self, items, progress=True):
        """Raw detections of every scale: per_scale[scale][image][cls]."""
        if self.chips is not None:
            return ChipRunner(self, self.chips).detect_all_scales(items, read_item, progress)
        return [self.detect_scale(items, k, progress) for k in range(len(self.pyramid.scales))]

    def merge(self, per_scale):
        """per_scale[scale][image][cls] -> final dets[image][cls]: valid ranges, NMS, per-image cap."""
        return merge_scales(per_scale, list(self.pyramid.valid_ranges), self.nms)

    def detect(self, items, progress=True):
        """Final detections dets[image][cls] (n, 5) of `items`, in their order."""
        return self.merge(self.detect_all_scales(items, progress))

    def masks(self, items, detections, progress=True):
        """masks[image][cls] (lists of RLE dicts) of the final detections dets[image][cls] of `items`, or None
        without the mask branch. Runs on the first device."""
        if self.mask_spec is None:
            return None
        stage = MaskStage(self.mask_predictor(), self.contexts[0], pyramid=self.pyramid, read=read_item,
                          max_boxes=self.nms.max_per_image)
        return stage.run(items, detections, progress)

    def mask_predictor(self):
        """The hybridized MaskPredictor sharing the network's weights (made once), or None without masks."""
        if self.mask_spec is not None and getattr(self, "_mask_predictor", None) is None:
            self._mask_predictor = MaskPredictor(self.net, loss=self.mask_spec.loss, num_classes=self.num_classes)
            self._mask_predictor.hybridize()
        return getattr(self, "_mask_predictor", None)

    def overhead_fraction(self):
        """Share of the wall time spent outside the network forward (reading, resizing, decoding)."""
        return 1.0 - self.forward_seconds / self.total_seconds if self.total_seconds else 0.0
