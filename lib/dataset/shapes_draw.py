"""Drawing primitives of the synthetic "shapes" dataset (numpy + OpenCV, all randomness from a given rng).

Object classes differ by shape, colour family and texture; distractors borrow one of the three and change
another (a class shape in a foreign colour, or a class colour on a foreign shape), so colour or shape alone
does not identify a class.
"""
import cv2
import numpy as np

CLASSES = ("disc", "square", "triangle", "star", "ring")
# Per class: OpenCV hue (0..180) of its colour family, and its texture.
CLASS_HUES = {"disc": 0, "square": 110, "triangle": 60, "star": 27, "ring": 150}
CLASS_TEXTURES = {"disc": "radial", "square": "checker", "triangle": "stripes", "star": "solid", "ring": "solid"}
DISTRACTOR_SHAPES = ("hexagon", "ellipse", "cross", "half_disc")
GAP_HUES = (13, 44, 85, 130, 165)  # hues halfway between the class hues
TEXTURES = ("solid", "radial", "checker", "stripes")
HUE_JITTER = 4
_SHIFT = 4  # cv2 sub-pixel bits for polygon/circle coordinates
_ONE = 1 << _SHIFT


def hsv_to_bgr(h, s, v):
    """One colour: OpenCV hue 0..180, saturation and value 0..1 -> (3,) float32 BGR in 0..255."""
    hsv = np.array([[[(h % 180) * 2, s, v]]], dtype=np.float32)  # float HSV in OpenCV: degrees, 0..1, 0..1
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0] * 255


def class_colour(name, rng):
    """A saturated colour of the class's hue family (hue +-4 OpenCV units), (3,) float32 BGR."""
    hue = CLASS_HUES[name] + rng.uniform(-HUE_JITTER, HUE_JITTER)
    return hsv_to_bgr(hue, rng.uniform(0.7, 1.0), rng.uniform(0.6, 1.0))


def foreign_colour(rng):
    """A colour of no class: a saturated in-between hue, or a grey/brownish low-saturation one."""
    if rng.random() < 0.5:
        hue = GAP_HUES[rng.integers(len(GAP_HUES))] + rng.uniform(-HUE_JITTER, HUE_JITTER)
        return hsv_to_bgr(hue, rng.uniform(0.7, 1.0), rng.uniform(0.6, 1.0))
    return hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0.0, 0.25), rng.uniform(0.15, 1.0))


def _polygon(points):
    """(K, 2) float px -> int32 points in cv2's fixed-point (shift) format."""
    return [np.round(np.asarray(points) * _ONE).astype(np.int32)]


def _regular(n, radius, centre, angle, inner=None):
    """Vertices of a regular n-gon (or n-pointed star with `inner` radius ratio), (K, 2) float px."""
    k = 2 * n if inner else n
    t = angle + np.arange(k) * 2 * np.pi / k
    r = np.full(k, radius)
    if inner:
        r[1::2] *= inner
    return np.stack([centre + r * np.cos(t), centre + r * np.sin(t)], axis=1)


def _rotated_rect(w, h, centre, angle):
    """Corners of a w x h px rectangle rotated by `angle` about `centre`, (4, 2) float px."""
    c, s = np.cos(angle), np.sin(angle)
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], dtype=np.float64) / 2
    return pts @ np.array([[c, s], [-s, c]]) + centre


