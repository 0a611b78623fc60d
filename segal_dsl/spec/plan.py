"""The plan: a compiled config's rounds, budgets and resets, resolved against the pool as far as it is known.

`segal plan`, `cfg.plan.json` and `segal run --dry-run` all print `plan_of(read_config(cfg), pool)`: the
front end with the pool its `.seg` file states, the dry run with the pool it found on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from segal_dsl.spec import budget, schedule
from segal_dsl.spec.budget import Estimate
from segal_dsl.spec.config import Contract


@dataclass(frozen=True)
class Pool:
    """What is known of the query pool: its number of images and their label resolution (W, H), or, for a
    pool found on disk, every image's (H, W) label size."""

    images: int | None = None
    resolution: tuple[int, int] | None = None
    sizes: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class PlanRound:
    """One round of the plan: its training, the labels it trains on, and its query."""

    index: int              # 1-based
    train: int              # epochs or iterations
    train_start: int        # position (in the schedule's unit) where this round's training starts
    query: bool
    budget: Estimate | None  # what this round's query buys; None without a query
    trained_on: Estimate    # labels held while this round trains
    cumulative: Estimate    # labels held after this round's query
    reset: bool             # weights, optimizer state and LR schedule restart before this round trains
    iters_per_epoch: int | None = None  # on one GPU, when the train set's size and the batch size are known
    iters: int | None = None            # iterations this round trains (one GPU), None when unknown


@dataclass
class Plan:
    """Everything `segal plan` shows: the experiment's rounds with budgets, from its compiled config."""

    experiment: str
    runner: str             # runner kind
    sample_mode: str
    heuristic: str
    heuristic_params: dict
    unit: str               # epochs | iters
    warmup: int             # MAE warm-up length before round 1 (multitask), 0 when none
    warmup_only: bool
    rounds: list[PlanRound]
    initial: Estimate
    pool: Pool
    reset_each_round: bool
    sweep: dict | None = None  # name, point, values, initial_seed: for a point of a `sweep`
    radius: int | None = None  # region mode: regions are (2r+1)² squares (the plan counts them)
    batch_size: int | None = None  # `data.samples_per_gpu`, when the config states it
    warmup_iters: int | None = None  # iterations of the MAE warm-up (one GPU), None when unknown

    @property
    def total_iters(self) -> int | None:
        """Iterations of the whole run on one GPU (warm-up included); None when a round's count is unknown."""
        counts = [r.iters for r in self.rounds] + ([self.warmup_iters] if self.warmup else [])
        return None if any(c is None for c in counts) else sum(counts)

    def regions(self, px: float | None) -> float | None:
        """Regions a pixel count makes in region mode (the last one cut to the quota); None otherwise."""
        return None if self.radius is None or px is None else budget.regions_of(px, self.radius)

    @property
    def queries(self) -> int:
        return sum(r.query for r in self.rounds)

    @property
    def total_train(self) -> int:
        return sum(r.train for r in self.rounds)

    def as_dict(self) -> dict:
        return {
            **({"sweep": self.sweep} if self.sweep else {}),
            "experiment": self.experiment,
            "runner": self.runner,
            "sample_mode": self.sample_mode,
            "heuristic": self.heuristic,
            "heuristic_params": dict(self.heuristic_params),
            "unit": self.unit,
            "warmup": self.warmup,
            "warmup_only": self.warmup_only,
            "total_train": self.total_train + self.warmup,
            **({"batch_size": self.batch_size, "total_iters": self.total_iters} if self.batch_size else {}),
            **({"region_area": budget.region_area(self.radius)} if self.radius is not None else {}),
            "queries": self.queries,
            "reset_each_round": self.reset_each_round,
            "pool": {"images": self.pool.images,
                     "resolution": list(self.pool.resolution) if self.pool.resolution else None},
            "initial": self.initial.as_dict(),
            "rounds": [
                {"round": r.index, "train": r.train, "train_start": r.train_start, "train_end": r.train_start + r.train,
                 "query": r.query, "budget": r.budget.as_dict() if r.budget else None,
                 "trained_on": r.trained_on.as_dict(), "cumulative": r.cumulative.as_dict(),
                 "reset": {"weights": r.reset, "optimizer": r.reset, "lr_schedule": r.reset},
                 **({"iters_per_epoch": r.iters_per_epoch, "iters": r.iters} if self.batch_size else {})}
                for r in self.rounds
            ],
        }


def plan_of(contract: Contract, pool: Pool = Pool()) -> Plan:
    """The plan of a compiled config. `pool.resolution` defaults to the config's `scale_size`."""
    if pool.resolution is None and contract.scale_size is not None:
        pool = Pool(pool.images, tuple(contract.scale_size), pool.sizes)
    mode, radius = contract.mode, contract.radius
    initial = budget.estimate(contract.initial_spec, mode, pool.images, pool.resolution, radius, pool.sizes)
    if contract.reference is not None:  # a sweep's full-supervision point: every label from round 0, none bought
        initial = _everything(mode, pool, radius)
    sched = contract.schedule
    rounds: list[PlanRound] = []
    held, position, queries = initial, sched.warmup, 0
    for i, r in enumerate(sched.rounds):
        before = held
        per_query = None
        if r.query:
            queries += 1
            per_query = budget.estimate(contract.query_budget(queries), mode, pool.images, pool.resolution, radius,
                                        pool.sizes) if contract.reference is None else Estimate(initial.unit, 0, 0, 0)
            held = held.plus(per_query)
        ipe = _iters_per_epoch(contract, pool, before)
        iters = r.train if sched.unit == "iters" else (r.train * ipe if ipe is not None else None)
        rounds.append(PlanRound(i + 1, r.train, position, r.query, per_query, before, held,
                                schedule.reset_before(i, contract.reset_each_round), ipe, iters))
        position += r.train
    meta = contract.meta
    ipe = _iters_per_epoch(contract, pool, initial)
    warmup_iters = sched.warmup if sched.unit == "iters" else (sched.warmup * ipe if ipe is not None else None)
    return Plan(str(meta.get("experiment", "")), contract.runner_kind, mode, contract.heuristic,
                dict(contract.params), sched.unit, sched.warmup, sched.warmup_only, rounds, initial, pool,
                contract.reset_each_round, meta.get("sweep"), radius if mode == "region" else None,
                contract.batch_size, warmup_iters)


def _everything(mode: str, pool: Pool, radius: int) -> Estimate:
    """Every label of the pool: its images, or 100% of every image's pixels (superpixel mode too)."""
    if mode == "image":
        return Estimate("images", total=len(pool.sizes) if pool.sizes else pool.images)
    return budget.estimate({"value": 100, "unit": "%/img"}, "pixel", pool.images, pool.resolution, radius, pool.sizes)


def _iters_per_epoch(contract: Contract, pool: Pool, held: Estimate) -> int | None:
    """Iterations of one epoch on one GPU: the train set is the pool (image mode: its labelled images); with
    a source set (ADA) its size is not known here, so neither is the count."""
    if contract.batch_size is None or not contract.source_free:
        return None
    images = len(pool.sizes) if pool.sizes else pool.images
    if images is None:
        return None
    if contract.mode == "image":
        if held.total is None:
            return None
        images = min(held.total, images)
    return schedule.iters_per_epoch(images, contract.batch_size)
