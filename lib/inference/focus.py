"""AutoFocus (Najibi, Singh, Davis, ICCV 2019) and tiled inference: which parts of each image run at each scale.

With TEST.AUTO_FOCUS the scales run coarse to fine (ordered by their mean factor over the images; the original
ran them in config order, and its AutoFocus config lists them coarse first). A scale with TEST.DO_PRUNING that
is not the coarsest runs only on the FocusChips of the scale before it: every piece of that scale thresholds,
dilates and groups its focus map into chips with that scale's TEST.CHIP_HYPERPARAMS (lib/chips/focus_chips.py,
the original's lib/chips/chips_inference.py); chips from different pieces are not merged, as in the original.
An image without a chip skips the scale.

With TEST.TILE_SIZE > 0 every unit (whole image or chip) runs as overlapping tiles of its resized pixels
(lib/chips/tiles.py); a tile's detection is kept once, by the first tile that holds it away from its inner edges.

Detections of a chip are moved to image pixels and dropped when a side lies within TEST.CHIP_EDGE_MARGIN
original px of one of the chip's inner sides (the original's `check_valid`, lib/inference.py:235-258); the rest
go to the valid ranges and NMS merge of every scale, as whole-image detections do.
"""
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from lib.chips.focus_chips import focus_chips
from lib.chips.scales import scale_factor
from lib.chips.tiles import drop_near_inner_edges, keep_once
from lib.config_error import ConfigError
from lib.inference.chip_batches import (PieceReader, focus_cells, pixel_unit, plan_piece_batches, prepare_pieces,
                                        unit_pieces)

log = logging.getLogger(__name__)


def run_order(items, pyramid):
    """Scale indices from coarse to fine (by the mean factor over `items`; ties keep the config order)."""
    means = [np.mean([scale_factor(it.width, it.height, scale, pyramid.is_last(k)) for it in items])
             for k, scale in enumerate(pyramid.scales)]
    return [int(k) for k in np.argsort(means, kind="stable")]


def pruned_scales(order, spec):
    """{scale index: index of the coarser scale whose focus maps choose its chips} under AutoFocus."""
    if not spec.auto_focus:
        return {}
    pruned = {}
    for position, k in enumerate(order[1:], 1):
        if spec.do_pruning[k]:
            source = order[position - 1]
            dilation, threshold, min_size = spec.hyperparams[source]
            if dilation < 1 or threshold < 0 or min_size < 1:
                raise ConfigError("config key TEST.CHIP_HYPERPARAMS: entry %d %s makes the chips of scale %d "
                                  "(TEST.DO_PRUNING) and needs dilation >= 1, threshold >= 0, min size >= 1"
                                  % (source, spec.hyperparams[source], k))
            pruned[k] = source
    return pruned


def place_detections(dets, piece, *, image_size, margin):
    """One piece's decoded per-class dets (unit px / s, i.e. original px relative to its window) -> image px,
    with the tile rule (keep_once, in resized px) and the chip's inner-edge rule applied."""
    out = []
    ux1, uy1 = piece.unit[0], piece.unit[1]
    for d in dets:
        d = d.copy()
        if piece.windows is not None:
            wx1, wy1 = piece.windows[piece.tile][:2]
            d[:, :4] = d[:, :4] * piece.scale + np.array([wx1, wy1, wx1, wy1], dtype=np.float32)
            d = keep_once(d, piece.tile, piece.windows, image_size=piece.resized_unit, margin=margin)
            d[:, :4] = d[:, :4] / np.float32(piece.scale)
        d[:, :4] += np.array([ux1, uy1, ux1, uy1], dtype=np.float32)
        out.append(drop_near_inner_edges(d, piece.unit, image_size=image_size, margin=margin))
    return out


def piece_chips(prob, info, piece, spec, hyperparams):
    """The FocusChips (K, 4) original px that one piece's focus map proposes for the next finer scale."""
    dilation, threshold, min_size = hyperparams
    origin, size = np.array(piece.unit[:2], dtype=np.float64), np.array(piece.size, dtype=np.float64) / piece.scale
    if piece.windows is not None:
        origin = origin + np.asarray(piece.windows[piece.tile][:2], dtype=np.float64) / piece.scale
    return focus_chips(focus_cells(prob, info, spec.stride), threshold=threshold, dilation=int(dilation),
                       min_size=int(min_size), stride=spec.stride, image_scale=piece.scale,
                       image_size=tuple(size), origin=tuple(origin))


