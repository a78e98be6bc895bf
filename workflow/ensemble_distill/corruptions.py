"""CIFAR-C corruptions (Hendrycks & Dietterich 2019) generated where the official
CIFAR-10-C / CIFAR-100-C arrays are not in the data root: all 19 types.

The formulas and the five severities' parameters are those of the authors'
``make_cifar_c.py`` (hendrycks/robustness), rewritten over numpy, scipy, Pillow and OpenCV,
vectorised over the images, with one seeded generator per (corruption, severity), so the
same call gives the same bytes. Where the authors call a library this module does not
use, it does that library's arithmetic itself: ImageMagick's motion blur (``motion_blur``,
``snow``: a one-sided Gaussian kernel of width 2·ceil(radius)+1 along the angle, edge
pixels repeated, the result rounded to 8 bits as their PNG round trip does), skimage's
Gaussian filter (scipy's, 'nearest' edges). ``spatter`` calls OpenCV's Canny edges,
distance transform and histogram equalisation as the authors do; ``frost`` blends in the
authors' frost photographs (``textures/``, Apache 2.0, see its NOTICE.md). The random draws
differ from the official files', so generated sets match them in distribution, not pixel
by pixel; every table marks them "(generated)" (metrics.py). Why not a library:
torch-uncertainty's and imagecorruptions' transforms use the ImageNet-C parameters (e.g.
Gaussian noise σ 0.08–0.38 against CIFAR-10-C's 0.04–0.10), and imagecorruptions was last
released in 2020.

``corrupt(images, name, severity, seed)``: uint8 (N, 3, H, W) in, uint8 (N, 3, H, W) out.
"""

import io
from pathlib import Path

import cv2
import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from PIL import Image
from scipy import ndimage

TEXTURES = Path(__file__).resolve().parent / "textures"

SEVERITIES = (1, 2, 3, 4, 5)


def gaussian_noise(x, c, rng):
    return x + rng.normal(scale=c, size=x.shape)


def shot_noise(x, c, rng):
    return rng.poisson(x * c) / c


def impulse_noise(x, c, rng):
    """Salt and pepper on a fraction c of the values (skimage ``random_noise(mode='s&p')``)."""
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


def speckle_noise(x, c, rng):
    return x + x * rng.normal(scale=c, size=x.shape)


def blur(x, sigma):
    """skimage ``gaussian(multichannel=True)``: spatial axes only, 'nearest' edges."""
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0)


def gaussian_blur(x, c, rng):
    return blur(x, c)


def glass_blur(x, c, rng):
    """Blur, quantise, copy a random neighbour into each pixel (sweeping from the
    bottom-right), blur again. The authors' "swap" assigns through numpy views, so it only
    copies the neighbour in; the official files were made that way, and so is this. The
    sweep is sequential; it runs over all images at once."""
    sigma, delta, iterations = c
    x = np.uint8(blur(x, sigma) * 255)
    n, h, w = x.shape[:3]
    rows = np.arange(n)
    for _ in range(iterations):
        for i in range(h - delta, delta, -1):
            for j in range(w - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=(2, n))
                x[rows, i, j] = x[rows, i + dy, j + dx]
    return blur(x / 255.0, sigma)


