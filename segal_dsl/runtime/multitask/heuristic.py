"""`mps` (mask prediction score): the MAE reconstruction error map, optionally mixed with RIPU.

Registered in the runtime's heuristic registry with `needs_model = True`: the query step passes the
model, the collated query item and a seeded generator besides the posteriors (query.py `_scores`).

    err  = reconstruction error of every pixel while its patch is masked (MultiTaskSegmentor.
           reconstruction_error), over `crop_size` tiles (stride ½ the smaller side, overlaps
           averaged; whole image when crop_size is None), resized to the label resolution, ÷ max
    s    = err                                            if mix_factor == 0
    s    = (mix_factor · ripu/max(ripu) + err) / max(…)   otherwise (ripu with k, use_entropy, categories)

Differences from the reference (§4): seeded masking (same seed, same scores), every patch is scored
while masked (the reference also counted the error of visible patches), the mix factor is a parameter
(hard-coded 0.8 there, and 1.0 in its visualisation), any crop size the patch size divides.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..heuristics import _check_4d, register, ripu


def _normalise(x: torch.Tensor) -> torch.Tensor:
    m = x.flatten(1).amax(dim=1).clamp_min(1e-12)
    return x / m[:, None, None]


def _tiles(length: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def sliding_error(module, img: torch.Tensor, crop_size, generator: torch.Generator | None) -> torch.Tensor:
    """Reconstruction error (B, H, W) over tiles of `crop_size` (int or (h, w); None = whole image)."""
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
    stride = max(min(ch, cw) // 2, 1)
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
        mix_factor: float = 0.8) -> torch.Tensor:
    _check_4d(probs)
    if model is None or data is None:
        raise ValueError("the mps heuristic needs the model and the query image (MultiTaskActiveRunner)")
    module = getattr(model, "module", model)
    if not hasattr(module, "reconstruction_error"):
        raise ValueError("the mps heuristic needs model.type='MultiTaskSegmentor' (an MAE decoder)")
    if not 0.0 <= float(mix_factor) <= 1.0:
        raise ValueError(f"mps: mix_factor must be in [0, 1], got {mix_factor!r}")
    img = _image(module, data)
    err = sliding_error(module, img, crop_size, generator)
    err = F.interpolate(err.unsqueeze(1), size=probs.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    s = _normalise(err.to(probs.device).float())
    if mix_factor > 0:
        r = _normalise(ripu(probs, k=k, use_entropy=use_entropy, categories=categories))
        s = _normalise(float(mix_factor) * r + s)
    return s.float()


mps.needs_model = True
