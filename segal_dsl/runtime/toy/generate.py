"""Deterministic synthetic segmentation data (numpy + Pillow only) in mmseg's img_dir/ann_dir layout.

Why synthetic: the toy experiment must run on a laptop CPU with no download. Classes differ by shape
*and* by texture, and colours overlap between classes, so a model needs spatial context (a 1x1 colour
classifier is not enough) and active learning has something to find.

Two variants (VARIANTS, the one home of their names, classes and splits): `easy`, large shapes of four
classes (3-5% of the pixels each); `hard`, where uncertainty should matter: a rare class (~1-2%), lines
1-2 px wide, small blobs and void regions (ground truth VOID). A base config picks one with the
dataset's `variant` setting (configs/toy_hard_unet.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segal_dsl.spec.config import PixelSettings

VERSION = 1
CLASSES = ("background", "disc", "square", "triangle", "ring")
PALETTE = ((0, 0, 0), (220, 60, 60), (60, 180, 75), (60, 90, 220), (240, 200, 40))
SIZE = 64
SPLITS = {"train": 64, "val": 24}
SUFFIX = ".png"


def default_root(variant: str = "easy") -> Path:
    """Where the toy data lives: $SEGAL_TOY_DIR, else the user cache (never the repo). A variant other
    than `easy` lives next to it, its name appended (`<SEGAL_TOY_DIR>-hard`, `toy-hard-v1`)."""
    v = VARIANTS[variant]
    env = os.environ.get("SEGAL_TOY_DIR")
    if env:
        return Path(env + v.suffix)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "segal-dsl" / f"toy{v.suffix}-v{v.version}"


def _texture(rng: np.random.Generator, cls: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Per-class stripe texture (frequency and orientation are class-specific), values in [-1, 1]."""
    freq = (0.15, 0.9, 0.55, 0.35, 0.75)[cls]
    angle = (0.0, 0.3, 1.2, 2.2, 0.8)[cls] + rng.normal(0, 0.15)
    phase = rng.uniform(0, 2 * np.pi)
    return np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)


def _shape_mask(rng: np.random.Generator, cls: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx = rng.uniform(8, SIZE - 8, size=2)
    r = rng.uniform(6, 14)
    if cls == 1:  # disc
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    if cls == 2:  # axis-aligned square
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    if cls == 3:  # upward triangle
        top, base = cy - r, cy + r
        half = (yy - top) / (2 * r) * r
        return (yy >= top) & (yy <= base) & (np.abs(xx - cx) <= half)
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)  # ring
    return (d <= r) & (d >= r * 0.55)


