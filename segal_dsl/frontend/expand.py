"""Validated experiment -> Plan: the schedule expanded into rounds with budgets. Emits SEG3xx, SEG4xx."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

from segal_dsl.frontend import model as m
from segal_dsl.diagnostics import Diagnostics
from segal_dsl.source import Span
from segal_dsl.frontend.validate import SpanIndex, Validated


@dataclass(frozen=True)
class FlatStep:
    kind: str  # train | query | warmup
    length: int
    span: Span | None


@dataclass(frozen=True)
class Budget:
    """One query's (or the initial) labels. Pixel counts are per image and over the pool, where known."""

    unit: str  # "px" or "images"
    per_image: float | None = None  # pixels per image (px) — None for image mode or when unknown
    per_image_percent: float | None = None
    total: int | None = None  # px or images over the whole pool, when the pool is stated

    def as_dict(self) -> dict:
        return {"unit": self.unit, "per_image": self.per_image, "per_image_percent": self.per_image_percent,
                "total": self.total}


@dataclass(frozen=True)
class Round:
    index: int  # 1-based
    train: int  # epochs or iterations
    train_start: int  # cumulative position before this round's training
    query: bool
    budget: Budget | None  # this round's query, None when the round ends without one
    trained_on: Budget  # labels held while this round trains
    cumulative: Budget  # labels held after this round's query
    reset: bool  # weights, optimizer state and LR schedule reset before this round's training


@dataclass
class Plan:
    experiment: m.Experiment
    unit: str  # epochs | iters
    warmup: int  # MAE warm-up length (multitask), 0 when none
    warmup_only: bool
    rounds: list[Round]
    initial: Budget
    spans: SpanIndex = field(repr=False, default_factory=SpanIndex)
    sweep: dict | None = None  # name, point, values, initial_seed — for a point of a `sweep`

    @property
    def queries(self) -> int:
        return sum(r.query for r in self.rounds)

    @property
    def total_train(self) -> int:
        return sum(r.train for r in self.rounds)

    def as_dict(self) -> dict:
        exp = self.experiment
        return {
            **({"sweep": self.sweep} if self.sweep else {}),
            "experiment": exp.name,
            "runner": exp.runner.kind,
            "sample_mode": exp.sample.mode,
            "heuristic": exp.heuristic.name,
            "unit": self.unit,
            "warmup": self.warmup,
            "warmup_only": self.warmup_only,
            "total_train": self.total_train + self.warmup,
            "queries": self.queries,
            "reset_each_round": exp.reset_each_round,
            "pool": {"images": exp.pool.images, "resolution": list(exp.pool.resolution) if exp.pool.resolution else None},
            "initial": self.initial.as_dict(),
            "rounds": [
                {"round": r.index, "train": r.train, "train_start": r.train_start, "train_end": r.train_start + r.train,
                 "query": r.query, "budget": r.budget.as_dict() if r.budget else None,
                 "trained_on": r.trained_on.as_dict(), "cumulative": r.cumulative.as_dict(),
                 "reset": {"weights": r.reset, "optimizer": r.reset, "lr_schedule": r.reset}}
                for r in self.rounds
            ],
        }


def flatten(steps: tuple[m.Step, ...], spans: SpanIndex, diags: Diagnostics) -> list[FlatStep]:
    """`train N xK` -> K × (train N, query); `( … ) xK` -> K copies; lengths and repeats checked."""
    out: list[FlatStep] = []
    for step in steps:
        span = spans(step.loc)
        if step.kind in ("train", "warmup"):
            if step.length is not None and step.length <= 0:
                diags.add("SEG306", f"`{step.kind} {step.length}` trains for no time", span,
                          label="zero-length", help="use a positive length, or remove the step")
            repeat = step.repeat if step.repeat is not None else None
            if repeat is not None and repeat < 1:
                diags.add("SEG307", f"repeat count `x{repeat}` must be at least 1", spans((*step.loc, "repeat")))
                continue
            if repeat is None:
                out.append(FlatStep(step.kind, step.length or 0, span))
            else:
                for _ in range(repeat):
                    out += [FlatStep("train", step.length or 0, span), FlatStep("query", 0, span)]
        elif step.kind == "query":
            out.append(FlatStep("query", 0, span))
        else:  # group
            if step.repeat is not None and step.repeat < 1:
                diags.add("SEG307", f"repeat count `x{step.repeat}` must be at least 1", spans((*step.loc, "repeat")))
                continue
            inner = flatten(step.items, spans, diags)
            out += inner * (step.repeat or 1)
    return out


