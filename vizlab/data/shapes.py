"""``shapes``: a procedural, CIFAR-sized dataset of ten shapes drawn on cluttered backgrounds.

Why a synthetic dataset: the lectures need a 32x32 RGB problem that is always available
offline, costs nothing to download and still behaves like CIFAR in the ways the lectures talk
about: a linear model on raw pixels does poorly, a small CNN does well, and depth,
normalization and augmentation make a visible difference. Every nuisance factor of real
photos has a knob here: colour, position, scale, rotation, a textured fill (stripes, checker,
smooth noise), a background gradient with blurry blobs and stray lines, and pixel noise.

How it is drawn: every shape is a signed distance function (SDF) ``d(u, v)``, negative
inside, evaluated on the pixel grid after moving it into the shape's own frame (translate,
rotate, scale). Coverage ``clamp(0.5 - d_pixels, 0, 1)`` gives a one-pixel anti-aliased edge.
Everything is tensor arithmetic over a whole chunk of images with per-image parameters; the
only Python loops run over classes, clutter items and chunks, never over images or pixels.
Most SDFs follow Inigo Quilez's well-known 2-D distance formulas.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from vizlab.data.dataset import Dataset, Split
from vizlab.data.splits import carve_validation, derive_seed

__all__ = ["SHAPE_CLASSES", "generate_shapes", "load_shapes", "DEFAULT_N"]

SHAPE_CLASSES = [
    "circle", "square", "triangle", "cross", "ring",
    "star", "diamond", "bar", "crescent", "heart",
]  # fmt: skip

#: Default number of training images (train + val) when ``n`` is not given.
DEFAULT_N = 10_000

# Images are rendered in chunks of this many: the (chunk, 3, H, W) work tensors (6 MB) then
# stay in the CPU cache, which makes the element-wise arithmetic several times faster than on
# one huge batch. The chunk size is part of the random stream; changing it changes the images.
_CHUNK = 512
# Largest rotation per class (radians). Square and cross repeat every quarter turn, so +-45
# degrees already shows every orientation; the heart stays roughly upright (upside down it
# reads as a different shape); all others turn freely.
_MAX_ROTATION = torch.tensor([math.pi, math.pi / 4, math.pi, math.pi / 4, math.pi,
                              math.pi, math.pi, math.pi, math.pi, math.pi / 5])  # fmt: skip


# --- signed distance functions: (u, v) in the shape's frame, v pointing down --------------
def _box(u: torch.Tensor, v: torch.Tensor, bu: float, bv: float) -> torch.Tensor:
    qu, qv = u.abs() - bu, v.abs() - bv
    outside = torch.sqrt(qu.clamp(min=0) ** 2 + qv.clamp(min=0) ** 2)
    return outside + torch.maximum(qu, qv).clamp(max=0)


def _circle(u, v):
    return torch.sqrt(u * u + v * v) - 0.8


def _square(u, v):
    return _box(u, v, 0.68, 0.68)


def _triangle(u, v):
    # Equilateral triangle, apex up: fold onto one edge, then measure to that edge.
    r, k = 0.9, math.sqrt(3.0)
    x, y = u.abs() - r, -v + r / k
    flip = x + k * y > 0
    x, y = torch.where(flip, (x - k * y) / 2, x), torch.where(flip, (-k * x - y) / 2, y)
    x = x - x.clamp(-2 * r, 0)
    return -torch.sqrt(x * x + y * y) * torch.sign(y)


def _cross(u, v):
    return torch.minimum(_box(u, v, 0.85, 0.24), _box(u, v, 0.24, 0.85))


def _ring(u, v):
    return (torch.sqrt(u * u + v * v) - 0.65).abs() - 0.2


def _star(u, v):
    # Five-pointed star: reflect into one of ten wedges, then distance to one spike's edge.
    r, rf = 0.95, 0.45
    k1u, k1v = 0.809016994375, -0.587785252292
    x, y = u.abs(), -v
    for ku, kv in ((k1u, k1v), (-k1u, k1v)):
        dot = (ku * x + kv * y).clamp(min=0)
        x, y = x - 2 * dot * ku, y - 2 * dot * kv
    x, y = x.abs(), y - r
    bu, bv = -rf * k1v, rf * k1u - 1.0
    h = ((x * bu + y * bv) / (bu * bu + bv * bv)).clamp(0, r)
    dist = torch.sqrt((x - bu * h) ** 2 + (y - bv * h) ** 2)
    return dist * torch.sign(y * bu - x * bv)


def _diamond(u, v):
    # A rhombus twice as tall as wide, so that it never looks like a turned square.
    bu, bv = 0.5, 0.95
    x, y = u.abs(), v.abs()
    h = ((bu * (bu - 2 * x) - bv * (bv - 2 * y)) / (bu * bu + bv * bv)).clamp(-1, 1)
    dist = torch.sqrt((x - 0.5 * bu * (1 - h)) ** 2 + (y - 0.5 * bv * (1 + h)) ** 2)
    return dist * torch.sign(x * bv + y * bu - bu * bv)


def _bar(u, v):
    return _box(u, v, 0.95, 0.16)


def _crescent(u, v):
    outer = torch.sqrt(u * u + v * v) - 0.8
    bite = torch.sqrt((u - 0.38) ** 2 + v * v) - 0.62
    return torch.maximum(outer, -bite)


def _heart(u, v):
    # The classic heart spans about [-0.6, 0.6] x [0, 1.1] with y up; scale it to our frame.
    s = 0.65
    x, y = (u * s).abs(), -v * s + 0.5
    lobe = torch.sqrt((x - 0.25) ** 2 + (y - 0.75) ** 2) - math.sqrt(2.0) / 4
    m = 0.5 * (x + y).clamp(min=0)
    tip = torch.minimum(x * x + (y - 1) ** 2, (x - m) ** 2 + (y - m) ** 2)
    body = torch.sqrt(tip) * torch.sign(x - y)
    return torch.where(x + y > 1, lobe, body) / s


_SDFS = [_circle, _square, _triangle, _cross, _ring, _star, _diamond, _bar, _crescent, _heart]


# --- rendering -----------------------------------------------------------------------------
def _uniform(g: torch.Generator, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def _fill_pattern(b: int, xs: torch.Tensor, ys: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per-image texture in [0, 1]: solid, stripes, checker or smooth noise.

    Shape:
        xs: (1, 1, W), ys: (1, H, 1) pixel centres -> returns (b, H, W)
    """
    size = xs.shape[-1]
    kind = torch.randint(0, 4, (b,), generator=g)
    angle = _uniform(g, 0, math.pi, b, 1, 1)
    freq = 2 * math.pi / (_uniform(g, 3.0, 7.0, b, 1, 1) * size / 32)
    phase = _uniform(g, 0, 2 * math.pi, b, 1, 1)
    cos, sin = torch.cos(angle) * freq, torch.sin(angle) * freq
    coarse = torch.rand(b, 1, 6, 6, generator=g)

    pattern = torch.zeros(b, size, size)
    for k in (1, 2):  # stripes, then checker (stripes times the perpendicular stripes)
        m = kind == k
        wave = torch.sin(xs * cos[m] + (ys * sin[m] + phase[m]))
        if k == 2:
            wave = wave * torch.sin(ys * cos[m] - xs * sin[m])
        pattern[m] = torch.sigmoid(4 * wave)
    m = kind == 3
    pattern[m] = F.interpolate(coarse[m], size=(size, size), mode="bilinear")[:, 0]
    return pattern


