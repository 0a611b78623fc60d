"""`MultiTaskActiveRunner`: the AL runner with MAE reconstruction trained alongside segmentation.

Everything (label state, budgets, queries, resume, checkpoints, report) is `ActiveLearningRunner`'s;
only training differs:
  - an optional MAE-only warm-up (`mae_warmup_epochs`, the schedule's `warmup N`; epochs or
    iterations per `runner.schedule_unit`) before round 0's training, inside workflow step 0;
  - stage 'multitask' for every round (segmentation on bought labels + reconstruction, one optimizer
    step), or stage 'mae' throughout for `runner.warmup_only=True` (no queries, no mIoU);
  - validation of both losses every `multitask_validation_iter` iterations (`mae_val_iter` in the
    MAE stage; it defaults to the former), logged as `loss_seg_val` / `loss_rec_val`;
  - reconstruction pictures every `mae_viz_interval` iterations under `<work_dir>/<mae_viz_dir>/iter{N}/`.

Reference defects fixed (docs/reference.md §1c, §6): every optional key is read with a default and
type-checked before any training (it read `runner.warmup_only` and `mae_val_iter` unguarded, and
called a missing `val_mae`); `reset_each_round` restarts weights, optimizer and LR schedule for
*every* round, round 0 after a warm-up included (the reference skipped the first round, whichever
it was), and resets to the warmed-up weights rather than throwing the warm-up away; `mae_viz_dir` and
`mask_dir` are used as written, relative to the work dir (it kept the basename only / ignored it);
visualisation interval and count are config keys (hard-coded 500 / 10 there); validation and
pictures never shift the training random streams.
"""

from __future__ import annotations

import contextlib
import os
import os.path as osp
import random

import numpy as np
import torch
from mmcv.parallel import collate, scatter
from mmcv.runner import RUNNERS

from ..loaders import iters_per_epoch, train_loader
from ..runner import ActiveLearningRunner, barrier
from .segmentor import unwrap
from .visualize import ReconstructionViz

WARMUP_WEIGHTS = "warmup_weights.pth"


@contextlib.contextmanager
def preserved_rng():
    """Run something random (validation augmentations, picture masks) without shifting training's streams."""
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])


