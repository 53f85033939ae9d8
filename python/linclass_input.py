"""A picture as a linclass run reads it, in Python (NumPy and Pillow): for PyTorch, NumPy or
any framework given the run's `model.safetensors` (`linclass export RUN`).

    from linclass_input import model_input, metadata
    meta = metadata("runs/mnist/model.safetensors")
    pixels, steps = model_input("photo.jpg", meta)

`pixels` is u8 [channels, height, width], what `linclass predict` gives the model (to a grey
level or two where Pillow's resampling rounds otherwise); `steps` says what was done besides
converting it, as `predict` does. Normalize with the metadata's `mean` and `std` (see
docs/src/using-a-run.md). The steps follow crates/data/src/decode.rs and prepare.rs.
"""

import json

import numpy as np
from PIL import Image, ImageOps

MNIST_SIDE = 28
BOX = 20
WORK = 100  # long side while strokes are measured
STROKE = 9.5  # MNIST's stroke width at WORK scale
STROKE_RANGE = (0.7, 1.45)
MAX_SIDE = 1024


def metadata(path):
    """The metadata of a safetensors file (strings), read with the standard library: the
    header is 8 bytes of little-endian length, then JSON."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(size)).get("__metadata__", {})


def model_input(path, meta, prepare="auto", invert=False):
    """(pixels u8 [c, h, w], steps) of the image file `path` for the run described by `meta`
    (the safetensors metadata: `input_shape`, `classes`). `prepare` is "auto", "digit" or
    "none", as `predict --prepare`; `invert` as `predict --invert`."""
    c, h, w = json.loads(meta["input_shape"])
    classes = json.loads(meta["classes"])
    digits = [c, h, w] == [1, MNIST_SIDE, MNIST_SIDE] and classes == [str(d) for d in range(10)]
    if prepare == "none" or (prepare == "auto" and not digits):
        return converted(opened(path, (h, w)), c, h, w, invert), []
    img = flattened(opened(path, (256, 256)))
    if invert:
        img = ImageOps.invert(img.convert("RGB"))
    gray = luminance(img)
    if prepare == "auto" and img.size == (MNIST_SIDE, MNIST_SIDE) and not light_background(gray):
        return converted(img, c, h, w, False), []
    return prepare_digit(gray)


def opened(path, target):
    """The image upright (EXIF), a JPEG decoded at 1/2, 1/4 or 1/8 (Pillow's draft, libjpeg's
    scaled IDCT) when that keeps twice `target` (height, width) in both directions."""
    img = Image.open(path)
    if img.format == "JPEG":
        th, tw = target
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            th, tw = tw, th
        width, height = img.size
        for f in (8, 4, 2):
            if img.mode in ("L", "RGB") and -(-width // f) >= 2 * tw and -(-height // f) >= 2 * th:
                img.draft(img.mode, (width // f, height // f))  # Pillow picks the scale 1/f
                break
    return ImageOps.exif_transpose(img)


def flattened(img):
    """Transparency flattened as `flatten_alpha` in decode.rs does it: mostly transparent
    (strokes), black paper under light ink and white under dark; mostly opaque (transparent
    margins or corners), the paper continues the picture's edge."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = "black" if paper_is_black(np.asarray(rgba, dtype=np.int64)) else "white"
        return Image.alpha_composite(Image.new("RGBA", rgba.size, paper), rgba).convert("RGB")
    return img if img.mode in ("L", "RGB") else img.convert("RGB")


def paper_is_black(v):
    s, a = v[..., :3].sum(axis=2), v[..., 3]
    if 2 * int(a.sum()) < 255 * a.size:
        return 2 * int((s * a).sum()) > 765 * int(a.sum())
    clear = a < 128
    beside = np.zeros_like(clear)
    beside[1:, :] |= clear[:-1, :]
    beside[:-1, :] |= clear[1:, :]
    beside[:, 1:] |= clear[:, :-1]
    beside[:, :-1] |= clear[:, 1:]
    edge = ~clear & beside
    return bool(edge.any()) and 2 * int(s[edge].sum()) <= 765 * int(edge.sum())


def luminance(img):
    """One channel, Rec. 709 weights (as the `image` crate)."""
    if img.mode == "L":
        return img
    v = np.asarray(img.convert("RGB"), dtype=np.float32)
    y = 0.2126 * v[..., 0] + 0.7152 * v[..., 1] + 0.0722 * v[..., 2]
    return Image.fromarray(np.clip(np.round(y), 0, 255).astype(np.uint8))


def converted(img, c, h, w, invert):
    img = flattened(img)
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    if c == 1:
        v = np.asarray(luminance(img))[None]
    else:
        v = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
    return (255 - v if invert else v).astype(np.uint8)


