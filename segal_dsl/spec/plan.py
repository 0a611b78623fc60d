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
            "queries": self.queries,
            "reset_each_round": self.reset_each_round,
            "pool": {"images": self.pool.images,
                     "resolution": list(self.pool.resolution) if self.pool.resolution else None},
            "initial": self.initial.as_dict(),
            "rounds": [
                {"round": r.index, "train": r.train, "train_start": r.train_start, "train_end": r.train_start + r.train,
                 "query": r.query, "budget": r.budget.as_dict() if r.budget else None,
                 "trained_on": r.trained_on.as_dict(), "cumulative": r.cumulative.as_dict(),
                 "reset": {"weights": r.reset, "optimizer": r.reset, "lr_schedule": r.reset}}
                for r in self.rounds
            ],
        }


def plan_of(contract: Contract, pool: Pool = Pool()) -> Plan:
    """The plan of a compiled config. `pool.resolution` defaults to the config's `scale_size`."""
    if pool.resolution is None and contract.scale_size is not None:
        pool = Pool(pool.images, tuple(contract.scale_size), pool.sizes)
    s, mode, radius = contract.settings, contract.mode, contract.radius
    initial = budget.estimate(contract.initial_spec, mode, pool.images, pool.resolution, radius, pool.sizes)
    per_query = budget.estimate(s.budget_per_round, mode, pool.images, pool.resolution, radius, pool.sizes)
    sched = contract.schedule
    rounds: list[PlanRound] = []
    held, position = initial, sched.warmup
    for i, r in enumerate(sched.rounds):
        before = held
        if r.query:
            held = held.plus(per_query)
        rounds.append(PlanRound(i + 1, r.train, position, r.query, per_query if r.query else None, before, held,
                                schedule.reset_before(i, contract.reset_each_round)))
        position += r.train
    meta = contract.meta
    return Plan(str(meta.get("experiment", "")), contract.runner_kind, mode, contract.heuristic,
                dict(contract.params), sched.unit, sched.warmup, sched.warmup_only, rounds, initial, pool,
                contract.reset_each_round, meta.get("sweep"))
