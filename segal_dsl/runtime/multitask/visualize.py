"""Reconstruction pictures: original | visible patches | reconstruction, one PNG per sampled image.

Written by rank 0 to `<work_dir>/<mae_viz_dir>/iter{N}/sample_{pool index}.png` (mae_viz_dir as the
user wrote it, relative to the work dir; the reference kept only its basename). The images are a
fixed sample of the query pool, drawn with the run's own generator; each picture masks its image
with a generator seeded by (seed, image), so successive pictures of one image compare. Images
larger than the backbone's `img_size` are centre-cropped to it (the reference took a random crop).
"""

from __future__ import annotations

import os.path as osp

import numpy as np
import torch
from mmcv.parallel import collate, scatter

from .. import viz
from .segmentor import unwrap


def _denorm(x: torch.Tensor, metas: dict) -> np.ndarray:
    """(3, H, W) normalised tensor -> uint8 RGB (H, W, 3) with the pipeline's img_norm_cfg."""
    a = x.detach().float().cpu().numpy().transpose(1, 2, 0)
    norm = metas.get("img_norm_cfg")
    if norm is not None:
        a = a * np.asarray(norm["std"], np.float32) + np.asarray(norm["mean"], np.float32)
        if not norm.get("to_rgb", True):
            a = a[..., ::-1]
    else:  # unknown normalisation: stretch to the visible range
        a = (a - a.min()) / max(float(a.max() - a.min()), 1e-6) * 255
    return np.clip(a, 0, 255).astype(np.uint8)


class ReconstructionViz:
    def __init__(self, runner, out_dir: str, count: int):
        self.runner, self.out_dir = runner, out_dir
        n = len(runner.data.query)
        rng = np.random.default_rng([int(runner.data.seed), 0x3AE])
        self.indices = sorted(rng.choice(n, size=min(count, n), replace=False).tolist())

    def _item(self, index: int):
        data = collate([self.runner.data.query[index]], samples_per_gpu=1)
        module = unwrap(self.runner.model)
        dev = next(module.parameters()).device
        data = scatter(data, [dev.index if dev.type == "cuda" else -1])[0]
        img, metas = data["img"], data["img_metas"]
        img = img[0] if isinstance(img, (list, tuple)) else img
        metas = metas[0] if isinstance(metas, (list, tuple)) else metas
        metas = metas[0] if isinstance(metas, (list, tuple)) else metas
        return img, metas

    def render(self, it: int) -> None:
        if self.runner.rank != 0:
            return
        module = unwrap(self.runner.model)
        module.eval()
        p = module.backbone.patch_size
        size = module.backbone.img_size
        for index in self.indices:
            img, metas = self._item(index)
            h, w = img.shape[-2:]
            ch, cw = min(h, size[0]), min(w, size[1])
            ch, cw = ch - ch % p, cw - cw % p
            y, x = (h - ch) // 2, (w - cw) // 2
            img = img[..., y:y + ch, x:x + cw]
            g = torch.Generator().manual_seed(int(self.runner.data.seed) * 1_000_003 + index)
            rec, mask, img = module.reconstruct(img, generator=g)
            gh, gw = ch // p, cw // p
            m = mask[0].reshape(gh, gw).repeat_interleave(p, 0).repeat_interleave(p, 1)  # True = masked
            visible = torch.where(m, torch.zeros_like(img[0]), img[0])
            pasted = torch.where(m, rec[0], img[0])
            orig = _denorm(img[0], metas)
            vis = _denorm(visible, metas)
            vis[m.cpu().numpy()] = 127  # masked patches grey
            panels = [orig, vis, _denorm(pasted, metas)]
            gap = np.full((ch, 2, 3), 255, np.uint8)
            pic = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
            viz.save_png(osp.join(self.out_dir, f"iter{it}", f"sample_{index}.png"), pic)
