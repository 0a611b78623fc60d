"""`MultiTaskSegmentor`: an EncoderDecoder whose ViT encoder also feeds an MAE decoder.

Stages (`self.stage`, set by `MultiTaskActiveRunner` before each training step):
  - 'mae': reconstruction loss only (warm-up);
  - 'multitask': segmentation losses on the bought labels + reconstruction loss on the same batch
    (two encoder passes: full image for segmentation, visible patches for reconstruction), summed,
    so the optimizer hook takes one step for both heads.
Config: `mae_head` (an `MAEDecoderHead`; the reference's `auxiliary_head=dict(type='MaskDecodeHead')`
is accepted as well), `mae_config=dict(mask_ratio=0.5)`, `backbone.patch_size` (the head follows it).
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
from mmseg.core import add_prefix
from mmseg.models import builder
from mmseg.models.builder import SEGMENTORS
from mmseg.models.segmentors import EncoderDecoder

from .backbone import random_patch_mask

STAGES = ("mae", "multitask")
_MAE_HEAD_TYPES = ("MAEDecoderHead", "MaskDecodeHead")


def _crop_to_patches(img: torch.Tensor, p: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    return img[..., : h - h % p, : w - w % p]


@SEGMENTORS.register_module()
class MultiTaskSegmentor(EncoderDecoder):

    def __init__(self, backbone, decode_head, mae_head=None, mae_config=None, neck=None, auxiliary_head=None,
                 train_cfg=None, test_cfg=None, pretrained=None, init_cfg=None):
        if neck is not None:
            raise ValueError("MultiTaskSegmentor: the MAE path reads raw ViT tokens, so no neck is supported")
        if mae_head is None and isinstance(auxiliary_head, dict) and auxiliary_head.get("type") in _MAE_HEAD_TYPES:
            mae_head, auxiliary_head = auxiliary_head, None  # the reference's spelling
        if mae_head is None:
            raise ValueError("MultiTaskSegmentor needs model.mae_head (an MAEDecoderHead)")
        super().__init__(backbone, decode_head, neck=None, auxiliary_head=auxiliary_head, train_cfg=train_cfg,
                         test_cfg=test_cfg, pretrained=pretrained, init_cfg=init_cfg)
        if not hasattr(self.backbone, "forward_visible"):
            raise ValueError("MultiTaskSegmentor needs backbone type='SharedVisionTransformer'")
        mae_head = copy.deepcopy(dict(mae_head))
        if mae_head.get("type") == "MaskDecodeHead":
            mae_head["type"] = "MAEDecoderHead"
        p = self.backbone.patch_size
        if mae_head.setdefault("patch_size", p) != p:
            raise ValueError(f"mae_head.patch_size={mae_head['patch_size']} but backbone.patch_size={p}")
        mae_head.setdefault("in_channels", self.backbone.cls_token.shape[-1])
        self.mae_head = builder.build_head(mae_head)
        cfg = dict(mae_config or {})
        self.mask_ratio = float(cfg.get("mask_ratio", 0.5))
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"model.mae_config.mask_ratio must be in (0, 1), got {self.mask_ratio}")
        self.stage = "multitask"

    # ------------------------------------------------------------------ MAE path

    def forward_mae(self, img: torch.Tensor, mask: torch.Tensor | None = None,
                    generator: torch.Generator | None = None):
        """Reconstruct `img` from its visible patches: (pred (B, L, p·p·C), mask (B, L) bool, img used).

        The image is cropped to a multiple of the patch size; `mask` defaults to a random
        `mask_ratio` of the patches per image (from `generator` when given).
        """
        img = _crop_to_patches(img, self.backbone.patch_size)
        h, w = self.backbone.grid(img)
        if mask is None:
            mask = random_patch_mask(img.shape[0], h * w, self.mask_ratio, generator, img.device)
        visible, hw = self.backbone.forward_visible(img, mask)
        return self.mae_head(visible, mask, hw), mask, img

    def mae_losses(self, img: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        pred, mask, img = self.forward_mae(img, generator=generator)
        return add_prefix(self.mae_head.losses(pred, img, mask), "mae")

    @torch.no_grad()
    def reconstruct(self, img: torch.Tensor, mask: torch.Tensor | None = None,
                    generator: torch.Generator | None = None):
        """(reconstruction (B, C, H, W) in the normalised image space, mask (B, L), cropped img)."""
        pred, mask, img = self.forward_mae(img, mask, generator)
        from .mae_head import unpatchify

        pix = self.mae_head.to_pixels(pred, img)
        return unpatchify(pix, self.backbone.patch_size, self.backbone.grid(img), img.shape[1]), mask, img

    @torch.no_grad()
    def reconstruction_error(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-pixel error map (B, H', W') of reconstructing each patch while it is masked.

        ceil(1/mask_ratio) passes over one random permutation of the patches, so every patch is
        masked at least once; a patch's error is its mean over the passes that masked it (the
        reference scored one random mask and counted visible patches' errors too). Error =
        mean over channels of (prediction − target)² in the loss's space (the normalised image;
        per-patch normalised with norm_pix_loss).
        H', W' = the image cropped to a multiple of the patch size.
        """
        img = _crop_to_patches(img, self.backbone.patch_size)
        b = img.shape[0]
        h, w = self.backbone.grid(img)
        length = h * w
        n_mask = min(max(int(round(self.mask_ratio * length)), 1), length - 1)
        passes = -(-length // n_mask)
        perm = torch.stack([torch.randperm(length, generator=generator) for _ in range(b)])
        pix = torch.zeros(b, length, self.backbone.patch_size ** 2, device=img.device)
        count = torch.zeros(b, length, device=img.device)
        target = self.mae_head.target(img)
        for k in range(passes):
            pos = (torch.arange(n_mask) + k * n_mask) % length
            mask = torch.zeros(b, length, dtype=torch.bool)
            mask.scatter_(1, perm[:, pos], True)
            mask = mask.to(img.device)
            pred, _, _ = self.forward_mae(img, mask)
            err = ((pred - target) ** 2).reshape(b, length, -1, img.shape[1]).mean(dim=-1)  # (B, L, p·p)
            pix += err * mask.unsqueeze(-1)
            count += mask
        pix = pix / count.clamp_min(1).unsqueeze(-1)
        p = self.backbone.patch_size
        return pix.reshape(b, h, w, p, p).permute(0, 1, 3, 2, 4).reshape(b, h * p, w * p)

    # ------------------------------------------------------------------ training

    def forward_train(self, img, img_metas, gt_semantic_seg=None, **kwargs):
        if self.stage not in STAGES:
            raise ValueError(f"MultiTaskSegmentor.stage must be one of {STAGES}, got {self.stage!r}")
        losses = {}
        if self.stage == "multitask":
            if gt_semantic_seg is None:
                raise ValueError("the multitask stage needs gt_semantic_seg")
            losses.update(super().forward_train(img, img_metas, gt_semantic_seg))
        losses.update(self.mae_losses(img))
        if self.stage == "mae" and dist.is_available() and dist.is_initialized():
            # DDP without find_unused_parameters: the idle segmentation head joins the graph with a
            # zero term (the reference forced find_unused_parameters=True whenever it warmed up)
            idle = [p.sum() for n, p in self.named_parameters()
                    if p.requires_grad and not n.startswith(("backbone.", "mae_head."))]
            if idle:
                losses["mae.loss_rec"] = losses["mae.loss_rec"] + 0.0 * torch.stack(idle).sum()
        return losses

    def val_losses(self, data_batch: dict, generator: torch.Generator | None = None) -> dict:
        """Both losses without gradients (stage-independent), keys suffixed `_val`."""
        with torch.no_grad():
            img, metas = data_batch["img"], data_batch["img_metas"]
            out = {}
            gt = data_batch.get("gt_semantic_seg")
            if gt is not None:
                x = self.extract_feat(img)
                out.update(self._decode_head_forward_train(x, metas, gt))
            out.update(self.mae_losses(img, generator=generator))
        return {f"{k}_val": float(v.mean()) for k, v in out.items() if "loss" in k}


def unwrap(model):
    return getattr(model, "module", model)

