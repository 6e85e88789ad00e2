"""The training proposal NMS of the fork's GPU op (`MultiProposalTarget`), in numpy behind an MXNet custom op.

The op's IoU mixes conventions: the intersection counts inclusive pixels (+1) but the areas do not,
IoU = inter(+1) / (area_a + area_b - inter(+1)) (src/operator/multi_proposal_target.cu, NonMaximumSuppression:
`w = xx2 - xx1 + 1`, `iarea` from getProps' `(x2 - x1) * (y2 - y1)`). MXNet's `box_nms` cannot express it.
Greedy by descending score, a box suppresses later boxes with IoU > threshold, and the op stops at the
post_top_n-th kept box; boxes with a negative score (too small or outside the valid range) are never kept.
"""
import mxnet as mx
import numpy as np

from lib.geometry.boxes import areas_no_plus_one, iou_fork_gpu

OP_TYPE = "sniper_fork_nms"


def _greedy(b, threshold, post_top_n):
    """Greedy NMS over boxes b (M, 4) already in score order -> kept positions (at most post_top_n).

    Each kept box drops the later boxes it suppresses from the candidate list (compacted every step).
    """
    area = areas_no_plus_one(b)
    alive, keep = np.arange(len(b)), []
    while len(alive) and len(keep) < post_top_n:
        i, rest = alive[0], alive[1:]
        keep.append(i)
        alive = rest[~(iou_fork_gpu(b[i], b[rest], area[i], area[rest]) > threshold)]
    return keep


def fork_nms(scores, boxes, threshold, post_top_n, pre_top_n=-1):
    """Indices of the kept boxes, best first. scores (N,), boxes (N, 4) -> (K,) int64, K <= post_top_n.

    pre_top_n > 0 considers only the best pre_top_n boxes (a CPU budget; the GPU op took every anchor).
    A box's fate depends only on the boxes before it, so the greedy pass runs on a growing prefix of the
    score order until it keeps post_top_n boxes or holds every box: the same result, much less work.
    """
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= 0]
    if pre_top_n > 0:
        order = order[:pre_top_n]
    boxes = boxes[order].astype(np.float64)
    size = 4 * post_top_n
    while True:
        keep = _greedy(boxes[:size], threshold, post_top_n)
        if len(keep) == post_top_n or size >= len(order):
            return order[np.asarray(keep, dtype=np.int64)]
        size *= 4


def fork_nms_rows(scores, boxes, threshold, post_top_n, pre_top_n=-1):
    """Batched `fork_nms`: scores (B, N), boxes (B, N, 4) -> (B, post_top_n, 5) float32 rows
    [score, x1, y1, x2, y2], best first; empty slots are all -1 (as `lib.model.proposal.nms_top`)."""
    out = np.full((scores.shape[0], post_top_n, 5), -1.0, dtype=np.float32)
    for b in range(scores.shape[0]):
        keep = fork_nms(scores[b], boxes[b], threshold, post_top_n, pre_top_n)
        out[b, :len(keep), 0] = scores[b, keep]
        out[b, :len(keep), 1:] = boxes[b, keep]
    return out


class _ForkNMS(mx.operator.CustomOp):
    def __init__(self, threshold, post_top_n, pre_top_n):
        super().__init__()
        self._args = (threshold, post_top_n, pre_top_n)

    def forward(self, is_train, req, in_data, out_data, aux):
        rows = fork_nms_rows(in_data[0].asnumpy(), in_data[1].asnumpy(), *self._args)
        self.assign(out_data[0], req[0], mx.nd.array(rows, ctx=out_data[0].context, dtype=out_data[0].dtype))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        for k, grad in enumerate(in_grad):
            self.assign(grad, req[k], mx.nd.zeros_like(grad))


@mx.operator.register(OP_TYPE)
class _ForkNMSProp(mx.operator.CustomOpProp):
    """Custom op `sniper_fork_nms`: (scores (B, N), boxes (B, N, 4)) -> rows (B, post_top_n, 5)."""

    def __init__(self, threshold, post_top_n, pre_top_n="-1"):
        super().__init__(need_top_grad=False)
        self._args = (float(threshold), int(post_top_n), int(pre_top_n))

    def list_arguments(self):
        return ["scores", "boxes"]

    def list_outputs(self):
        return ["rows"]

    def infer_shape(self, in_shape):
        return in_shape, [(in_shape[0][0], self._args[1], 5)], []

    def create_operator(self, ctx, shapes, dtypes):
        return _ForkNMS(*self._args)


def fork_nms_top(F, scores, boxes, threshold, pre_top_n, post_top_n):
    """`lib.model.proposal.nms_top` with the fork's training IoU: (B, N), (B, N, 4) -> (B, post_top_n, 5)."""
    return F.Custom(scores, boxes, op_type=OP_TYPE, threshold=threshold, post_top_n=post_top_n,
                    pre_top_n=pre_top_n)