def _blend(img: torch.Tensor, colour: torch.Tensor, weight: torch.Tensor) -> None:
    """Paint ``colour`` over ``img`` in place with per-pixel opacity ``weight``.

    Shape:
        img: (b, 3, H, W), colour: (b, 3, 1, 1) or (b, 3, H, W), weight: (b, H, W)
    """
    img.lerp_(colour, weight[:, None])


def _render(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Draw one chunk of images, one per label.

    Per-image parameters have shape (b, 1, 1); pixel coordinates are kept as a row
    ``xs`` (1, 1, W) and a column ``ys`` (1, H, 1), so most terms are computed on (b, 1, W) or
    (b, H, 1) and only their combination touches every pixel.

    Shape:
        labels: (b,) int64 -> returns (b, 3, size, size) float32 in [0, 1]
    """
    b = len(labels)
    grid = torch.arange(size, dtype=torch.float32) + 0.5
    xs, ys = grid.view(1, 1, size), grid.view(1, size, 1)
    px = size / 32  # lengths below are given for 32x32 and scaled with the image

    def param(lo: float, hi: float) -> torch.Tensor:  # one value per image, (b, 1, 1)
        return _uniform(g, lo, hi, b, 1, 1)

    def colour() -> torch.Tensor:  # one random RGB colour per image, (b, 3, 1, 1)
        return torch.rand(b, 3, 1, 1, generator=g)

    # Background: a linear gradient between two colours from one brightness half. The shape
    # gets the other half (light on dark or dark on light, chosen per image), so it is always
    # visible, but colour and brightness say nothing about the class.
    light_bg = (torch.rand(b, 1, 1, 1, generator=g) < 0.5).float()
    bg_a, bg_b = 0.5 * light_bg + 0.5 * colour(), 0.5 * light_bg + 0.5 * colour()
    psi = param(0, 2 * math.pi)
    ramp = (xs - size / 2) * (torch.cos(psi) / size) + ((ys - size / 2) * torch.sin(psi) / size)
    img = torch.lerp(bg_a.expand(b, 3, size, size), bg_b, (ramp + 0.5).clamp(0, 1)[:, None])

    # Clutter: soft Gaussian blobs (separable: a row profile times a column profile) and thin
    # stray lines (capsules), each of a random colour.
    for _ in range(3):
        cx, cy, sigma = param(0, size), param(0, size), param(2.0, 5.0) * px
        row = param(0.2, 0.6) * torch.exp(-((xs - cx) ** 2) / (2 * sigma**2))  # (b, 1, W)
        col = torch.exp(-((ys - cy) ** 2) / (2 * sigma**2))  # (b, H, 1)
        _blend(img, colour(), row * col)
    for _ in range(2):
        ax, ay, dx, dy = param(0, size), param(0, size), param(-size, size), param(-size, size)
        width, alpha = param(0.6, 1.6) * px, param(0.4, 0.9)
        ex, ey = xs - ax, ys - ay
        length2 = dx * dx + dy * dy + 1e-6
        h = (ex * (dx / length2) + ey * (dy / length2)).clamp(0, 1)  # (b, H, W)
        dist = torch.sqrt((ex - h * dx) ** 2 + (ey - h * dy) ** 2) - width / 2
        _blend(img, colour(), (0.5 - dist).clamp(0, 1) * alpha)

    # The shape: pixel -> shape frame (translate, rotate, scale) -> signed distance -> coverage.
    radius = param(7.0, 12.5) * px  # pixels per unit of the shape frame
    cx, cy = param(11.0, 21.0) * px, param(11.0, 21.0) * px
    theta = (2 * torch.rand(b, generator=g) - 1) * _MAX_ROTATION[labels]
    cos, sin = torch.cos(theta).view(b, 1, 1), torch.sin(theta).view(b, 1, 1)
    stretch = param(0.85, 1.15)  # mild anisotropy, so that no two circles are alike
    u = (xs - cx) * (cos / (radius * stretch)) + (ys - cy) * (sin / (radius * stretch))
    v = (ys - cy) * (cos / radius) - (xs - cx) * (sin / radius)  # (b, H, W)
    dist = torch.empty_like(u)
    for c, sdf in enumerate(_SDFS):
        mask = labels == c
        if mask.any():
            dist[mask] = sdf(u[mask], v[mask])
    coverage = (0.5 - dist * radius).clamp(0, 1)  # (b, H, W), 1-pixel anti-aliased edge

    fg_a = 0.5 * (1 - light_bg) + 0.5 * colour()
    fg_b = (fg_a + (0.7 * colour() - 0.35)).clamp(0, 1)  # second colour of the texture
    pattern = _fill_pattern(b, xs, ys, g)[:, None]  # (b, 1, H, W)
    _blend(img, torch.lerp(fg_a.expand(b, 3, size, size), fg_b, pattern), coverage)

    # Pixel noise of a random strength. Uniform noise with standard deviation sigma is several
    # times cheaper to draw than Gaussian noise on a CPU and looks the same at this strength.
    sigma = math.sqrt(12.0) * _uniform(g, 0.01, 0.10, b, 1, 1, 1)
    img.sub_(sigma / 2).addcmul_(torch.rand(b, 3, size, size, generator=g), sigma)
    return img.clamp_(0, 1)


def generate_shapes(n: int, seed: int = 0, *, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` labelled shape images, the same ones for the same ``(n, seed, size)``.

    Classes are exactly balanced (up to ``n % 10``) and in random order.

    Shape:
        returns x: (n, 3, size, size) float32 in [0, 1], y: (n,) int64 in 0..9
    """
    if n < 0:
        raise ValueError(f"cannot draw a negative number of images ({n})")
    g = torch.Generator().manual_seed(seed)
    k = len(SHAPE_CLASSES)
    y = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    x = torch.empty(n, 3, size, size)
    with _one_thread():
        for start in range(0, n, _CHUNK):
            x[start : start + _CHUNK] = _render(y[start : start + _CHUNK], size, g)
    return x, y


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch's CPU ops single-threaded for a moment, then restore the thread count.

    The renderer issues tens of thousands of small, cache-sized element-wise ops. A second
    thread barely speeds them up, and when the CPU is busy with other work each op's thread
    barrier can stall for a scheduler tick: on a loaded 2-core machine we measured 50,000
    images take 4.4 s on one thread and over 100 s on two.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_shapes(*, n: int | None = None, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """The ``shapes`` dataset: ``n`` training images (train + val) and ``n // 5`` test images.

    Train and test are drawn from different seeds derived from ``seed``, so the test images
    are new draws of the same distribution rather than copies of training images.

    Shape:
        x: (N, 3, 32, 32) float32 in [0, 1]; y: (N,) int64 in 0..9
    """
    n = DEFAULT_N if n is None else n
    x, y = generate_shapes(n, derive_seed(seed, "shapes-train"))
    train, val = carve_validation(Split(x, y), val_fraction, seed)
    test = Split(*generate_shapes(max(n // 5, 1), derive_seed(seed, "shapes-test")))
    info = {"source": "procedural (vizlab.data.shapes)", "seed": seed, "n": n}
    return Dataset("shapes", list(SHAPE_CLASSES), train, val, test, info)
