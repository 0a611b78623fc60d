"""Data loaders for the AL loop: seeded per-epoch shuffling, pool sharding, CPU-safe defaults.

docs/reference.md §5b: no DistSamplerSeedHook, so every DDP epoch (and every rebuilt loader) replayed one
shuffle order. Here every train sampler is re-seeded with (seed, global epoch) before each epoch,
with or without DDP, which also makes a resumed run replay exactly the order it would have had.
"""

from __future__ import annotations

import random
from functools import partial

import numpy as np
import torch
from mmcv.parallel import collate
from mmcv.runner import get_dist_info
from torch.utils.data import DataLoader, Dataset, Sampler

from segal_dsl.spec import schedule
from segal_dsl.spec.config import query_loader_settings

from .heuristics import get_heuristic


class EpochSeededSampler(Sampler):
    """Shuffles indices[rank::world] (padded to equal length) with torch.Generator(seed, epoch)."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0
        self.rank, self.world = get_dist_info()
        self.per_rank = -(-n // self.world) if n else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        order += order[: self.per_rank * self.world - self.n]  # equal shards: DDP steps stay in lockstep
        return iter(order[self.rank :: self.world])

    def __len__(self) -> int:
        return self.per_rank


def _worker_init(worker_id: int) -> None:
    # torch gives each worker base_seed + id, with base_seed drawn from the (seeded) main process at
    # every iter(loader); mmseg's worker_init_fn reseeded identically every epoch.
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def train_loader(dataset: Dataset, loader_cfg: dict, seed: int) -> DataLoader:
    """Shuffled train loader; drop_last as mmseg, unless the set is smaller than one batch."""
    spg = int(loader_cfg.get("samples_per_gpu", 1))
    workers = int(loader_cfg.get("workers_per_gpu", 0))
    sampler = EpochSeededSampler(len(dataset), seed)
    return DataLoader(
        dataset,
        batch_size=spg,
        sampler=sampler,
        num_workers=workers,
        collate_fn=partial(collate, samples_per_gpu=spg),
        pin_memory=bool(loader_cfg.get("pin_memory", False)),
        drop_last=len(sampler) >= spg,
        # runtime-stack.md trap: persistent workers with 0 workers is an error in torch
        persistent_workers=workers > 0 and bool(loader_cfg.get("persistent_workers", True)),
        worker_init_fn=_worker_init if workers > 0 else None,
    )


def iters_per_epoch(n: int, spg: int) -> int:
    """Length of `train_loader` over n images on this world size (without building it); the plan's count."""
    _, world = get_dist_info()
    return schedule.iters_per_epoch(n, spg, world)


class IndexedDataset(Dataset):
    """Items of `base` at `indices`, each tagged with its pool index (for query sharding)."""

    def __init__(self, base, indices):
        self.base, self.indices = base, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        item = self.base[self.indices[k]]
        item["pool_index"] = self.indices[k]
        return item


def shard_loader(dataset, indices, loader_cfg: dict) -> DataLoader:
    """Batch-1, in-order loader over this rank's share (indices[rank::world]) of `indices`."""
    rank, world = get_dist_info()
    workers = int(loader_cfg.get("workers_per_gpu", 0))
    return DataLoader(
        IndexedDataset(dataset, list(indices)[rank::world]),
        batch_size=1,
        shuffle=False,
        num_workers=workers,
        collate_fn=partial(collate, samples_per_gpu=1),
        pin_memory=False,
        persistent_workers=False,
    )


def image_sizes(dataset) -> list[tuple[int, int]] | None:
    """(H, W) of every image file of an mmseg dataset, from the file headers (no pixel is decoded); None for a
    dataset that lists no image files."""
    import os.path as osp

    from PIL import Image

    if getattr(dataset, "img_infos", None) is None or getattr(dataset, "img_dir", None) is None:
        return None
    out = []
    for info in dataset.img_infos:
        with Image.open(osp.join(dataset.img_dir, info["filename"])) as im:
            out.append((im.height, im.width))
    return out


def size_batches(sizes, batch_size: int) -> list[list[int]]:
    """Positions 0..len(sizes)-1 in batches of at most `batch_size` with one size each, in order of first
    appearance (mmseg's `inference` takes one `ori_shape` per batch); a pool of one size batches in order."""
    open_: dict = {}
    out: list[list[int]] = []
    for k, size in enumerate(sizes):
        batch = open_.setdefault(tuple(size), [])
        if not batch:
            out.append(batch)
        batch.append(k)
        if len(batch) == batch_size:
            del open_[tuple(size)]
    return out


class QueryItems(IndexedDataset):
    """IndexedDataset whose items also carry `void(pool index)` (the image's bool void mask at the label resolution,
    query.query_void_reader) as `void`, so the loader's workers read the ground truth, not the query's loop."""

    def __init__(self, base, indices, void=None):
        super().__init__(base, indices)
        self.void = void

    def __getitem__(self, k: int):
        item = super().__getitem__(k)
        if self.void is not None:
            item["void"] = self.void(self.indices[k])
        return item


def query_loader(dataset, indices, sizes, data_cfg, device, batched: bool = True, void=None) -> DataLoader:
    """In-order loader over this rank's share (indices[rank::world]) of `indices`, batched by equal `sizes[pool
    index]` (a batch needs one image size and one label size: pass both) under `query_loader_settings` (one image
    per batch when not `batched`), with workers and, on CUDA, pinned memory. `void`: see QueryItems (batched
    queries only: run_query's batched loop takes it)."""
    rank, world = get_dist_info()
    settings = query_loader_settings(data_cfg)
    shard = list(indices)[rank::world]
    spg = settings["samples_per_gpu"] if batched else 1
    workers = settings["workers_per_gpu"]
    return DataLoader(
        QueryItems(dataset, shard, void if batched else None),
        batch_sampler=size_batches([sizes[i] for i in shard], spg),
        num_workers=workers,
        collate_fn=partial(collate, samples_per_gpu=spg),
        pin_memory=getattr(device, "type", device) == "cuda" if settings["pin_memory"] is None else settings["pin_memory"],
        persistent_workers=False,
        worker_init_fn=_worker_init if workers > 0 else None,
    )


def batches(contract) -> bool:
    """Whether a query scores the pool in batches: not with the heuristics that need one image's data at a time
    (MC-dropout passes, `mps`, the batch-aware `kcenter`/`badge`), nor in superpixel mode (query.py scores its
    images one at a time)."""
    fn = get_heuristic(contract.heuristic)
    per_image = any(getattr(fn, flag, False) for flag in ("mc_dropout", "needs_model", "image_batch"))
    return contract.mode != "superpixel" and not per_image
