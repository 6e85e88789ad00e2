"""Proposal extraction for negative chip mining: the RPN's top proposals at every test scale (the original's
`TEST.EXTRACT_PROPOSALS` path of its tester).

Per image and scale the first TEST.N_PROPOSAL_PER_SCALE proposals (after the RPN's NMS, padding included) are
mapped back to original coordinates with their scores; the scales are stacked (3 x 300 = 900 rows). There is
no valid-range filtering here: the chip engine applies the training valid ranges when it places negatives.
"""
import numpy as np


def extract_proposals(pipeline, records, keep, progress=True):
    """A list over `records` of (N, 5) float32 rows (x1, y1, x2, y2, score) in original image pixels.

    pipeline: a Pipeline over the RPN-only network; keep: TEST.N_PROPOSAL_PER_SCALE.
    """
    per_image = [[] for _ in records]

    def handle(i, info, outputs):
        rois, scores = outputs[0][:keep], outputs[1][:keep]
        rows = np.concatenate([rois / np.float32(info[2]), scores.reshape(-1, 1)], axis=1)
        per_image[i].append(rows.astype(np.float32))

    for k in range(len(pipeline.pyramid.scales)):
        pipeline.run_scale(records, k, handle, progress)
    return [np.concatenate(rows, axis=0) if rows else np.zeros((0, 5), np.float32) for rows in per_image]