def _check_sequence(flat: list[FlatStep], runner_kind: str, spans: SpanIndex, diags: Diagnostics) -> bool:
    """SEG301–SEG305, SEG309. Returns whether the schedule is warm-up only."""
    sched_span = spans(("schedule",))
    warmups = [i for i, s in enumerate(flat) if s.kind == "warmup"]
    for i in warmups:
        if i != 0:
            diags.add("SEG309", "`warmup` must be the first step of the schedule", flat[i].span,
                      help="move `warmup N` to the front")
        elif runner_kind != "multitask":
            diags.add("SEG309", "`warmup` (MAE reconstruction) needs `runner multitask`", flat[i].span,
                      help="use `runner multitask`, or remove the warm-up")
    body = [s for s in flat if s.kind != "warmup"]
    if warmups and not body:
        return True  # MAE-only warm-up experiment (the reference's `warmup_only`)
    trains = [s for s in body if s.kind == "train"]
    queries = [s for s in body if s.kind == "query"]
    if not trains:
        diags.add("SEG301", "the schedule never trains", sched_span, help="add `train N` steps")
    if not queries:
        diags.add("SEG302", "the schedule never queries, so no labels are bought", sched_span,
                  help="add `query` between trainings, e.g. `train 5; query; train 5`")
    if body and body[0].kind == "query":
        diags.add("SEG305", "the schedule starts with a query", body[0].span, label="no model trained yet",
                  help="start with `train N`: rounds are (train, query) pairs")
    for prev, cur in zip(body, body[1:]):
        if prev.kind == cur.kind == "query":
            diags.add("SEG303", "two queries with no training between them", cur.span, label="second query",
                      help="remove one `query` (or double the budget), or train between them")
    if trains and body[-1].kind == "query":
        diags.add("SEG304", "`query` after the last `train` buys labels no model will use", body[-1].span,
                  label="nothing trains after this query", help="remove this `query`, or add a `train` step after it")
    return False


def _rounds(body: list[FlatStep]) -> list[tuple[int, bool]]:
    """(train length, ends with query) per round; consecutive trains merge into one round."""
    rounds: list[list] = []
    current = 0
    for step in body:
        if step.kind == "train":
            current += step.length
        else:
            rounds.append([current, True])
            current = 0
    if current or not rounds:
        rounds.append([current, False])
    return [(t, q) for t, q in rounds]


def _px_per_image(amount: m.Amount | None, exp: m.Experiment) -> tuple[float | None, float | None]:
    """(pixels per image, percent per image) where derivable without running anything."""
    if amount is None or amount.unit is None:
        return 0, 0
    res = exp.pool.resolution
    hw = res[0] * res[1] if res else None
    n = exp.pool.images
    area = (2 * exp.sample.radius + 1) ** 2
    v = amount.value
    if amount.unit == "%/img":
        return (math.floor(hw * v / 100) if hw else None), v
    px = {"px/img": v, "regions/img": v * area}.get(amount.unit)
    if px is None and amount.unit in ("px", "regions") and n:
        px = (v * (area if amount.unit == "regions" else 1)) / n
    if px is None and amount.unit == "%" and n and hw:
        px = math.floor(n * hw * v / 100) / n
    if amount.unit == "%":
        return px, v
    return px, (100 * px / hw if (px is not None and hw) else None)


def _budget(amount: m.Amount | None, exp: m.Experiment) -> Budget:
    if exp.sample.mode == "image":
        value = int(amount.value) if amount is not None else 0
        return Budget("images", total=value)
    per_image, pct = _px_per_image(amount, exp)
    n = exp.pool.images
    total = None
    if amount is not None and amount.unit in ("px", "regions"):
        total = int(amount.value) * ((2 * exp.sample.radius + 1) ** 2 if amount.unit == "regions" else 1)
    elif per_image is not None and n:
        total = round(per_image * n)
    if amount is None or amount.unit is None:
        per_image, pct, total = 0, 0, (0 if n else None)
    return Budget("px", per_image, pct, total)


def _add(a: Budget, b: Budget, times: int = 1) -> Budget:
    def plus(x, y):
        return None if x is None or y is None else x + y * times
    return Budget(a.unit, plus(a.per_image, b.per_image), plus(a.per_image_percent, b.per_image_percent),
                  plus(a.total, b.total))