@RUNNERS.register_module()
class MultiTaskActiveRunner(ActiveLearningRunner):
    """ActiveLearningRunner whose training steps are MAE warm-up / multitask (see the module doc)."""

    def __init__(self, *args, warmup_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)  # warmup_only and sample_mode were checked by the contract
        if not hasattr(unwrap(self.model), "forward_mae"):
            raise ValueError("MultiTaskActiveRunner needs model.type='MultiTaskSegmentor' "
                             f"(got {type(unwrap(self.model)).__name__})")
        self.warmup_only = warmup_only
        self.stage = "mae" if warmup_only else "multitask"
        self.mt = None          # the contract's MultitaskOptions (set in run)
        self.warmup = 0         # MAE warm-up before round 0 (an MAE-only run is its own round instead)
        self._val_set = None
        self._viz: ReconstructionViz | None = None
        self._viz_done: set[int] = set()

    # ------------------------------------------------------------------ set-up

    def run(self, data, workflow=None, **kwargs) -> None:
        self.data = data
        self.mt = data.contract.multitask
        sched = data.contract.schedule
        self.warmup = sched.warmup_before_rounds
        reset = data.contract.reset_each_round
        self.logger.info("multitask: MAE warm-up %d %s, mask ratio %.2f, %s, reset_each_round %s",
                         self.warmup, self.schedule_unit, unwrap(self.model).mask_ratio,
                         "MAE only (warmup_only)" if self.warmup_only else "segmentation + reconstruction",
                         reset)
        if self.mt.viz_interval and self.mt.viz_count:
            self._viz = ReconstructionViz(self, osp.join(self.work_dir, self.mt.viz_dir), self.mt.viz_count)
        super().run(data, workflow, **kwargs)
        if self._viz is not None and self.global_iter not in self._viz_done:
            self._render(self.global_iter)  # the final model, whatever the interval

    def _warmup_path(self) -> str:
        return osp.join(self._state_dir(), WARMUP_WEIGHTS)

    def _snapshot(self) -> None:
        super()._snapshot()
        if self.data.resume and osp.isfile(self._warmup_path()):  # reset target = the warmed-up weights
            ckpt = torch.load(self._warmup_path(), map_location="cpu")
            self._init_weights = {k: v.clone() for k, v in ckpt.items()}

    def _warmup_iters(self) -> int:
        if self.by_iters:
            return self.warmup
        return self.warmup * iters_per_epoch(self._train_size(0), int(self.data.cfg.data.samples_per_gpu))

    def _set_schedule(self, r: int) -> None:
        super()._set_schedule(r)
        if self.warmup and not self.contract.reset_each_round:
            # one schedule over warm-up + all rounds (reference: warm-up added to max_epochs)
            self._max_iters += self._warmup_iters()
            if self._max_epochs is not None:
                self._max_epochs += self.warmup

    # ------------------------------------------------------------------ training

    def run_iter(self, data_batch, train_mode, **kwargs):
        unwrap(self.model).stage = self.stage
        return super().run_iter(data_batch, train_mode, **kwargs)

    def _train_round(self, r: int) -> None:
        if r == 0 and self.warmup:
            self._warmup()
        self.stage = "mae" if self.warmup_only else "multitask"
        super()._train_round(r)

    def _warmup(self) -> None:
        """MAE-only training over every pool image (labels are not needed), before round 0."""
        reset = self.contract.reset_each_round
        self.stage = "mae"
        if reset:  # the warm-up is a schedule of its own; round 0 then starts a fresh one
            self._max_iters = self._warmup_iters()
            self._max_epochs = None if self.by_iters else self.warmup
        loader = train_loader(self._train_set(), self.data.cfg.data, self.data.seed)
        if len(loader) == 0:
            raise RuntimeError("MAE warm-up: the train set is empty")
        self.logger.info("MAE warm-up: %d %s", self.warmup, self.schedule_unit)
        self.console.step_start("train", 0, self.warmup if self.by_iters else self.warmup * len(loader))
        if self.by_iters:
            self._train_iters(loader, self.warmup)
        else:
            for _ in range(self.warmup):
                self._train_epoch(loader)
        if reset:
            module = unwrap(self.model)
            self._init_weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            if self.rank == 0:
                os.makedirs(self._state_dir(), exist_ok=True)
                torch.save(self._init_weights, self._warmup_path() + ".tmp")
                os.replace(self._warmup_path() + ".tmp", self._warmup_path())
            barrier()
            self.reset_round()  # round 0 starts like every later round: fresh optimizer and schedule
            ActiveLearningRunner._set_schedule(self, 0)
        self.stage = "multitask"

    def _step(self, i: int, data_batch) -> None:
        if self._viz is not None and self.global_iter % self.mt.viz_interval == 0 \
                and self.global_iter not in self._viz_done:
            self._render(self.global_iter)  # before the step: iter0 shows the untrained decoder
        super()._step(i, data_batch)
        every = self.mt.mae_val_interval if self.stage == "mae" else self.mt.val_interval
        if every and self.global_iter % every == 0:
            vals = self.validation_losses()
            if vals:
                self.log_buffer.output.update(vals)  # joins the next log line (text and W&B)
                self.logger.info("iter %d validation (%s stage): %s", self.global_iter, self.stage,
                                 ", ".join(f"{k} {v:.4f}" for k, v in vals.items()))

    def _render(self, it: int) -> None:
        self._viz_done.add(it)
        with preserved_rng():
            self._viz.render(it)
        self.model.train()

    # ------------------------------------------------------------------ validation

    def _val_dataset(self):
        """data.val seen through the (unmasked) train pipeline: val images are fully labelled."""
        if self._val_set is None:
            cfg = self.data.cfg
            if not cfg.data.get("val"):
                self._val_set = False
            else:
                import copy

                from mmseg.datasets import build_dataset

                train = cfg.data.train[-1] if isinstance(cfg.data.train, (list, tuple)) else cfg.data.train
                val = copy.deepcopy(cfg.data.val)
                val["pipeline"] = train["pipeline"]
                val.pop("test_mode", None)
                self._val_set = build_dataset(val)
        return self._val_set or None

    @torch.no_grad()
    def validation_losses(self) -> dict[str, float]:
        """Mean segmentation (`loss_seg_val`, not in the MAE stage) and reconstruction (`loss_rec_val`)
        losses over data.val, with fixed reconstruction masks so successive values compare."""
        ds = self._val_dataset()
        if ds is None or not self.data.validate:
            return {}
        from ..query import all_gather

        module = unwrap(self.model)
        dev = next(module.parameters()).device
        spg = int(self.data.cfg.data.get("samples_per_gpu", 2))
        idx = list(range(len(ds)))[self.rank::self.world_size]
        sums = {"loss_seg_val": 0.0, "loss_rec_val": 0.0}
        n = 0
        with preserved_rng():
            np.random.seed(self.data.seed % 2**32)
            random.seed(self.data.seed)
            g = torch.Generator().manual_seed(self.data.seed * 7919 + 17)
            module.eval()
            for s in range(0, len(idx), spg):
                items = [ds[i] for i in idx[s:s + spg]]
                batch = scatter(collate(items, samples_per_gpu=len(items)), [dev.index if dev.type == "cuda" else -1])[0]
                if self.stage == "mae":
                    batch.pop("gt_semantic_seg", None)
                out = module.val_losses(batch, generator=g)
                k = len(items)
                sums["loss_rec_val"] += k * sum(v for key, v in out.items() if key.startswith("mae."))
                sums["loss_seg_val"] += k * sum(v for key, v in out.items() if key.startswith("decode."))
                n += k
            module.train()
        parts = all_gather((sums, n))
        total = sum(p[1] for p in parts)
        if not total:
            return {}
        out = {k: sum(p[0][k] for p in parts) / total for k in sums}
        if self.stage == "mae":
            out.pop("loss_seg_val")
        return out

    def evaluate(self) -> dict:
        """Round end: mIoU (not for MAE-only runs, whose segmentation head is untrained) + val losses."""
        metrics = {} if self.warmup_only else super().evaluate()
        if self.data.validate:
            metrics.update(self.validation_losses())
        return metrics