def shape_mask(kind, size, rng):
    """A binary (size, size) uint8 mask of a shape of `kind` drawn to fill a size-px square, random rotation."""
    mask = np.zeros((size, size), np.uint8)
    c = (size - 1) / 2.0
    r = size / 2.0 - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    centre = (int(round(c * _ONE)), int(round(c * _ONE)))
    if kind in ("disc", "ring"):
        cv2.circle(mask, centre, int(round(r * _ONE)), 1, -1, cv2.LINE_8, _SHIFT)
        if kind == "ring":
            cv2.circle(mask, centre, int(round(r * rng.uniform(0.5, 0.65) * _ONE)), 0, -1, cv2.LINE_8, _SHIFT)
    elif kind == "square":
        side = 2 * r / (abs(np.cos(angle)) + abs(np.sin(angle)))
        cv2.fillPoly(mask, _polygon(_rotated_rect(side, side, c, angle)), 1, cv2.LINE_8, _SHIFT)
    elif kind in ("triangle", "hexagon", "star"):
        n, inner = {"triangle": (3, None), "hexagon": (6, None), "star": (5, 0.45)}[kind]
        cv2.fillPoly(mask, _polygon(_regular(n, r, c, angle, inner)), 1, cv2.LINE_8, _SHIFT)
    elif kind == "ellipse":
        axes = (int(round(r * _ONE)), int(round(r * rng.uniform(0.3, 0.55) * _ONE)))
        cv2.ellipse(mask, centre, axes, np.degrees(angle), 0, 360, 1, -1, cv2.LINE_8, _SHIFT)
    elif kind == "cross":
        arm = 2 * r * rng.uniform(0.25, 0.35) / np.sqrt(2)
        for a in (angle, angle + np.pi / 2):
            cv2.fillPoly(mask, _polygon(_rotated_rect(2 * r / np.sqrt(2) * 1.3, arm, c, a)), 1, cv2.LINE_8, _SHIFT)
    elif kind == "half_disc":
        cv2.ellipse(mask, centre, (int(round(r * _ONE)),) * 2, np.degrees(angle), 0, 180, 1, -1, cv2.LINE_8,
                    _SHIFT)
    else:
        raise ValueError("unknown shape %r" % kind)
    return mask


def texture_patch(texture, size, colour, rng):
    """A (size, size, 3) float32 BGR patch of `colour` with a texture: solid, radial, checker or stripes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if texture == "radial":
        c = (size - 1) / 2.0
        shade = 1.2 - 0.6 * np.sqrt((xx - c) ** 2 + (yy - c) ** 2) / max(c, 1.0)
    elif texture == "checker":
        period = max(2.0, size / rng.uniform(3, 6))
        shade = np.where(((xx // period + yy // period) % 2) == 0, 1.0, 0.55)
    elif texture == "stripes":
        period = max(2.0, size / rng.uniform(4, 8))
        a = rng.uniform(0, np.pi)
        shade = np.where(np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / period) > 0, 1.0, 0.6)
    elif texture == "solid":
        shade = np.ones((size, size), np.float32)
    else:
        raise ValueError("unknown texture %r" % texture)
    noise = rng.standard_normal((size, size, 1), dtype=np.float32) * 6
    return shade.astype(np.float32)[:, :, None] * colour[None, None, :] + noise


def _smooth_field(h, w, cells, channels, rng, scale):
    """A smooth random (h, w, channels) float32 field: a cells x cells grid of N(0, scale) upsampled cubically."""
    grid = rng.standard_normal((cells, cells, channels), dtype=np.float32) * scale
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)


def _earthy(rng):
    """A muted background colour (low saturation), (3,) float32 BGR."""
    return hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0.0, 0.45), rng.uniform(0.25, 0.85))


def _clutter(h, w, rng):
    """Blurry blobs at 1/4 resolution over a smooth colour gradient, upsampled: (h, w, 3) float32 BGR."""
    sh, sw = max(h // 4, 8), max(w // 4, 8)
    cells = int(rng.integers(2, 6))
    base = np.stack([_earthy(rng) for _ in range(cells * cells)]).reshape(cells, cells, 3)
    small = cv2.resize(base, (sw, sh), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(10, 40))):
        centre = (int(rng.integers(0, sw)), int(rng.integers(0, sh)))
        axes = tuple(int(a) for a in rng.uniform(0.01, 0.2, 2) * min(sw, sh) + 1)
        cv2.ellipse(small, centre, axes, rng.uniform(0, 360), 0, 360, _earthy(rng).tolist(), -1, cv2.LINE_AA)
    small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.5, 2.0))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def background(h, w, rng):
    """A natural-looking cluttered (h, w, 3) uint8 BGR background: gradients, blobs, lines, grain."""
    img = _clutter(h, w, rng)
    img *= 1.0 + _smooth_field(h, w, int(rng.integers(8, 24)), 1, rng, 0.12)
    for _ in range(int(rng.integers(5, 25))):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p1, p2, _earthy(rng).tolist(), int(rng.integers(1, 7)), cv2.LINE_AA)
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(2, 7)
    return np.clip(img, 0, 255).astype(np.uint8)
