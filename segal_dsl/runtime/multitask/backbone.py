"""`SharedVisionTransformer`: mmseg's `VisionTransformer` plus an MAE path over the visible patches.

`forward(img)` is mmseg's ViT (the segmentation path, full image). `forward_visible(img, mask)`
embeds every patch, adds the position embedding resized to the image's patch grid (any H, W the
patch size divides), drops the masked patches and runs the same transformer layers on the rest.
"""

from __future__ import annotations

import torch
from mmseg.models.backbones.vit import VisionTransformer
from mmseg.models.builder import BACKBONES


def random_patch_mask(batch: int, length: int, ratio: float, generator: torch.Generator | None = None,
                      device=None) -> torch.Tensor:
    """(B, L) bool, True = masked: exactly round(ratio·L) random patches per image (≥1 stays visible)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {ratio!r}")
    n_mask = min(int(round(ratio * length)), length - 1)
    noise = torch.rand(batch, length, generator=generator)
    order = noise.argsort(dim=1)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask.scatter_(1, order[:, :n_mask], True)
    return mask.to(device) if device is not None else mask


@BACKBONES.register_module()
class SharedVisionTransformer(VisionTransformer):
    """One ViT encoder shared by the segmentation head and the MAE decoder."""

    def grid(self, img: torch.Tensor) -> tuple[int, int]:
        h, w = img.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"MAE needs an image size divisible by the patch size {p}, got {h}x{w}")
        return h // p, w // p

    def forward_visible(self, img: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Tokens (B, Lv, C) of the visible patches (mask False), in row-major patch order."""
        hw = self.grid(img)
        b = img.shape[0]
        x, hw_shape = self.patch_embed(img)
        if tuple(hw_shape) != hw or mask.shape != (b, hw[0] * hw[1]):
            raise ValueError(f"patch mask {tuple(mask.shape)} does not fit the patch grid {hw}")
        counts = (~mask).sum(dim=1)
        if not bool((counts == counts[0]).all()):
            raise ValueError("every image of a batch needs the same number of visible patches")
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        x = self._pos_embeding(x, hw_shape, self.pos_embed)
        cls, x = x[:, :1], x[:, 1:]
        x = x[~mask].reshape(b, int(counts[0]), x.shape[-1])
        if self.with_cls_token:
            x = torch.cat((cls, x), dim=1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
        if self.with_cls_token:
            x = x[:, 1:]
        return x, hw
