"""`MAEDecoderHead`: a transformer MAE decoder predicting the pixels of every patch.

Input: the encoder's tokens of the *visible* patches plus the patch mask. Mask tokens fill the
masked positions, a fixed 2-D sin-cos position embedding is computed for the actual patch grid (so
any image size the patch size divides works, not only the square `img_size` of the reference),
then `num_layers` transformer layers and a linear projection to p·p·C values per patch.
Targets are the patches of the normalised input image (optionally normalised per patch,
`norm_pix_loss`, as in MAE); the loss is `ReconstructionLoss` over the masked patches only.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.runner import BaseModule, ModuleList
from mmseg.models.backbones.vit import TransformerEncoderLayer
from mmseg.models.builder import HEADS, build_loss


def patchify(img: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p·p·C), patches in row-major order (as PatchEmbed flattens them)."""
    b, c, h, w = img.shape
    if h % p or w % p:
        raise ValueError(f"image {h}x{w} is not divisible by the patch size {p}")
    x = img.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(x: torch.Tensor, p: int, hw: tuple[int, int], c: int = 3) -> torch.Tensor:
    """(B, L, p·p·C) -> (B, C, h·p, w·p) for a patch grid hw = (h, w)."""
    b = x.shape[0]
    h, w = hw
    x = x.reshape(b, h, w, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, h * p, w * p)


def sincos_pos_embed(dim: int, hw: tuple[int, int], device=None) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (1, h·w, dim) for a patch grid (MAE's formula)."""
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a dimension divisible by 4, got {dim}")
    h, w = hw
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64, device=device) / (dim / 4.0))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=device),
                            torch.arange(w, dtype=torch.float64, device=device), indexing="ij")
    out = []
    for pos in (xs.reshape(-1), ys.reshape(-1)):
        ang = pos[:, None] * omega[None, :]
        out += [torch.sin(ang), torch.cos(ang)]
    return torch.cat(out, dim=1).float().unsqueeze(0)


@HEADS.register_module()
class MAEDecoderHead(BaseModule):
    """MAE decoder: visible tokens + mask tokens -> per-patch pixels.

    Args:
        in_channels: encoder token width (the backbone's `embed_dims`; filled in by the segmentor).
        patch_size: the backbone's patch size (filled in by the segmentor).
        embed_dims, num_layers, num_heads, mlp_ratio: decoder transformer size (reference: 512, 8, 16, 4).
        out_channels: image channels (3).
        norm_pix_loss: targets normalised per patch (zero mean, unit variance) as in MAE.
        loss_rec: the loss config; its `loss_weight` weighs reconstruction against segmentation.
    """

    def __init__(self, in_channels: int = 768, patch_size: int = 16, embed_dims: int = 512,
                 num_layers: int = 8, num_heads: int = 16, mlp_ratio: int = 4, out_channels: int = 3,
                 norm_pix_loss: bool = False, norm_cfg=None, loss_rec=None, init_cfg=None):
        norm_cfg = dict(type="LN") if norm_cfg is None else norm_cfg
        loss_rec = dict(type="ReconstructionLoss", loss_weight=1.0) if loss_rec is None else loss_rec
        super().__init__(init_cfg=init_cfg)
        self.in_channels, self.patch_size, self.embed_dims = in_channels, int(patch_size), embed_dims
        self.out_channels, self.norm_pix_loss = out_channels, bool(norm_pix_loss)
        self.decoder_embed = nn.Linear(in_channels, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.layers = ModuleList([
            TransformerEncoderLayer(embed_dims=embed_dims, num_heads=num_heads,
                                    feedforward_channels=mlp_ratio * embed_dims, qkv_bias=True,
                                    norm_cfg=norm_cfg, batch_first=True)
            for _ in range(num_layers)])
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.pred = nn.Linear(embed_dims, self.patch_size ** 2 * out_channels)
        self.loss_rec = build_loss(loss_rec)

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is None:
            nn.init.normal_(self.mask_token, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward(self, visible: torch.Tensor, mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """visible (B, Lv, in_channels) in patch order, mask (B, L) bool -> prediction (B, L, p·p·C)."""
        b, length = mask.shape
        x = self.decoder_embed(visible)
        full = self.mask_token.to(x.dtype).expand(b, length, -1)
        keep = (~mask).unsqueeze(-1)
        # scatter the visible tokens back to their positions (row-major order of ~mask)
        idx = torch.cumsum((~mask).long(), dim=1) - 1
        idx = idx.clamp_min(0).unsqueeze(-1).expand(-1, -1, x.shape[-1])
        placed = torch.gather(x, 1, idx) if x.shape[1] else torch.zeros_like(full)
        full = torch.where(keep, placed, full)
        full = full + sincos_pos_embed(self.embed_dims, hw, x.device).to(x.dtype)
        for layer in self.layers:
            full = layer(full)
        return self.pred(self.norm(full))

    def target(self, img: torch.Tensor) -> torch.Tensor:
        t = patchify(img, self.patch_size)
        if self.norm_pix_loss:
            mean, var = t.mean(dim=-1, keepdim=True), t.var(dim=-1, keepdim=True)
            t = (t - mean) / (var + 1e-6) ** 0.5
        return t

    def to_pixels(self, pred: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        """Prediction -> patch vectors in the normalised image space (undoes norm_pix_loss)."""
        if not self.norm_pix_loss:
            return pred
        t = patchify(img, self.patch_size)
        mean, var = t.mean(dim=-1, keepdim=True), t.var(dim=-1, keepdim=True)
        return pred * (var + 1e-6) ** 0.5 + mean

    def losses(self, pred: torch.Tensor, img: torch.Tensor, mask: torch.Tensor) -> dict:
        return {self.loss_rec.loss_name: self.loss_rec(pred, self.target(img), mask)}
