"""`ActiveLearningRunner`: drives the compiled workflow (train -> query -> label -> retrain) on mmcv.

Input: the model/optimizer/hooks mmcv's `build_runner` wires up, plus an `ALData` bundle from
`train.py` whose `contract` is the compiled config read through `segal_dsl/spec/config.py`. Output:
trained weights, the label state and `progress.json` in the work dir, and the per-round report.
Reference defects fixed here are cited inline (docs/reference.md §n).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import os.path as osp
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from mmcv.parallel import scatter
from mmcv.runner import RUNNERS, EpochBasedRunner, load_checkpoint, save_checkpoint
from mmcv.runner.hooks import CheckpointHook, LoggerHook

from segal_dsl.spec.config import Contract

from . import report, superpixels, visualize
from .console import RunConsole
from .heuristics import get_heuristic
from .labels import LabelState, remove_temp_files
from .loaders import batches, image_sizes, iters_per_epoch, query_loader, shard_loader, train_loader
from .pipelines import LabelMaskedDataset, image_subset, pool_sizes, with_source
from .progress import Progress
from .query import QueryResult, initial_labels, query_void_reader, run_query, void_reader
from .selection import stream_seeds
from .testhooks import kill_point, trace

STATE_DIR = "al_state"


@dataclass
class ALData:
    """Everything the loop needs besides the model: datasets, loader settings, seed, flags."""

    cfg: Any
    contract: Contract         # the compiled config as the runtime reads it (rounds, budgets, heuristic)
    train: Any                 # mmseg dataset over the pool images (masked pipeline in pixel/region)
    query: Any                 # the pool with the test pipeline; its order is the label-state order
    pool_index: list[int]      # train item -> pool index
    val: Any = None
    source: Any = None         # ADA: fully labelled source set
    seed: int = 0
    resume: bool = False
    validate: bool = True


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@RUNNERS.register_module()
class ActiveLearningRunner(EpochBasedRunner):
    """Runs one train step per round, then that round's query; epochs or iterations per step."""

    def __init__(self, *args, sample_mode: str, sample_rounds: int | None = None,
                 schedule_unit: str = "epochs", warmup_only=None, max_epochs=None, max_iters=None, **kwargs):
        # `runner` was read through the contract (spec/config.py) before the runner is built: its type, mode
        # and unit are valid there, and `warmup_only` outside the multitask runner and max_epochs/max_iters
        # (derived from the workflow) refused; mmcv passes every `runner` key, so each is a parameter here.
        super().__init__(*args, **kwargs)
        self.sample_mode, self.schedule_unit = sample_mode, schedule_unit
        self.by_iters = schedule_unit == "iters"
        self.global_epoch = 0
        self.global_iter = 0
        self.round = 0
        self.labels: LabelState | None = None
        self.console = RunConsole(self.work_dir, "off")  # train_config sets rank 0's (runtime/console.py)
        self.resume_command = ""

    # ------------------------------------------------------------------ set-up

    @property
    def contract(self) -> Contract:
        return self.data.contract

    def _state_dir(self) -> str:
        return osp.join(self.work_dir, STATE_DIR)

    def _mask_dir(self) -> str:
        return osp.join(self.work_dir, self.contract.mask_dir)

    def _pool_image_shape(self, i: int) -> tuple[int, int]:
        from PIL import Image

        q = self.data.query
        with Image.open(osp.join(q.img_dir, q.img_infos[i]["filename"])) as im:
            return (im.height, im.width)

    def _init_labels(self, progress: Progress | None) -> None:
        mode = "image" if self.sample_mode == "image" else "pixel"
        mask_dir = self._mask_dir()
        if LabelState.exists(mask_dir):
            if not self.data.resume:
                raise RuntimeError(f"{mask_dir} already holds labels from an earlier run: pass --resume "
                                   "to continue it, or use another --work-dir")
            self.labels = LabelState.load(mask_dir)
            if self.labels.meta.get("seed") != self.data.seed:
                raise RuntimeError(f"resume with seed {self.data.seed} but the labels were bought with "
                                   f"seed {self.labels.meta.get('seed')}")
            return
        if progress is not None and progress.next_step > 0:
            raise RuntimeError(f"{self._state_dir()} has progress but {mask_dir} has no label state")
        sizes = pool_sizes(self.data.query, self.contract.scale_size)
        # A sweep point draws its initial labels with its seed: the strategies of one seed start equal.
        seed = self.contract.initial_seed
        draw_seed = int(seed if seed is not None else self.data.seed)
        void_of = (void_reader(self.data.query, self.contract.ignore_index)
                   if mode == "pixel" and getattr(self.contract.settings, "exclude_void", True) else None)
        extra = None
        if self.sample_mode == "superpixel" and self.contract.reference is None:
            # random SLIC regions, their clicks counted (runtime/superpixels.py); the reference labels every
            # pixel with its ground truth below
            labels = LabelState.for_superpixels(sizes)
            added, clicks = superpixels.initial_labels(labels, self.contract, draw_seed, void_of, self.work_dir,
                                                       self.data.query)
            planned, extra = added, {"superpixels_planned": clicks, "superpixels": clicks}
        else:
            labels = LabelState.for_images(len(sizes)) if mode == "image" else LabelState.for_pixels(sizes)
            if self.contract.reference == "full":  # a sweep's full-supervision reference: every label, no query
                added = planned = full_labels(labels)
            else:
                added = initial_labels(labels, self.contract, draw_seed, void_of)
                planned = self.contract.settings.initial_pool if mode == "image" else added
        labels.record_round(0, planned=planned, added=added, extra=extra)
        labels.meta = {"seed": self.data.seed, "sample_mode": self.sample_mode,
                       "seeds": stream_seeds(self.data.seed, seed)}
        self.labels = labels
        self._check_ranks_agree(0)
        if self.rank == 0:
            labels.save(mask_dir)
        barrier()

    def _train_set(self):
        if self.sample_mode == "image":
            ds = image_subset(self.data.train, np.flatnonzero(self.labels.images()))
        else:
            ds = LabelMaskedDataset(self.data.train, self.labels, self.data.pool_index)
        return with_source(self.data.source, ds) if self.data.source is not None else ds

    def _train_size(self, r: int) -> int:
        """Planned train-set size of round r (image mode grows by the budget per query)."""
        n = len(self.data.train)
        if self.sample_mode == "image" and self.contract.reference is None:
            queries = sum(x.query for x in self.rounds[:r])
            bought = sum(self.contract.query_budget(k) for k in range(1, queries + 1))
            n = min(self.contract.settings.initial_pool + bought, n)
        return n + (len(self.data.source) if self.data.source is not None else 0)

    def _round_iters(self, r: int) -> int:
        rnd = self.rounds[r]
        if self.by_iters:
            return rnd.train
        return rnd.train * iters_per_epoch(self._train_size(r), int(self.data.cfg.data.samples_per_gpu))

    def _set_schedule(self, r: int) -> None:
        """Counters the LR/eval/checkpoint hooks read; round-local when weights reset each round.

        docs/reference.md §2b used ceil (loaders drop the last batch) and left out the final image-mode round.
        """
        reset = self.contract.reset_each_round
        rounds = [self.rounds[r]] if reset else self.rounds
        idx = [r] if reset else range(len(self.rounds))
        self._max_iters = sum(self._round_iters(i) for i in idx)
        self._max_epochs = None if self.by_iters else sum(x.train for x in rounds)

    # ------------------------------------------------------------------ reset / checkpoints

    def _snapshot(self) -> None:
        module = getattr(self.model, "module", self.model)
        self._init_weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        self._init_optim = copy.deepcopy(self.optimizer.state_dict())

    def reset_round(self) -> None:
        """Weights, optimizer state and LR schedule back to the start, identically on every rank.

        The snapshot is taken after `load_from`, on every rank (docs/reference.md §5c reloaded on rank 0 only,
        so DDP replicas diverged, and never reset the optimizer state).
        """
        module = getattr(self.model, "module", self.model)
        module.load_state_dict(self._init_weights)
        self.optimizer.load_state_dict(copy.deepcopy(self._init_optim))
        self._epoch = self._iter = 0

    def _save_step(self, progress: Progress, step: int) -> None:
        name = f"step_{step}.pth"
        if self.rank == 0:
            path = osp.join(self._state_dir(), name)
            os.makedirs(self._state_dir(), exist_ok=True)
            tmp = osp.join(self._state_dir(), f".{name}.tmp")  # the temp-file form remove_temp_files knows
            try:
                save_checkpoint(self.model, tmp, optimizer=self.optimizer,
                                meta=dict(epoch=self._epoch, iter=self._iter))
                kill_point("step_checkpoint")
                os.replace(tmp, path)
            except BaseException:  # e.g. a full disk: no partial step file, the previous one stays
                if osp.exists(tmp):
                    os.unlink(tmp)
                raise
            old = progress.checkpoint
            self._store(progress, checkpoint=name, next_step=step + 1)
            if old and old != name:
                try:
                    os.unlink(osp.join(self._state_dir(), old))
                except FileNotFoundError:
                    pass
        else:
            self._store(progress, checkpoint=name, next_step=step + 1, write=False)
        barrier()

    def _store(self, progress: Progress, write: bool = True, **changes) -> None:
        for k, v in changes.items():
            setattr(progress, k, v)
        progress.epoch, progress.iter = self._epoch, self._iter
        progress.global_epoch, progress.global_iter = self.global_epoch, self.global_iter
        progress.max_epochs, progress.max_iters = self._max_epochs, self._max_iters
        if write and self.rank == 0:
            progress.save(self._state_dir())

    def _restore(self, progress: Progress) -> None:
        if progress.checkpoint:
            path = osp.join(self._state_dir(), progress.checkpoint)
            try:
                ckpt = load_checkpoint(getattr(self.model, "module", self.model), path, map_location="cpu",
                                       logger=self.logger)
            except Exception as e:
                raise RuntimeError(f"cannot resume: {path} is unreadable ({type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''}); restore it from a backup, or "
                                   "start again without --resume in a new --work-dir (the label state in "
                                   f"{self._mask_dir()} is intact)") from e
            if "optimizer" in ckpt:
                self.optimizer.load_state_dict(ckpt["optimizer"])
        self._epoch, self._iter = progress.epoch, progress.iter
        self.global_epoch, self.global_iter = progress.global_epoch, progress.global_iter
        self._max_epochs, self._max_iters = progress.max_epochs, progress.max_iters
        self.logger.info("resumed at workflow step %d (global iter %d, %d labelled)",
                         progress.next_step, self.global_iter, self.labels.total())

    def save_checkpoint(self, out_dir, filename_tmpl=None, save_optimizer=True, meta=None, create_symlink=True):
        """User checkpoints (CheckpointHook) named by global epoch/iter, so rounds never overwrite them.

        docs/reference.md §5c: with reset_each_round `epoch_1.pth` was overwritten every round.
        """
        hook = next((h for h in self.hooks if isinstance(h, CheckpointHook)), None)
        by_epoch = hook.by_epoch if hook is not None else not self.by_iters
        count = self.global_epoch + 1 if by_epoch else self.global_iter + 1
        name = (filename_tmpl or ("epoch_{}.pth" if by_epoch else "iter_{}.pth")).format(count)
        meta = dict(meta or {}, round=self.round, global_epoch=self.global_epoch, global_iter=self.global_iter)
        path = osp.join(out_dir, name)
        save_checkpoint(self.model, path, optimizer=self.optimizer if save_optimizer else None,
                        meta=dict(meta, epoch=self._epoch + 1, iter=self._iter))
        if create_symlink:
            import mmcv

            mmcv.symlink(name, osp.join(out_dir, "latest.pth"))

    # ------------------------------------------------------------------ train / eval

    def _step(self, i: int, data_batch) -> None:
        self.data_batch = data_batch
        self._inner_iter = i
        self.call_hook("before_train_iter")
        self.run_iter(data_batch, train_mode=True)
        self.call_hook("after_train_iter")
        del self.data_batch
        self._iter += 1
        self.global_iter += 1
        kill_point("train_iter")
        self.console.advance()

    def _train_epoch(self, loader) -> None:
        """EpochBasedRunner.train without its sleep(2), with a per-epoch data-order seed."""
        self.model.train()
        self.mode, self.data_loader = "train", loader
        loader.sampler.set_epoch(self.global_epoch)  # docs/reference.md §5b: every epoch replayed one order
        self.call_hook("before_train_epoch")
        for i, data_batch in enumerate(loader):
            self._step(i, data_batch)
        self.call_hook("after_train_epoch")
        self._epoch += 1
        self.global_epoch += 1

    def _train_iters(self, loader, n: int) -> None:
        """n iterations, cycling the loader; every (partial) pass gets a fresh data-order seed."""
        self.model.train()
        self.mode, self.data_loader = "train", loader
        self.call_hook("before_train_epoch")
        done = 0
        while done < n:
            loader.sampler.set_epoch(self.global_epoch)
            for i, data_batch in enumerate(loader):
                self._step(i, data_batch)
                done += 1
                if done >= n:
                    break
            self._epoch += 1
            self.global_epoch += 1
        self.call_hook("after_train_epoch")

    def _train_round(self, r: int) -> None:
        loader = train_loader(self._train_set(), self.data.cfg.data, self.data.seed)
        if len(loader) == 0:
            raise RuntimeError(f"round {r}: the train set is empty (no labelled images)")
        rnd = self.rounds[r]
        self.console.step_start("train", r, rnd.train if self.by_iters else rnd.train * len(loader))
        if self.by_iters:
            self._train_iters(loader, rnd.train)
        else:
            for _ in range(rnd.train):
                self._train_epoch(loader)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Metrics on `data.val` with the test pipeline (every rank scores a shard; all get the sum)."""
        if self.data.val is None or not self.data.validate:
            return {}
        from .query import all_gather

        ds = self.data.val
        self.model.eval()
        parts = []
        for data in shard_loader(ds, range(len(ds)), self.data.cfg.data):
            index = int(data.pop("pool_index")[0])
            module = getattr(self.model, "module", self.model)  # no DDP forward: eval needs no sync
            dev = next(module.parameters()).device
            data = scatter(data, [dev.index if dev.type == "cuda" else -1])[0]
            pred = module(return_loss=False, rescale=True, **data)
            parts.extend(ds.pre_eval(pred, indices=[index]))
        results = [x for part in all_gather(parts) for x in part]
        ev = dict(self.data.cfg.get("evaluation") or {})
        metric = ev.get("metric", "mIoU")
        out = ds.evaluate(results, metric=metric, logger=self.logger)
        self.model.train()
        return {k: float(v) for k, v in out.items() if np.isscalar(v)}

    # ------------------------------------------------------------------ main loop

    def run(self, data: ALData, workflow=None, max_epochs=None, **kwargs) -> None:
        """Run every workflow step not yet done (all of them unless resuming)."""
        self.data = data
        sched = data.contract.schedule
        self.rounds = list(sched.trained_rounds)  # an MAE-only run: one round, trained by the multitask runner
        steps = [(kind, r) for r, rnd in enumerate(self.rounds)
                 for kind in (("train", "query") if rnd.query else ("train",))]
        if self.rank == 0:  # what a killed writer can leave: temp files, an uncommitted payload
            self._remove_stale()
        barrier()
        progress = Progress.load(self._state_dir()) if data.resume else None
        if progress is not None and progress.seed not in (None, data.seed):
            raise RuntimeError(f"--resume with seed {data.seed}, but this run used seed {progress.seed}")
        self._init_labels(progress)
        progress = progress or Progress(seed=data.seed)
        # a query that saved its labels but died before progress.json: done, never bought twice
        while progress.next_step < len(steps) and steps[progress.next_step][0] == "query" \
                and len(self.labels.records) - 1 > progress.queries_done:
            progress.queries_done += 1
            progress.next_step += 1
        reset = data.contract.reset_each_round
        if self.by_iters:
            for h in self.hooks:
                if isinstance(h, LoggerHook):
                    h.by_epoch = False  # text log shows Iter [i/max_iters]
        self._set_schedule(0)
        self.logger.info("active learning: %d rounds, %d queries, mode %s, heuristic %s, seed %d",
                         len(self.rounds), sum(r.query for r in self.rounds), self.sample_mode,
                         data.contract.heuristic, data.seed)
        self.console.begin(experiment=str((data.cfg.get("segal_meta") or {}).get("experiment")
                                          or osp.splitext(osp.basename(data.cfg.filename or "run"))[0]),
                           steps=steps, unit="images" if self.sample_mode == "image" else "px",
                           total_iters=sum(self._round_iters(i) for i, _ in enumerate(self.rounds)),
                           heuristic=str(data.contract.heuristic), mode=self.sample_mode, seed=data.seed,
                           resume=self.resume_command, done=progress.next_step)
        self.call_hook("before_run")
        self._snapshot()
        if progress.next_step > 0:
            self._restore(progress)
        viz = visualize.Visualizer.from_config(self, data.contract.visualize)
        if viz is not None and progress.next_step == 0:
            viz.render(0, self.labels, {})
        for k, (kind, r) in enumerate(steps):
            if k < progress.next_step:
                continue
            self.round = r
            if kind == "train":
                if reset and r > 0:
                    self.reset_round()
                self._set_schedule(r)
                _seed_everything(data.seed * 1009 + k)
                self._train_round(r)
                metrics = self.evaluate()
                entry = report.round_entry(r, self.labels, progress.rounds, self.global_iter,
                                           self.global_epoch, metrics)
                per_class = report.labelled_per_class(self.labels, self.data.query,
                                                      getattr(self.data.query, "CLASSES", None))
                if per_class is not None:
                    entry["labelled_per_class"] = per_class
                progress.rounds.append(entry)
                self.console.round_done(entry)
                self.logger.info("round %d: %s labelled, mIoU %s", r, entry["labelled"], entry.get("mIoU"))
                for h in self.hooks:
                    if hasattr(h, "log_al"):
                        h.log_al(self, entry, progress.rounds)
                self._save_step(progress, k)
            else:
                result = self._query(r + 1, viz)
                self.labels.record_round(r + 1, planned=result.planned, added=result.added, extra=result.extra or None)
                self._check_ranks_agree(r + 1)
                if self.rank == 0:
                    self.labels.save(self._mask_dir())
                barrier()
                self._store(progress, queries_done=progress.queries_done + 1, next_step=k + 1)
                self.logger.info("query %d: %d new labels (planned %d), %d labelled in total, %d void pixels "
                                 "not for sale", r + 1, result.added, result.planned, self.labels.total(), result.void)
                self.console.query_done(r + 1, result.added, result.planned, self.labels.total())
                if viz is not None:
                    viz.render(r + 1, self.labels, result.viz_scores)
        self.call_hook("after_run")
        if self.rank == 0:
            report.write(self.work_dir, progress.rounds, self.labels, self.sample_mode, self.contract.reference)
        self.console.finish(osp.join(self.work_dir, "report.json"))

    def _remove_stale(self) -> None:
        removed = LabelState.remove_stale(self._mask_dir())
        for d in (self._state_dir(), self.work_dir):
            if osp.isdir(d):
                removed += remove_temp_files(d)
        if removed:
            self.logger.info("removed what an interrupted run left unfinished: %s", ", ".join(sorted(removed)))

    def _check_ranks_agree(self, rnd: int) -> None:
        """Every rank must hold the same labels after a query (docs/reference.md §5d: only rank 0 had them).

        Compares the sha256 of the full label payload and the round records, not only counts.
        """
        if self.world_size == 1 and not os.environ.get("SEGAL_TEST_TRACE_DIR"):
            return  # nothing to compare with (hashing a Cityscapes-sized pool takes ~1 s)
        payload = hashlib.sha256(self.labels._payload()).hexdigest()  # = labels.json's "sha256"
        digest = hashlib.sha256((payload + json.dumps(self.labels.records, sort_keys=True)).encode()).hexdigest()
        trace("labels", round=rnd, payload_sha256=payload, digest=digest, total=self.labels.total(),
              world=self.world_size)
        if self.world_size == 1:
            return
        from .query import all_gather

        if len(set(all_gather(digest))) != 1:
            raise RuntimeError(f"round {rnd}: ranks disagree on the label state (round 0: the initial labels)")

    def _query(self, rnd: int, viz) -> Any:
        if self.contract.reference is not None:  # the reference holds every label already: nothing to score
            return QueryResult(round=rnd, planned=0, added=0)
        if self.sample_mode == "image" and not getattr(get_heuristic(self.contract.heuristic), "image_batch", False):
            indices = [i for i in range(len(self.labels)) if not self.labels.count(i)]
        else:
            indices = range(len(self.labels))
        dev = next(getattr(self.model, "module", self.model).parameters()).device
        if getattr(self, "_query_sizes", None) is None:  # a batch holds one image size and one label size
            own = image_sizes(self.data.query)
            self._query_sizes = list(zip(own, self.labels.sizes)) if own else list(self.labels.sizes)
        void_of = query_void_reader(self.data.query, self.contract)
        sizes = self.labels.sizes
        loader = query_loader(self.data.query, indices, self._query_sizes, self.data.cfg.data, dev,
                              batched=batches(self.contract),
                              void=None if void_of is None else lambda i: void_of(i, sizes[i]))
        self.console.step_start("query", rnd - 1, len(loader.dataset))
        return run_query(self, rnd, loader, self.labels, self.contract, self.data.seed,
                         viz.indices if viz is not None else set(), lambda: self.console.advance("query"))


def full_labels(labels) -> int:
    """Label every pool image (image mode) or every pixel of each (pixel modes, void pixels too: their ground
    truth is ignore_index, so the loss skips them); returns how many labels that is."""
    if labels.mode == "image":
        return labels.add_images(list(range(len(labels))))
    return sum(labels.add(i, np.ones(size, dtype=bool)) for i, size in enumerate(labels.sizes))


# MultiTaskActiveRunner lives in runtime/multitask/runner.py (registered when segal_dsl.runtime is imported).


def config_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
