"""Deterministic synthetic segmentation data (numpy + Pillow only) in mmseg's img_dir/ann_dir layout.

Why synthetic: the toy experiment must run on a laptop CPU with no download. Classes differ by shape
*and* by texture, and colours overlap between classes, so a model needs spatial context (a 1x1 colour
classifier is not enough) and active learning has something to find.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

VERSION = 1
CLASSES = ("background", "disc", "square", "triangle", "ring")
PALETTE = ((0, 0, 0), (220, 60, 60), (60, 180, 75), (60, 90, 220), (240, 200, 40))
SIZE = 64
SPLITS = {"train": 64, "val": 24}
SUFFIX = ".png"


def default_root() -> Path:
    """Where the toy data lives: $SEGAL_TOY_DIR, else the user cache (never the repo)."""
    env = os.environ.get("SEGAL_TOY_DIR")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "segal-dsl" / f"toy-v{VERSION}"


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


def ensure(root: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Generate the dataset under `root` once; safe when several ranks call it at the same time.

    Files are written to a temporary sibling and renamed into place, so a reader never sees half a
    dataset and a second writer just discards its copy.
    """
    root = Path(root) if root is not None else default_root()
    if (root / "DONE").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".toy-", dir=root.parent))
    try:
        start = 0
        for split, count in SPLITS.items():
            for sub in ("img_dir", "ann_dir"):
                (tmp / sub / split).mkdir(parents=True)
            for k in range(count):
                img, label = render(start + k, seed)
                name = f"toy_{start + k:04d}{SUFFIX}"
                Image.fromarray(img).save(tmp / "img_dir" / split / name)
                Image.fromarray(label, mode="L").save(tmp / "ann_dir" / split / name)
            start += count
        (tmp / "DONE").write_text(f"segal-dsl toy dataset v{VERSION} seed {seed}\n")
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


if __name__ == "__main__":  # python -m segal_dsl.runtime.toy.generate [ROOT]
    import sys

    print(ensure(sys.argv[1] if len(sys.argv) > 1 else None))
