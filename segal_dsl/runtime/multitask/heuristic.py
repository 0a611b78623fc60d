"""`mps` (mask prediction score): the MAE reconstruction error map, optionally mixed with RIPU.

Registered in the runtime's heuristic registry with `needs_model = True`: the query step passes the
model, the collated query item and a seeded generator besides the posteriors (query.py `_scores`).

    err  = reconstruction error of every pixel while its patch is masked (MultiTaskSegmentor.
           reconstruction_error), over `crop_size` tiles (stride ½ the smaller side, overlaps
           averaged; whole image when crop_size is None), resized to the label resolution, ÷ max
    s    = err                                            if mix_factor == 0
    s    = (mix_factor · ripu/max(ripu) + err) / max(…)   otherwise (ripu with k, use_entropy, categories)

With `exploration` (the reference's `pixel` branch, its `expl_schedule`), tiles slide by ⅕ of the smaller
side and, for query q = 0 … R-1 of R:
    m    = 1 (constant)   or   0.8 · max(R - q - 1, 0) / (R - 1) (linear; 0 for R = 1)
    s    = ((1 - m) · ripu/max(ripu) + m · err) / max(…)   (err alone without use_entropy, or when m = 1)

Differences from the reference (§4): seeded masking (same seed, same scores), every patch is scored
while masked (the reference also counted the error of visible patches), the mix factor is a parameter
(hard-coded 0.8 there, and 1.0 in its visualisation), any crop size the patch size divides.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..heuristics import check_4d, register, ripu


def _normalise(x: torch.Tensor) -> torch.Tensor:
    m = x.flatten(1).amax(dim=1).clamp_min(1e-12)
    return x / m[:, None, None]


def _tiles(length: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def sliding_error(module, img: torch.Tensor, crop_size, generator: torch.Generator | None,
                  stride_share: float = 0.5) -> torch.Tensor:
    """Reconstruction error (B, H, W) over tiles of `crop_size` (int or (h, w); None = whole image), slid by
    `stride_share` of the tile's smaller side."""
    p = module.backbone.patch_size
    h, w = img.shape[-2:]
    if crop_size is None:
        ch, cw = h, w
    else:
        ch, cw = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        ch, cw = min(int(ch), h), min(int(cw), w)
    ch, cw = ch - ch % p, cw - cw % p
    if ch < p or cw < p:
        raise ValueError(f"mps: image {h}x{w} / crop_size {crop_size} holds no whole {p}x{p} patch")
    stride = max(int(min(ch, cw) * stride_share), 1)
    acc = torch.zeros(img.shape[0], h, w, device=img.device)
    cnt = torch.zeros(1, h, w, device=img.device)
    for y in _tiles(h, ch, stride):
        for x in _tiles(w, cw, stride):
            acc[:, y:y + ch, x:x + cw] += module.reconstruction_error(img[..., y:y + ch, x:x + cw], generator)
            cnt[:, y:y + ch, x:x + cw] += 1
    return acc / cnt.clamp_min(1)


def _image(model, data: dict) -> torch.Tensor:
    from mmcv.parallel import scatter

    dev = next(model.parameters()).device
    data = scatter(data, [dev.index if dev.type == "cuda" else -1])[0]
    img = data["img"]
    return img[0] if isinstance(img, (list, tuple)) else img


@register("mps")
def mps(probs: torch.Tensor, model=None, data: dict | None = None, generator: torch.Generator | None = None,
        k: int = 1, use_entropy: bool = True, categories: int | None = None, crop_size=None,
        mix_factor: float = 0.8, exploration: str | None = None, query: tuple[int, int] = (0, 1)) -> torch.Tensor:
    check_4d(probs)
    if model is None or data is None:
        raise ValueError("the mps heuristic needs the model and the query image (MultiTaskActiveRunner)")
    module = getattr(model, "module", model)
    if not hasattr(module, "reconstruction_error"):
        raise ValueError("the mps heuristic needs model.type='MultiTaskSegmentor' (an MAE decoder)")
    if not 0.0 <= float(mix_factor) <= 1.0:
        raise ValueError(f"mps: mix_factor must be in [0, 1], got {mix_factor!r}")
    img = _image(module, data)
    err = sliding_error(module, img, crop_size, generator, 0.2 if exploration is not None else 0.5)
    err = F.interpolate(err.unsqueeze(1), size=probs.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    s = _normalise(err.to(probs.device).float())
    if exploration is not None:
        m = exploration_weight(exploration, *query)
        if use_entropy and m < 1:
            r = _normalise(ripu(probs, k=k, use_entropy=True, categories=categories))
            s = _normalise((1 - m) * r + m * s)
        return s.float()
    if mix_factor > 0:
        r = _normalise(ripu(probs, k=k, use_entropy=use_entropy, categories=categories))
        s = _normalise(float(mix_factor) * r + s)
    return s.float()


mps.needs_model = True


def exploration_weight(schedule: str, query: int, queries: int) -> float:
    """The reconstruction error's weight m at query `query` (0-based) of `queries` (see the module doc)."""
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 0.8 * max(queries - query - 1, 0) / (queries - 1) if queries > 1 else 0.0
    raise ValueError(f"mps: exploration must be `constant` or `linear`, got {schedule!r}")