def disk_kernel(radius, alias_blur):
    """The authors' anti-aliased disk: a 17x17 disk indicator, normalised, smoothed by a
    3x3 Gaussian of σ ``alias_blur`` (OpenCV's GaussianBlur, reflect-101 borders)."""
    size = 8 if radius <= 8 else int(radius)
    grid = np.arange(-size, size + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    ksize = 3 if radius <= 8 else 5
    taps = np.exp(-((np.arange(ksize) - ksize // 2) ** 2) / (2 * alias_blur**2))
    taps /= taps.sum()
    disk = ndimage.correlate1d(disk, taps, axis=0, mode="mirror")
    return ndimage.correlate1d(disk, taps, axis=1, mode="mirror")


def defocus_blur(x, c, rng):
    kernel = disk_kernel(*c)[None, :, :, None]  # OpenCV filter2D: correlation, reflect-101
    return ndimage.correlate(x, kernel, mode="mirror")


def zoom_matrix(size, factor):
    """(round(size·factor), size) matrix of ``scipy.ndimage.zoom(order=1)`` along one axis:
    output i samples the input at i·(size − 1)/(out − 1), linearly interpolated."""
    out = int(round(size * factor))
    position = np.arange(out) * (size - 1) / (out - 1)
    low = np.minimum(np.floor(position).astype(int), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight = position - low
    matrix = np.zeros((out, size))
    np.add.at(matrix, (np.arange(out), low), 1 - weight)
    np.add.at(matrix, (np.arange(out), high), weight)
    return matrix


def clipped_zoom(x, factor):
    """Zoom into the centre by ``factor`` (bilinear), cropped back to the image size: the
    authors' scipy ``zoom`` as two matrix products (the same arithmetic, 50x faster on
    a batch)."""
    h = x.shape[1]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    a = zoom_matrix(crop, factor)
    out = np.einsum(
        "oh,nhwc,pw->nopc", a, x[:, top : top + crop, top : top + crop], a, optimize=True
    )
    trim = (out.shape[1] - h) // 2
    return out[:, trim : trim + h, trim : trim + h]


def zoom_blur(x, c, rng):
    factors = np.arange(1, c, 0.01)
    total = x.astype(np.float32).copy()
    for factor in factors:
        total += clipped_zoom(x.astype(np.float32), factor)
    return total / (len(factors) + 1)


def plasma_fractal(n, size, decay, rng):
    """Diamond-square height maps (n, size, size) in [0, 1], as the authors' ``plasma_fractal``."""
    maps = np.zeros((n, size, size))
    step, wibble = size, 100.0

    def wibbled(total):
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares = squares + np.roll(squares, -1, axis=2)
        maps[:, half:size:step, half:size:step] = wibbled(squares)
        centres = maps[:, half:size:step, half:size:step]
        corners = maps[:, 0:size:step, 0:size:step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, 0:size:step, half:size:step] = wibbled(left)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half:size:step, 0:size:step] = wibbled(top)
        step //= 2
        wibble /= decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def fog(x, c, rng):
    strength, decay = c
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    h = x.shape[1]
    size = 1 << int(np.ceil(np.log2(h)))
    layer = plasma_fractal(len(x), size, decay, rng)[:, :h, :h, None]
    return (x + strength * layer) * peak / (peak + strength)


def contrast(x, c, rng):
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def brightness(x, c, rng):
    hsv = rgb_to_hsv(np.clip(x, 0, 1))
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return hsv_to_rgb(hsv)


def saturate(x, c, rng):
    hsv = rgb_to_hsv(np.clip(x, 0, 1))
    hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
    return hsv_to_rgb(hsv)


def through_pil(x, transform):
    """Apply a PIL round trip to every image; returns values in 0..255."""
    images = np.uint8(np.rint(np.clip(x, 0, 1) * 255))
    return np.stack([np.asarray(transform(Image.fromarray(im)), dtype=np.float64) for im in images])


def jpeg_compression(x, c, rng):
    def encode(image):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=c)
        return Image.open(buffer)

    return through_pil(x, encode) / 255.0


def pixelate(x, c, rng):
    h = x.shape[1]
    small = int(h * c)
    return (
        through_pil(x, lambda im: im.resize((small, small), Image.BOX).resize((h, h), Image.BOX))
        / 255.0
    )


def affine_from_points(src, dst):
    """The 2x3 matrix mapping three (x, y) points ``src`` to ``dst`` (getAffineTransform)."""
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def elastic_transform(x, c, rng):
    """A random affine warp (three points moved by up to c[2] px), then a smooth random
    displacement field (σ = c[1], scale c[0]); bilinear sampling."""
    scale, sigma, shift = (v * x.shape[1] for v in c)
    n, h, w, ch = x.shape
    centre, side = np.float32([h, w]) // 2, min(h, w) // 3
    src = np.float32([centre + side, [centre[0] + side, centre[1] - side], centre - side])
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.empty_like(x)
    for k in range(n):
        dst = src + rng.uniform(-shift, shift, size=src.shape).astype(np.float32)
        inverse = np.linalg.inv(np.vstack([affine_from_points(src, dst), [0, 0, 1]]))
        src_x = inverse[0, 0] * xx + inverse[0, 1] * yy + inverse[0, 2]
        src_y = inverse[1, 0] * xx + inverse[1, 1] * yy + inverse[1, 2]
        warped = np.stack(
            [ndimage.map_coordinates(x[k, ..., d], [src_y, src_x], order=1, mode="mirror")
             for d in range(ch)], axis=-1)  # fmt: skip
        dx, dy = (
            ndimage.gaussian_filter(rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect",
                                    truncate=3) * scale
            for _ in range(2)
        )  # fmt: skip
        out[k] = np.stack(
            [ndimage.map_coordinates(warped[..., d], [yy + dy, xx + dx], order=1,
                                     mode="reflect") for d in range(ch)], axis=-1)  # fmt: skip
    return out


def motion_kernel(radius, sigma, angle):
    """ImageMagick's MotionBlurImage: taps i = 0..2·ceil(radius) weighted exp(−i²/2σ²)
    (normalised), each reading the pixel ceil(i·cos a − ½) columns and ceil(i·sin a − ½)
    rows away. Returns (weights, column offsets, row offsets)."""
    taps = np.arange(2 * int(np.ceil(radius)) + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    a = np.deg2rad(angle)
    columns = np.ceil(taps * np.cos(a) - 0.5).astype(int)
    rows = np.ceil(taps * np.sin(a) - 0.5).astype(int)
    return weights / weights.sum(), columns, rows


def magick_motion_blur(x, radius, sigma, angles):
    """Motion-blur each image (N, H, W, C) along its own angle, edge pixels repeated, and
    round to 8 bits (the authors read the result back from a PNG)."""
    n, h, w = x.shape[:3]
    kernels = [motion_kernel(radius, sigma, a) for a in angles]
    weights, columns, rows = (np.stack(k) for k in zip(*kernels, strict=True))
    out = np.zeros_like(x)
    images = np.arange(n)[:, None, None]
    for i in range(weights.shape[1]):
        r = np.clip(np.arange(h)[None, :, None] + rows[:, i, None, None], 0, h - 1)
        c = np.clip(np.arange(w)[None, None, :] + columns[:, i, None, None], 0, w - 1)
        out += weights[:, i, None, None, None] * x[images, r, c]
    return np.rint(np.clip(out, 0, 1) * 255) / 255


def motion_blur(x, c, rng):
    return magick_motion_blur(x, *c, rng.uniform(-45, 45, len(x)))


def gray(x):
    """OpenCV's RGB2GRAY: 0.299 R + 0.587 G + 0.114 B, (N, H, W, 1)."""
    return (x @ np.array([0.299, 0.587, 0.114]))[..., None]


def snow(x, c, rng):
    """A zoomed, thresholded normal layer, motion-blurred downwards, added twice (also
    rotated by 180°) to a brightened image."""
    loc, scale, zoom, threshold, radius, sigma, mix = c
    layer = rng.normal(loc=loc, scale=scale, size=x.shape[:3])[..., None]
    layer = clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    layer = np.clip(layer, 0, 1).astype(np.float64)
    layer = np.uint8(layer * 255) / 255.0  # the authors' 8-bit grey image
    layer = magick_motion_blur(layer, radius, sigma, rng.uniform(-135, -45, len(x)))
    x = mix * x + (1 - mix) * np.maximum(x, gray(x) * 1.5 + 0.5)
    return x + layer + np.rot90(layer, k=2, axes=(1, 2))


def frost_textures():
    """The five frost photographs, shrunk as the authors do (textures/NOTICE.md)."""
    return [np.asarray(Image.open(TEXTURES / f"frost{i}.png"), dtype=np.float64) / 255
            for i in range(1, 6)]  # fmt: skip


def frost(x, c, rng):
    """c[0]·image + c[1]·a random crop of a random frost texture."""
    textures = frost_textures()
    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    for k in range(n):
        texture = textures[rng.integers(5)]
        top = rng.integers(0, texture.shape[0] - h)
        left = rng.integers(0, texture.shape[1] - w)
        out[k] = c[0] * x[k] + c[1] * texture[top : top + h, left : left + w]
    return out


def liquid_layers(shape, loc, scale, sigma, threshold, rng):
    layer = rng.normal(loc=loc, scale=scale, size=shape)
    layer = ndimage.gaussian_filter(layer, sigma=(0, sigma, sigma), mode="nearest", truncate=4)
    layer[layer < threshold] = 0
    return layer


def water(liquid, intensity):
    """The authors' water mask: OpenCV edges of the liquid, their distance transform
    (truncated at 20), blurred, equalised, embossed and blurred again, times the liquid,
    scaled so that its maximum is ``intensity``."""
    liquid = (liquid * 255).astype(np.uint8)  # the authors' 8-bit liquid, used below too
    edges = cv2.Canny(liquid, 50, 150)
    dist = cv2.distanceTransform(255 - edges, cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
    mask = liquid * dist  # float32
    peak = mask.max()
    return mask / peak * intensity if peak > 0 else mask


def spatter(x, c, rng):
    """Water drops (severities 1–3: pale turquoise where the liquid's edges are) or mud
    (4–5: brown where the smoothed liquid covers ≥ 0.8)."""
    loc, scale, sigma, threshold, intensity, mud = c
    liquid = liquid_layers(x.shape[:3], loc, scale, sigma, threshold, rng)
    if not mud:
        masks = np.stack([water(layer, intensity) for layer in liquid])[..., None]
        return x + masks * (np.array([175, 238, 238]) / 255)
    covered = ndimage.gaussian_filter((liquid > threshold).astype(np.float64),
                                      sigma=(0, intensity, intensity), mode="nearest",
                                      truncate=4)[..., None]  # fmt: skip
    covered[covered < 0.8] = 0
    return x * (1 - covered) + covered * (np.array([63, 42, 20]) / 255)


# name -> (function, the five severities' parameters from make_cifar_c.py).
CORRUPTIONS = {
    "gaussian_noise": (gaussian_noise, [0.04, 0.06, 0.08, 0.09, 0.10]),
    "shot_noise": (shot_noise, [500, 250, 100, 75, 50]),
    "impulse_noise": (impulse_noise, [0.01, 0.02, 0.03, 0.05, 0.07]),
    "speckle_noise": (speckle_noise, [0.06, 0.1, 0.12, 0.16, 0.2]),
    "gaussian_blur": (gaussian_blur, [0.4, 0.6, 0.7, 0.8, 1.0]),
    "glass_blur": (
        glass_blur,
        [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    ),  # fmt: skip
    "defocus_blur": (defocus_blur, [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]),
    "zoom_blur": (zoom_blur, [1.06, 1.11, 1.16, 1.21, 1.26]),  # zooms 1, 1.01, ... < c
    "fog": (fog, [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)]),
    "brightness": (brightness, [0.05, 0.1, 0.15, 0.2, 0.3]),
    "contrast": (contrast, [0.75, 0.5, 0.4, 0.3, 0.15]),
    "saturate": (saturate, [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)]),
    "jpeg_compression": (jpeg_compression, [80, 65, 58, 50, 40]),
    "pixelate": (pixelate, [0.95, 0.9, 0.85, 0.75, 0.65]),
    "elastic_transform": (
        elastic_transform,
        [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)],
    ),  # fmt: skip
    "motion_blur": (motion_blur, [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)]),
    "snow": (
        snow,
        [
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ],
    ),  # fmt: skip
    "frost": (frost, [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)]),
    "spatter": (
        spatter,
        [
            (0.62, 0.1, 0.7, 0.7, 0.5, 0),
            (0.65, 0.1, 0.8, 0.7, 0.5, 0),
            (0.65, 0.3, 1, 0.69, 0.5, 0),
            (0.65, 0.1, 0.7, 0.69, 0.6, 1),
            (0.65, 0.1, 0.5, 0.68, 0.6, 1),
        ],
    ),  # fmt: skip
}


def corrupt(images, name, severity, seed=0):
    """uint8 images (N, C, H, W) corrupted by ``name`` at ``severity`` (1..5), as uint8.

    Values are truncated to integers as the authors' ``np.uint8`` does (after a 1e-6 nudge,
    so that k/255·255 computed in floating point stays k)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"cannot generate corruption '{name}': known are {sorted(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"corruption severity must be 1..5, found {severity}")
    fn, params = CORRUPTIONS[name]
    index = sorted(CORRUPTIONS).index(name)
    rng = np.random.default_rng([seed, index, severity])
    x = images.transpose(0, 2, 3, 1).astype(np.float64) / 255.0  # (N, H, W, C) in [0, 1]
    out = np.clip(fn(x, params[severity - 1], rng), 0, 1) * 255
    return np.ascontiguousarray(np.uint8(out + 1e-6).transpose(0, 3, 1, 2))
