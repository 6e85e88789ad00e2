"""Drawing detections on an image (OpenCV): one colour per class, box, "name score" label."""
import colorsys

import cv2
import numpy as np


def class_colour(class_index):
    """A stable, well separated BGR colour for a class index (golden-ratio hues)."""
    hue = (class_index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_detections(image, detections, class_names=None, score_thresh=0.5):
    """A copy of `image` (HxWx3 uint8 BGR) with the detections drawn.

    detections: iterable of (class_index, score, (x1, y1, x2, y2)) in image pixels; those below score_thresh
    are skipped. Labels read "<class name> <score:.2f>" on a filled box of the class colour.
    """
    out = np.ascontiguousarray(image).copy()
    thickness = max(2, int(round(max(out.shape[:2]) / 400)))
    font_scale = max(0.5, max(out.shape[:2]) / 1600)
    for class_index, score, box in sorted(detections, key=lambda d: d[1]):
        if score < score_thresh:
            continue
        colour = class_colour(class_index)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        name = class_names[class_index] if class_names else str(class_index)
        text = "%s %.2f" % (name, score)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1 + 2
        cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(out, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def overlay_masks(image, masks, alpha=0.5):
    """A copy of `image` (HxWx3 uint8 BGR) with instance masks blended in their class colour and outlined.

    masks: iterable of (class_index, (H, W) uint8 mask), drawn in order (later ones on top).
    """
    out = np.ascontiguousarray(image).copy()
    for class_index, mask in masks:
        inside = np.asarray(mask, dtype=bool)
        colour = np.array(class_colour(class_index), np.float32)
        out[inside] = (out[inside] * (1 - alpha) + colour * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 1)
    return out