def _check_pool(exp: m.Experiment, initial: Budget, budget: Budget, queries: int, spans: SpanIndex,
                diags: Diagnostics) -> None:
    s, pool = exp.sample, exp.pool
    b_span, i_span = spans(("sample", "budget")), spans(("sample", "initial"))
    final = _add(initial, budget, queries)
    if s.mode == "image":
        if pool.images is not None:
            if initial.total and initial.total > pool.images:
                diags.add("SEG410", f"{initial.total} initial images, but the pool holds {pool.images}", i_span)
            elif final.total is not None and final.total > pool.images:
                diags.add("SEG403", f"{initial.total} initial + {queries} × {budget.total} images = {final.total}, "
                          f"but the pool holds {pool.images}", b_span, label="exceeds the pool",
                          help=f"at most {(pool.images - (initial.total or 0)) // max(queries, 1)} images per round")
        return
    res = pool.resolution
    hw = res[0] * res[1] if res else None
    if s.budget.unit == "px" and s.evenly and pool.images and s.budget.value < pool.images:
        diags.add("SEG404", f"{int(s.budget.value)} px over {pool.images} images is less than one pixel per image",
                  b_span, label="rounds to 0 per image", help="raise the budget, or state it `per image`")
    if initial.per_image_percent is not None and initial.per_image_percent > 100:
        return  # SEG410 was reported by the validator
    if hw is not None and initial.per_image is not None and initial.per_image > hw:
        diags.add("SEG410", f"{initial.per_image:g} initial px per image, but an image has {hw}", i_span)
        return
    if final.per_image_percent is not None and final.per_image_percent > 100 + 1e-9:
        diags.add("SEG403", f"initial + {queries} queries label {final.per_image_percent:g}% of each image", b_span,
                  label="more than 100%", help="lower the budget or the number of queries")
    elif hw is not None and final.per_image is not None and final.per_image > hw:
        diags.add("SEG403", f"initial + {queries} queries label {final.per_image:g} px per image, "
                  f"but an image has {hw}", b_span, label="exceeds the image")
    if s.threshold is not None and budget.per_image_percent is not None and budget.per_image_percent > s.threshold:
        diags.add("SEG406", f"the top-{s.threshold:g}% candidate pool is smaller than one query's "
                  f"{budget.per_image_percent:g}% per image", spans(("sample", "threshold")),
                  help="raise the threshold above the per-image budget (the pool is widened to the quota)")


def expand(validated: Validated, diags: Diagnostics) -> Plan | None:
    """Expand the schedule into rounds and check budgets against the pool. None when errors were found."""
    exp, spans = validated.experiment, validated.spans
    start = len(diags.items)
    flat = flatten(exp.schedule.steps, spans, diags)
    warmup_only = _check_sequence(flat, exp.runner.kind, spans, diags)
    warmup = flat[0].length if flat and flat[0].kind == "warmup" else 0
    body = [s for s in flat if s.kind != "warmup"]
    initial = _budget(exp.sample.initial, exp)
    budget = _budget(exp.sample.budget, exp)
    rounds: list[Round] = []
    if not warmup_only:
        held, position = initial, warmup
        for i, (train, query) in enumerate(_rounds(body), start=1):
            before = held
            if query:
                held = _add(held, budget)
            rounds.append(Round(i, train, position, query, budget if query else None, before, held,
                                reset=exp.reset_each_round and i > 1))
            position += train
        _check_pool(exp, initial, budget, sum(r.query for r in rounds), spans, diags)
    if any(d.severity.value == "error" for d in diags.items[start:]):
        return None
    return Plan(exp, exp.schedule.unit, warmup, warmup_only, rounds, initial, spans)


def check_schedule(validated: Validated, diags: Diagnostics) -> None:
    """The schedule rules alone, for a file whose other sections have errors (all errors in one run)."""
    schedule = validated.sections.get("schedule")
    if schedule is None:
        return
    sections, spans = validated.sections, validated.spans
    runner = sections.get("runner", m.Runner())
    flat = flatten(schedule.steps, spans, diags)
    if _check_sequence(flat, runner.kind, spans, diags) or "sample" not in sections:
        return
    # Budget-vs-pool rules need only the sample and pool sections.
    partial = SimpleNamespace(sample=sections["sample"], pool=sections.get("pool", m.Pool()))
    queries = sum(q for _, q in _rounds([s for s in flat if s.kind != "warmup"]))
    initial, budget = _budget(partial.sample.initial, partial), _budget(partial.sample.budget, partial)
    _check_pool(partial, initial, budget, queries, spans, diags)
