"""Per-round pictures under work_dir/<visualize.dir>/round{r}/: labels (overlay or side by side) + score maps.

The reference (docs/reference.md §7): the folder was relative to the CWD, the images were drawn from the global numpy RNG
(shifting every later random draw), image mode crashed, and score maps came from the post-reset model.
Here the folder is under the work dir, the picks use their own generator, and the score maps are the
ones the query itself computed (before any reset).
"""

from __future__ import annotations

import os.path as osp

import mmcv
import numpy as np

from . import viz


class Visualizer:
    """Renders a fixed sample of pool images after the initial labels and after every query (rank 0)."""

    def __init__(self, runner, size: int, overlay: bool, out_dir: str):
        self.runner, self.overlay, self.out_dir = runner, overlay, out_dir
        n = len(runner.labels)
        rng = np.random.default_rng([int(runner.data.seed), 0x5E6A1])  # own stream: no shifted draws
        self.indices = set(rng.choice(n, size=min(size, n), replace=False).tolist())
        self.previous: dict[int, np.ndarray] = {}

    @classmethod
    def from_config(cls, runner, cfg) -> Visualizer | None:
        """From the contract's `active_learning.visualize` (None: no pictures)."""
        if cfg is None:
            return None
        return cls(runner, cfg.size, cfg.overlay, osp.join(runner.work_dir, cfg.dir))

    def _image(self, index: int, shape: tuple[int, int]) -> np.ndarray:
        q = self.runner.data.query
        img = mmcv.imread(osp.join(q.img_dir, q.img_infos[index]["filename"]), channel_order="rgb")
        return mmcv.imresize(img, (shape[1], shape[0])) if img.shape[:2] != tuple(shape) else img

    def render(self, rnd: int, labels, scores: dict[int, np.ndarray]) -> None:
        if self.runner.rank != 0:
            return
        for i in sorted(self.indices):
            if labels.mode == "image":
                shape = self.runner._pool_image_shape(i)
                mask = np.full(shape, bool(labels.count(i)))
            else:
                mask = labels.mask(i)
                shape = mask.shape
            img = self._image(i, shape)
            prev = self.previous.get(i)
            new = mask & ~prev if prev is not None else None
            pic = viz.overlay(img, mask, new) if self.overlay else viz.side_by_side(img, mask)
            viz.save_png(osp.join(self.out_dir, f"round{rnd}", f"{i}.png"), pic)
            if i in scores:
                title = f"round {rnd} scores ({self.runner.contract.heuristic})"
                viz.save_png(osp.join(self.out_dir, f"round{rnd}", f"{i}_uncertainty.png"),
                             viz.score_map(img, scores[i], title=title))
            self.previous[i] = mask