def light_background(gray):
    """Whether the median of the border ring (4% of the short side, at least 1 px) is light."""
    a = np.asarray(gray)
    r = max(min(a.shape) // 25, 1)
    ring = np.concatenate([a[:r].ravel(), a[-r:].ravel(), a[r:-r, :r].ravel(), a[r:-r, -r:].ravel()])
    return int(np.sort(ring)[len(ring) // 2]) > 127


def prepare_digit(gray):
    """(pixels [1, 28, 28], steps): a digit prepared as MNIST's were (LeCun et al.)."""
    steps = []
    w, h = gray.size
    if max(w, h) > MAX_SIDE:
        s = MAX_SIDE / max(w, h)
        gray = gray.resize((max(round_half_up(w * s), 1), max(round_half_up(h * s), 1)), Image.BILINEAR)
    if light_background(gray):
        gray = ImageOps.invert(gray)
        steps.append("inverted (light background)")
    ink = stretched(np.asarray(gray, dtype=np.float32))
    if ink is None:
        return np.zeros((1, MNIST_SIDE, MNIST_SIDE), np.uint8), steps + ["no ink found"]
    steps.append("contrast stretched")
    x0, y0, x1, y1 = ink_box(ink)
    work = at_long_side(ink[y0:y1, x0:x1], WORK)
    steps.append("cropped to the ink")
    if 0 < work.max() < 255:
        work = (work.astype(np.uint32) * 255 // work.max()).astype(np.uint8)
    adjusted = stroke_adjusted(work)
    if adjusted is not None:
        work, step = adjusted
        steps.append(step)
    boxed = at_long_side(work, BOX)
    steps += ["fitted into 20×20", "centred by mass in 28×28"]
    return centred_by_mass(boxed)[None], steps


def round_half_up(v):
    return int(np.floor(v + 0.5))


def stretched(gray):
    """Light-on-dark ink over the paper's level stretched to 0–255, or None without ink."""
    above = gray - paper(gray)
    clear = np.sort(above[above > 32])
    if clear.size == 0:
        return None
    peak = clear[(clear.size - 1) * 98 // 100]
    v = np.clip((above / peak - 0.2) / 0.8, 0, 1)
    return np.round(255 * v).astype(np.uint8)


def paper(gray):
    """The darkest level of 32 × 32 blocks and their neighbours, spread over the picture."""
    h, w = gray.shape
    b = max(max(w, h) // 32, 1)
    ny, nx = -(-h // b), -(-w // b)
    padded = np.full((ny * b, nx * b), 255, np.uint8)
    padded[:h, :w] = gray
    mins = padded.reshape(ny, b, nx, b).min(axis=(1, 3))
    spread = square_filter(mins, 1, np.minimum)
    return np.asarray(Image.fromarray(spread).resize((w, h), Image.BILINEAR), dtype=np.float32)


def ink_box(ink):
    """(x0, y0, x1, y1) of the ink, less the first and last thousandth of its mass."""
    def span(mass):
        cut = mass.sum() * 0.001
        seen = np.cumsum(mass)
        first = int(np.argmax(seen > cut))
        last = int(np.argmax(seen >= mass.sum() - cut)) + 1
        return first, max(last, first + 1)

    m = ink.astype(np.float64)
    (x0, x1), (y0, y1) = span(m.sum(axis=0)), span(m.sum(axis=1))
    return x0, y0, x1, y1


def at_long_side(a, side):
    h, w = a.shape
    s = side / max(w, h)
    size = (min(max(round_half_up(w * s), 1), side), min(max(round_half_up(h * s), 1), side))
    return np.asarray(Image.fromarray(a).resize(size, Image.BILINEAR))


def stroke_width(a):
    """2 × area / edges of the pixels ≥ 128."""
    on = np.pad(a >= 128, 1)
    inner = on[1:-1, 1:-1]
    edges = sum((inner & ~np.roll(on, s, axis=k)[1:-1, 1:-1]).sum() for k in (0, 1) for s in (1, -1))
    return 0.0 if edges == 0 else 2.0 * inner.sum() / edges


def stroke_adjusted(work):
    width = stroke_width(work)
    low, high = STROKE_RANGE
    if low * STROKE <= width <= high * STROKE or width == 0:
        return None
    r = round_half_up(abs(STROKE - width) / 2)
    if r == 0:
        return None
    if width < STROKE:
        return square_filter(np.pad(work, r), r, np.maximum), "strokes thickened"
    thinned = square_filter(work, r, np.minimum)
    return (thinned, "strokes thinned") if stroke_width(thinned) > 0 else None


def square_filter(a, r, pick):
    """Max or min over squares of side 2r + 1 (clipped at the edges)."""
    out = a
    for axis in (1, 0):
        n = out.shape[axis]
        result = out.copy()
        for d in range(1, r + 1):
            ahead = np.take(out, np.minimum(np.arange(n) + d, n - 1), axis=axis)
            behind = np.take(out, np.maximum(np.arange(n) - d, 0), axis=axis)
            result = pick(result, pick(ahead, behind))
        out = result
    return out


def centred_by_mass(digit):
    h, w = digit.shape
    v = digit.astype(np.float64)
    out = np.zeros((MNIST_SIDE, MNIST_SIDE), np.uint8)
    if v.sum() == 0:
        out[:h, :w] = digit
        return out
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    dx = round_half_up(MNIST_SIDE / 2 - (v * xs).sum() / v.sum())
    dy = round_half_up(MNIST_SIDE / 2 - (v * ys).sum() / v.sum())
    for y in range(h):
        for x in range(w):
            tx, ty = x + dx, y + dy
            if 0 <= tx < MNIST_SIDE and 0 <= ty < MNIST_SIDE:
                out[ty, tx] = digit[y, x]
    return out