class ChipRunner:
    """Runs a Pipeline's network over units of images (whole images, focus chips, tiles) for every scale."""

    def __init__(self, pipeline, spec):
        self.pipeline, self.spec = pipeline, spec  # spec: lib.specs.inference.ChipTestSpec
        self.chips_per_scale = {}  # scale index -> units run (whole images or chips)
        self.trace = None  # a list to collect, per piece that makes chips: scale, piece, focus map, chips

    def pieces(self, items, units, scale_index):
        pyramid, spec = self.pipeline.pyramid, self.spec
        pieces = []
        for i, item_units in enumerate(units):
            if not len(item_units):
                continue
            s = scale_factor(items[i].width, items[i].height, pyramid.scales[scale_index], pyramid.is_last(scale_index))
            for unit in item_units:
                unit = pixel_unit(unit, items[i].width, items[i].height)
                pieces += unit_pieces(i, unit, s, tile_size=spec.tile_size, tile_overlap=spec.tile_overlap)
        return pieces

    def batches(self, items, pieces, scale_index, read):
        """(pieces of the batch, data, im_info) per batch, prepared one ahead in a background thread."""
        size = self.pipeline.pyramid.batch_images[scale_index] * len(self.pipeline.contexts)
        plan = plan_piece_batches(pieces, size, sort=self.spec.tile_size <= 0)
        reader, means = PieceReader(items, read), self.pipeline.pyramid.pixel_means

        def prepare(k):
            chosen = [pieces[i] for i in plan[k]]
            return (chosen,) + prepare_pieces(reader, chosen, means)

        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = worker.submit(prepare, 0) if plan else None
            for k in range(len(plan)):
                prepared = pending.result()
                if k + 1 < len(plan):
                    pending = worker.submit(prepare, k + 1)
                yield prepared

    def run_scale(self, items, units, scale_index, read, *, hyperparams=None, progress=True):
        """Detections dets[image][cls] of one scale over `units` (per image, (K, 4) original px), and with
        `hyperparams` the focus chips per image for the next scale."""
        pipeline, spec = self.pipeline, self.spec
        pieces = self.pieces(items, units, scale_index)
        self.chips_per_scale[scale_index] = sum(len(u) for u in units)
        found = [[[] for _ in range(pipeline.num_classes)] for _ in items]
        chips = [[] for _ in items]
        bar = tqdm(total=len(pieces), desc="scale %s" % (pipeline.pyramid.scales[scale_index],), unit="piece",
                   disable=not progress)
        for batch, data, im_info in self.batches(items, pieces, scale_index, read):
            for piece, info, outputs in zip(batch, im_info, pipeline.forward(data, im_info)):
                size = (items[piece.item].width, items[piece.item].height)
                dets = place_detections(pipeline.decode(outputs[:4], info), piece, image_size=size,
                                        margin=spec.edge_margin)
                for c, d in enumerate(dets):
                    found[piece.item][c].append(d)
                if hyperparams is not None:
                    chips[piece.item].append(piece_chips(outputs[4], info, piece, spec, hyperparams))
                    if self.trace is not None:
                        self.trace.append({"scale_index": scale_index, "piece": piece, "chips": chips[piece.item][-1],
                                           "map": focus_cells(outputs[4], info, spec.stride)})
            bar.update(len(batch))
        bar.close()
        log.info("scale %s: %d units (images or chips) in %d pieces, %.2f Mpx of network input so far",
                 pipeline.pyramid.scales[scale_index], self.chips_per_scale[scale_index], len(pieces),
                 pipeline.pixels / 1e6)
        dets = [[np.concatenate(c, axis=0).astype(np.float32) if c else np.zeros((0, 5), np.float32)
                 for c in image] for image in found]
        chips = [np.concatenate(c, axis=0) if c else np.zeros((0, 4)) for c in chips]
        return dets, chips

    def detect_all_scales(self, items, read, progress=True):
        """Raw detections of every scale, per_scale[scale][image][cls], scales in config order."""
        start = time.time()
        pyramid = self.pipeline.pyramid
        order = run_order(items, pyramid)
        pruned = pruned_scales(order, self.spec)
        whole = [np.array([[0.0, 0.0, it.width, it.height]]) for it in items]
        per_scale, chips = [None] * len(order), None
        for position, k in enumerate(order):
            following = order[position + 1] if position + 1 < len(order) else None
            hyper = self.spec.hyperparams[k] if following in pruned else None
            units = chips if k in pruned else whole
            per_scale[k], chips = self.run_scale(items, units, k, read, hyperparams=hyper, progress=progress)
        self.pipeline.total_seconds += time.time() - start
        return per_scale
