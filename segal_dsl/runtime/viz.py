"""Pictures of what a query bought: overlays, side-by-side masks, score maps (Pillow + matplotlib Agg, no mmcv).

All functions take and return uint8 H×W×3 arrays; `save_png` writes them atomically so a viewer or
a killed run never leaves a truncated PNG in the work dir.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from segal_dsl.runtime.labels import atomic_write_bytes

# New labels of this round: a saturated colour that a dimmed image cannot contain.
NEW_COLOUR = np.array([255, 40, 200], dtype=np.float32)


def _rgb(img: Any) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"image must be H×W×3 (or H×W), got {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (de-normalise it first), got {a.dtype}")
    return a[:, :, :3]


def _fit(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize img to the mask's (H, W): masks live at scale_size, images may not (docs/reference.md §7)."""
    if img.shape[:2] == shape:
        return img
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((shape[1], shape[0]), Image.BILINEAR))


def _mask(m: Any, what: str) -> np.ndarray:
    a = np.asarray(m)
    if a.ndim != 2:
        raise ValueError(f"{what} must be an (H, W) mask, got {a.shape}")
    return a.astype(bool)


def overlay(img: Any, labelled: Any, new: Any | None = None, alpha: float = 0.5) -> np.ndarray:
    """Image dimmed by `alpha`, labelled pixels blended towards white, this round's new ones in magenta.

    Same look as the reference's 50/50 blend with a white-where-labelled image, plus the new labels
    highlighted so a round's picks are visible against the older ones.
    """
    lab = _mask(labelled, "labelled")
    base = _fit(_rgb(img), lab.shape).astype(np.float32)
    out = base * (1 - alpha)
    out[lab] += alpha * 255
    if new is not None:
        nw = _mask(new, "new")
        if nw.shape != lab.shape:
            raise ValueError(f"new mask {nw.shape} does not match labelled mask {lab.shape}")
        out[nw] = 0.25 * base[nw] + 0.75 * NEW_COLOUR
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def side_by_side(img: Any, mask: Any) -> np.ndarray:
    """Image | binary mask (white = labelled), H × 2W × 3."""
    m = _mask(mask, "mask")
    left = _fit(_rgb(img), m.shape)
    right = np.repeat((m.astype(np.uint8) * 255)[:, :, None], 3, axis=2)
    return np.concatenate([left, right], axis=1)


def score_map(
    img: Any, scores: Any, alpha: float = 0.7, title: str | None = None, dpi: int = 100
) -> np.ndarray:
    """Image with the heuristic's score map in viridis at `alpha` and a colour bar, as uint8 RGB.

    Uses a bare matplotlib Figure on the Agg canvas (no pyplot state), so it is safe off the main
    thread and on headless nodes. Pass the scores of the model that scored the query, before any
    weight reset (docs/reference.md §10 plotted the post-reset model).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = np.asarray(scores, dtype=np.float32)
    if s.ndim != 2:
        raise ValueError(f"scores must be (H, W), got {s.shape}")
    base = _fit(_rgb(img), s.shape)
    h, w = s.shape
    fig = Figure(figsize=(max(w / dpi, 2.0) * 1.25, max(h / dpi, 2.0)), dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(base)
    finite = s[np.isfinite(s)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(s, cmap="viridis", alpha=alpha, vmin=lo, vmax=hi if hi > lo else lo + 1e-6)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def save_png(path: str | os.PathLike[str], arr: Any) -> Path:
    """Write a uint8 H×W×3 (or H×W) array as PNG atomically; parent directories are created."""
    from PIL import Image

    a = np.asarray(arr)
    if a.dtype != np.uint8 or a.ndim not in (2, 3):
        raise ValueError(f"save_png needs a uint8 H×W(×3) array, got {a.dtype} {a.shape}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    atomic_write_bytes(p, buf.getvalue())
    return p
