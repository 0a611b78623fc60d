"""`ReconstructionLoss`: mean squared error per patch, averaged over the masked patches only.

Visible patches never contribute (their prediction gets no gradient): the encoder saw them, so
reconstructing them is not the pretext task (MAE, He et al. 2022). Registered in mmseg's LOSSES.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from mmseg.models.builder import LOSSES


@LOSSES.register_module()
class ReconstructionLoss(nn.Module):
    """loss = loss_weight · Σ_masked mean_d (pred − target)² / #masked.

    pred, target: (B, L, D) patch vectors; mask: (B, L), 1/True = masked (reconstructed).
    A batch without masked patches has loss 0 (not NaN).
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = "loss_rec"):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.shape[:2] != mask.shape:
            raise ValueError(f"reconstruction loss: pred {tuple(pred.shape)}, target {tuple(target.shape)} "
                             f"and mask {tuple(mask.shape)} do not match")
        m = mask.to(pred.dtype)
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        # torch.where, not a product: a NaN/inf prediction on a visible patch cannot leak in
        masked = torch.where(m > 0, per_patch, torch.zeros_like(per_patch))
        return self.loss_weight * masked.sum() / m.sum().clamp_min(1.0)
