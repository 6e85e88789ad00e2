"""One geometry: the box conventions of the original, in numpy (`boxes`, `anchors`, `nms`) and in MXNet
operators (`ops`), held equal by tests/test_geometry.py.

- Boxes are (x1, y1, x2, y2) inclusive pixels: widths x2 - x1 + 1 for IoU, NMS and the box coder.
- The box coder: centre x1 + 0.5 (w - 1), deltas (dx, dy, log dw, log dh), 1e-7 in the denominators.
- Valid ranges measure a box by a sqrt area without +1: truncated sides in the chip engine
  (`sqrt_areas_truncated`), float sides in the tester (`tester_valid_range_mask`) and the proposal op
  (`ops.areas_no_plus_one`).
- Anchors: one generator (`anchors.generate_base_anchors`), position-major on the loader's side, anchor-major
  in the network (`ops.grid_anchors`); `anchors.position_major_to_maps` converts.
- Quirks of the fork's GPU proposal-target op keep their own names: `iou_fork_gpu` (intersection +1, areas
  without), `ops.encode_gt_centre_half_pixel` (gt centre gx1 + 0.5 gw).
Layer: imports nothing of the project (numpy; `ops` takes the MXNet namespace as `F`).
"""