def render(index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image (H, W, 3) uint8 and label map (H, W) uint8 for one sample; a pure function of (index, seed)."""
    rng = np.random.default_rng([seed, VERSION, index])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    label = np.zeros((SIZE, SIZE), np.uint8)
    base = rng.uniform(70, 150, size=3)
    img = base[None, None, :] + 25 * _texture(rng, 0, yy, xx)[..., None]
    for _ in range(rng.integers(2, 5)):
        cls = int(rng.integers(1, len(CLASSES)))
        m = _shape_mask(rng, cls, yy, xx)
        colour = np.asarray(PALETTE[cls], np.float32) * 0.55 + rng.uniform(40, 110, size=3)
        tex = _texture(rng, cls, yy, xx)[..., None]
        img = np.where(m[..., None], colour[None, None, :] + 45 * tex, img)
        label[m] = cls
    img = img + rng.normal(0, 14, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), label


HARD_VERSION = 1
HARD_CLASSES = ("background", "plate", "line", "blob", "dot")
HARD_PALETTE = ((0, 0, 0), (200, 80, 80), (80, 200, 120), (90, 110, 230), (240, 220, 60))
HARD_SPLITS = {"train": 64, "val": 32}
VOID = PixelSettings.model_fields["ignore_index"].default   # the experiments' default ignore_index


def _segment_distance(yy: np.ndarray, xx: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Distance of every pixel centre to the segment p0-p1 (points as (y, x))."""
    d = p1 - p0
    t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.hypot(yy - (p0[0] + t * d[0]), xx - (p0[1] + t * d[1]))


def _hard_masks(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray):
    """(class, mask) in drawing order: 1-2 large plates, 2-3 lines 1-2 px wide, 2-4 small blobs, 0-3 dots."""
    for _ in range(rng.integers(1, 3)):
        cy, cx = rng.uniform(10, SIZE - 10, size=2)
        r = rng.uniform(7, 13)
        if rng.random() < 0.5:
            yield 1, (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        else:
            yield 1, (np.abs(yy - cy) <= r * 0.8) & (np.abs(xx - cx) <= r * rng.uniform(0.6, 1.2))
    for _ in range(rng.integers(2, 4)):
        p0 = rng.uniform(4, SIZE - 4, size=2)
        angle, length = rng.uniform(0, np.pi), rng.uniform(24, 56)
        p1 = np.clip(p0 + length * np.array([np.sin(angle), np.cos(angle)]), 0, SIZE - 1)
        yield 2, _segment_distance(yy, xx, p0, p1) <= rng.choice((0.5, 0.8))   # 1 or 2 px wide
    for cls, count, radius in ((3, rng.integers(2, 5), (2.0, 3.5)), (4, rng.integers(0, 4), (2.5, 4.0))):
        for _ in range(count):
            cy, cx = rng.uniform(4, SIZE - 4, size=2)
            yield cls, (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.uniform(*radius) ** 2


def render_hard(index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One sample of the `hard` variant, a pure function of (index, seed): background ~70% of the
    pixels, the rare `dot` class ~1-2%, thin lines, small blobs, and 0-2 void patches (label VOID,
    drawn last, with a clutter texture of their own) over ~5-10% of the pixels."""
    rng = np.random.default_rng([seed, HARD_VERSION, index, 1])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    label = np.zeros((SIZE, SIZE), np.uint8)
    img = rng.uniform(70, 150, size=3)[None, None, :] + 25 * _texture(rng, 0, yy, xx)[..., None]
    for cls, m in _hard_masks(rng, yy, xx):
        colour = np.asarray(HARD_PALETTE[cls], np.float32) * 0.55 + rng.uniform(40, 110, size=3)
        tex = _texture(rng, cls, yy, xx)[..., None] if cls == 1 else 0.0
        img = np.where(m[..., None], colour[None, None, :] + 45 * tex, img)
        label[m] = cls
    for _ in range(rng.choice(3, p=(0.2, 0.4, 0.4))):
        cy, cx = rng.uniform(0, SIZE, size=2)
        hy, hx = rng.uniform(5, 11, size=2)
        m = (np.abs(yy - cy) <= hy) & (np.abs(xx - cx) <= hx)
        img = np.where(m[..., None], rng.uniform(0, 255, size=(SIZE, SIZE, 3)), img)
        label[m] = VOID
    img = img + rng.normal(0, 14, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), label


@dataclass(frozen=True)
class Variant:
    """One toy dataset: classes and palette (the dataset class reads them), split sizes, the renderer,
    its version (part of the cache folder's name) and the folder suffix next to the easy one."""

    name: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    splits: dict[str, int]
    render: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    version: int
    suffix: str

    def stamp(self, seed: int) -> str:
        """The DONE file's text: which data a folder holds (the easy one's text predates the variants)."""
        kind = "" if self.name == "easy" else f" {self.name}"
        return f"segal-dsl toy dataset{kind} v{self.version} seed {seed}\n"


VARIANTS = {
    "easy": Variant("easy", CLASSES, PALETTE, SPLITS, render, VERSION, ""),
    "hard": Variant("hard", HARD_CLASSES, HARD_PALETTE, HARD_SPLITS, render_hard, HARD_VERSION, "-hard"),
}


def ensure(root: str | os.PathLike | None = None, seed: int = 0, variant: str = "easy") -> Path:
    """Generate the dataset under `root` once; safe when several ranks call it at the same time.

    Files are written to a temporary sibling and renamed into place, so a reader never sees half a
    dataset and a second writer just discards its copy. A folder that holds another variant or seed
    is an error (ValueError), never silently used.
    """
    v = VARIANTS[variant]
    root = Path(root) if root is not None else default_root(variant)
    if (root / "DONE").exists():
        found = (root / "DONE").read_text()
        if found != v.stamp(seed):
            raise ValueError(f"{root} holds {found.strip()!r}, not {v.stamp(seed).strip()!r}: "
                             "point data_root at another folder")
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".toy-", dir=root.parent))
    try:
        start = 0
        for split, count in v.splits.items():
            for sub in ("img_dir", "ann_dir"):
                (tmp / sub / split).mkdir(parents=True)
            for k in range(count):
                img, label = v.render(start + k, seed)
                name = f"toy_{start + k:04d}{SUFFIX}"
                Image.fromarray(img).save(tmp / "img_dir" / split / name)
                Image.fromarray(label, mode="L").save(tmp / "ann_dir" / split / name)
            start += count
        (tmp / "DONE").write_text(v.stamp(seed))
        try:
            if root.exists() and not (root / "DONE").exists():
                shutil.rmtree(root)  # a partial copy from an older, non-atomic writer
            os.rename(tmp, root)
        except OSError:
            if not (root / "DONE").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


if __name__ == "__main__":  # python -m segal_dsl.runtime.toy.generate [ROOT] [VARIANT]
    import sys

    print(ensure(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None,
                 variant=sys.argv[2] if len(sys.argv) > 2 else "easy"))
