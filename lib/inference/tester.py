"""The multi-scale batched tester (reference §7.2-7.4): network forward per scale, decode, merge scales.

One scale: the images are batched by `pyramid.plan_batches` (B per device per scale, several devices split a
batch), the next batch is read and resized in a background thread while the network runs on the current one,
and every image's outputs are decoded into per-class detections in original coordinates. All scales: the
per-scale detections are merged with the valid ranges, soft-NMS and the per-image cap (`merge.merge_scales`).
"""
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import mxnet as mx
import numpy as np
from tqdm import tqdm

from lib.inference.detections import decode_image, empty_image
from lib.inference.merge import merge_scales
from lib.specs import NMSSpec
from lib.inference.pyramid import batch_images_for_scale, plan_batches, prepare_batch

log = logging.getLogger(__name__)


class Tester:
    """Runs a test network (`net(data, im_info) -> rois, roi_scores, cls_prob, deltas`) over records."""

    def __init__(self, cfg, net, contexts, num_classes):
        self.cfg = cfg
        self.net = net
        self.contexts = list(contexts)
        self.num_classes = num_classes
        self.forward_seconds = 0.0
        self.total_seconds = 0.0

    def forward(self, data, im_info):
        """(B, 3, H, W), (B, 3) numpy -> list over images of the network's per-image outputs (numpy tuples).

        A detection network gives (rois, roi_scores, cls_prob, deltas), an RPN-only one (rois, roi_scores).
        The batch is split over the devices."""
        parts = np.array_split(np.arange(len(data)), min(len(self.contexts), len(data)))
        start = time.time()
        launched = [self.net(mx.nd.array(data[idx], ctx=ctx), mx.nd.array(im_info[idx], ctx=ctx))
                    for ctx, idx in zip(self.contexts, parts)]  # asynchronous: the devices run together
        outputs = [[o.asnumpy() for o in out] for out in launched]
        self.forward_seconds += time.time() - start
        return [image for out in outputs for image in zip(*out)]

    def run_scale(self, records, scale_index, handle, progress=True):
        """Feed every record through the network at one scale; handle(index, im_info row, outputs) per image."""
        cfg = self.cfg
        scale = cfg.TEST.SCALES[scale_index]
        per_device = batch_images_for_scale(cfg.TEST.BATCH_IMAGES, scale_index)
        batches = plan_batches(records, scale, per_device * len(self.contexts),
                               is_last=scale_index == len(cfg.TEST.SCALES) - 1)
        start = time.time()
        bar = tqdm(total=len(records), desc="scale %s" % (scale,), unit="img", disable=not progress)
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(prepare_batch, records, batches[0], cfg.network.PIXEL_MEANS) if batches else None
            for k in range(len(batches)):
                data, im_info, indices = pending.result()
                if k + 1 < len(batches):
                    pending = reader.submit(prepare_batch, records, batches[k + 1], cfg.network.PIXEL_MEANS)
                for i, info, outputs in zip(indices, im_info, self.forward(data, im_info)):
                    handle(i, info, outputs)
                bar.update(len(indices))
                bar.set_postfix(img_s="%.2f" % (bar.n / max(time.time() - start, 1e-9)))
        bar.close()
        self.total_seconds += time.time() - start

    def detect_scale(self, records, scale_index, progress=True):
        """Raw detections of one scale: dets[image][cls] (n, 5), images in `records` order."""
        dets = [None] * len(records)

        def handle(i, info, outputs):
            rois, _scores, cls_prob, deltas = outputs
            dets[i] = decode_image(rois, cls_prob, deltas, info, self.cfg.TEST.SCORE_THRESH)

        self.run_scale(records, scale_index, handle, progress)
        return [d if d is not None else empty_image(self.num_classes) for d in dets]

    def detect_all_scales(self, records, progress=True):
        """Raw detections of every TEST.SCALES entry: per_scale[scale][image][cls]."""
        return [self.detect_scale(records, k, progress) for k in range(len(self.cfg.TEST.SCALES))]

    def overhead_fraction(self):
        """Share of the tester's wall time spent outside the network forward (reading, resizing, decoding)."""
        return 1.0 - self.forward_seconds / self.total_seconds if self.total_seconds else 0.0


def merge_config(cfg, per_scale):
    """Merge per-scale detections with the config's valid ranges, NMS settings and per-image cap."""
    valid_ranges = [tuple(v) for v in cfg.TEST.VALID_RANGES[:len(per_scale)]]
    return merge_scales(per_scale, valid_ranges, NMSSpec.from_config(cfg))
