"""Validated experiment -> its expanded schedule (rounds, warm-up); budget-vs-pool checks. Emits SEG3xx, SEG4xx.

The expansion rules themselves (how steps become rounds, the compiled workflow) are in
`segal_dsl/spec/schedule.py`; this stage walks the written steps with their spans and reports mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend import model as m
from segal_dsl.frontend.validate import SpanIndex, Validated
from segal_dsl.source import Span
from segal_dsl.spec import budget as b
from segal_dsl.spec import schedule as sch
from segal_dsl.spec.config import MODE_SETTINGS, SAMPLE_SETTINGS, RegionSettings
from segal_dsl.spec.modes import SAMPLE_MODES


@dataclass(frozen=True)
class FlatStep:
    """One step of the schedule after repeats and groups are unrolled, with the span it was written at."""

    kind: str  # train | query | warmup | at (a `query at …`, before `place_queries` places it)
    length: int
    span: Span | None
    at: tuple[tuple[int, Span | None], ...] = ()  # `query at`: each position and its span


def flatten(steps: tuple[m.Step, ...], spans: SpanIndex, diags: Diagnostics, nested: bool = False) -> list[FlatStep]:
    """`train N xK` -> K × (train N, query); `( … ) xK` -> K copies; lengths and repeats checked."""
    out: list[FlatStep] = []
    for step in steps:
        span = spans(step.loc)
        if step.at:
            if nested:  # checked as a plain `query` from here on, so that nothing else is reported about it
                diags.add("SEG313", "`query at` inside a repeated group", span, label="absolute positions",
                          help="move `query at …` out of the group: its positions count from the start of training")
                out.append(FlatStep("query", 0, span))
            else:
                out.append(FlatStep("at", 0, span, tuple((p, spans((*step.loc, "at", i)))
                                                         for i, p in enumerate(step.at))))
            continue
        if step.kind in ("train", "warmup"):
            if step.length is not None and step.length <= 0:
                diags.add("SEG306", f"`{step.kind} {step.length}` trains for no time", span,
                          label="zero-length", help="use a positive length, or remove the step")
            repeat = step.repeat
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
            inner = flatten(step.items, spans, diags, nested=True)
            out += inner * (step.repeat or 1)
    return out


def expanded_size(steps: tuple[m.Step, ...]) -> int:
    """How many steps `flatten` would make, counted without making them (`x100000000` costs nothing here)."""
    total = 0
    for step in steps:
        repeat = max(step.repeat or 1, 1)
        if step.kind == "group":
            total += repeat * expanded_size(step.items)
        elif step.kind == "train" and step.repeat is not None:
            total += 2 * repeat
        else:
            total += 1 + len(step.at)
        if total > sch.MAX_STEPS:
            return total
    return total


def flat_schedule(steps: tuple[m.Step, ...], spans: SpanIndex, diags: Diagnostics) -> list[FlatStep] | None:
    """The written steps unrolled and `query at` placed; None (SEG320) when they would unroll into more
    than `MAX_STEPS` steps: diagnosed before anything is allocated."""
    size = expanded_size(steps)
    if size > sch.MAX_STEPS:
        diags.add("SEG320", f"the schedule unrolls into more than {sch.MAX_STEPS:,} steps", spans(("schedule",)),
                  label="too many rounds", help="an active-learning schedule has tens of rounds: check the repeat counts")
        return None
    return place_queries(flatten(steps, spans, diags), diags)


def place_queries(flat: list[FlatStep], diags: Diagnostics) -> list[FlatStep]:
    """The `query at …` items placed where they query (spec/schedule.py); SEG311 out of range, SEG312 order."""
    ats = [s for s in flat if s.kind == "at"]
    if not ats:
        return flat
    head = flat[:1] if flat[0].kind == "warmup" else []
    start = head[0].length if head else 0
    body = [s for s in flat[len(head):] if s.kind != "at"]
    end = start + sum(s.length for s in body if s.kind == "train")
    positions: list[tuple[int, Span | None]] = []
    for item in ats:
        for i, (p, span) in enumerate(item.at):
            if not start <= p <= end:
                where = f"{start}..{end}" if start else f"0..{end}"
                diags.add("SEG311", f"query position `{p}` is outside the training ({where})", span,
                          label="before the training" if p < start else "after the last training",
                          help=f"use a position from {start} to {end}" + (" (after the warm-up)" if start else ""))
            elif i and p <= item.at[i - 1][0]:
                diags.add("SEG312", f"query position `{p}` is not after `{item.at[i - 1][0]}`", span,
                          label="out of order", notes=((item.at[i - 1][1], "previous position"),),
                          help="list the positions in increasing order, each once")
            else:
                positions.append((p, span))
    placed = sch.place_queries([(s.kind, s.length) for s in body], [p for p, _ in positions], start)
    return head + [FlatStep(kind, length, body[origin].span if origin >= 0 else positions[-1 - origin][1])
                   for kind, length, origin in placed]


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
                  label="trains on the initial labels only",
                  help="add `query` between trainings, e.g. `train 5; query; train 5`")
    if body and body[0].kind == "query":
        diags.add("SEG305", "the schedule starts with a query", body[0].span,
                  label="scores with the starting weights (`load_from`, else random)",
                  help="start with `train N`, or set `load_from` to a trained model")
    for prev, cur in zip(body, body[1:]):
        if prev.kind == cur.kind == "query":
            diags.add("SEG303", "two queries with no training between them", cur.span, label="second query",
                      help="remove one `query` (or double the budget), or train between them")
    if trains and body[-1].kind == "query":
        diags.add("SEG304", "`query` after the last `train` buys labels no model will use", body[-1].span,
                  label="nothing trains after this query", help="remove this `query`, or add a `train` step after it")
    return False


def expand(validated: Validated, diags: Diagnostics) -> sch.Schedule | None:
    """The experiment's schedule expanded into rounds; None when the schedule has errors."""
    exp, spans = validated.experiment, validated.spans
    start = len(diags.items)
    flat = flat_schedule(exp.schedule.steps, spans, diags)
    if flat is None:
        return None
    warmup_only = _check_sequence(flat, exp.runner.kind, spans, diags)
    if any(d.severity.value == "error" for d in diags.items[start:]):
        return None
    warmup = flat[0].length if flat and flat[0].kind == "warmup" else 0
    if warmup_only:
        return sch.Schedule(exp.schedule.unit, (), warmup, True)
    body = [(s.kind, s.length) for s in flat if s.kind != "warmup"]
    schedule = sch.Schedule(exp.schedule.unit, tuple(sch.rounds_of_steps(body)), warmup, False)
    if schedule.queries and exp.sample.budget.value == 0:
        diags.add("SEG401", "the budget per round must be positive", spans(("sample", "budget")),
                  label="buys nothing",
                  help="each query must buy at least one label (only a schedule without `query` may buy nothing)")
        return None
    if _empty_share(exp.sample.budget, schedule.queries, spans(("sample", "budget")), diags):
        return None
    return schedule


def _empty_share(amount: m.Amount, queries: int, span: Span | None, diags: Diagnostics) -> bool:
    """SEG401 for a `budget X total` whose split leaves a query with nothing (X smaller than the queries)."""
    if not (queries and amount.total and amount.unit is not None):
        return False
    empty = [k for k, spec in enumerate(b.split_total(amount.value, amount.unit, queries), 1) if b.is_zero(spec)]
    if empty:
        diags.add("SEG401", f"`{b.amount_text(amount.value, amount.unit)} total` over {queries} queries leaves "
                  f"{len(empty)} of them with nothing", span, label=f"query {empty[0]} buys nothing",
                  help=f"a total of at least {queries} {b.unit_text(amount.unit)}, or fewer queries")
    return bool(empty)


@dataclass(frozen=True)
class Sampling:
    """The sampling facts the pool checks need: effective values (stated, inherited, or the defaults)."""

    mode: str
    initial: b.BudgetSpec
    budget: b.BudgetSpec
    evenly: bool
    threshold: float | None
    radius: int
    shares: tuple[b.BudgetSpec, ...] = ()  # `budget X total`: what each query buys (else `budget`, each time)
    segments: int | None = None  # superpixel mode: the superpixels SLIC is asked for per image


def stated_sampling(sample: m.Sample, queries: int = 0) -> Sampling:
    """The sampling facts of a `sample` block alone, the contract's defaults for what it does not state."""
    settings = MODE_SETTINGS[sample.mode].model_fields
    keys = SAMPLE_SETTINGS[sample.mode]

    def value(seg_key: str):
        stated = getattr(sample, seg_key, None)
        return stated if stated is not None else settings[keys[seg_key]].default if seg_key in keys else None

    radius = value("radius") if sample.mode == "region" else RegionSettings.model_fields["radius"].default
    initial = b.compile_amount(sample.initial.value, sample.initial.unit, radius) if sample.initial else 0
    amount = sample.budget
    shares = tuple(b.split_total(amount.value, amount.unit, queries, radius)) if amount.total else ()
    return Sampling(sample.mode, initial, shares[0] if shares else b.compile_amount(amount.value, amount.unit, radius),
                    bool(value("evenly")) if sample.mode != "image" else True, value("threshold"), radius, shares,
                    value("segments") if sample.mode == "superpixel" else None)


def check_pool(sampling: Sampling, pool: m.Pool, queries: int, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG403/404/406/410: the initial labels and every query against the pool the file states."""
    images, res = pool.images, pool.resolution
    b_span, i_span = spans(("sample", "budget")), spans(("sample", "initial"))
    specs = list(sampling.shares) or [sampling.budget] * queries
    try:
        initial = b.estimate(sampling.initial, sampling.mode, images, res, sampling.radius)
        per_query = b.estimate(sampling.budget, sampling.mode, images, res, sampling.radius)
        final = initial
        for spec in specs:
            final = final.plus(b.estimate(spec, sampling.mode, images, res, sampling.radius))
    except ValueError:
        return  # an amount the validator already refused (e.g. 120%)
    if sampling.mode == "image":
        if images is not None:
            if initial.total and initial.total > images:
                diags.add("SEG410", f"{initial.total} initial images, but the pool holds {images}", i_span)
            elif final.total is not None and final.total > images:
                bought = f"{queries} × {per_query.total}" if not sampling.shares else \
                    f"{final.total - (initial.total or 0)} (the total over {queries} queries)"
                diags.add("SEG403", f"{initial.total} initial + {bought} images = {final.total}, "
                          f"but the pool holds {images}", b_span, label="exceeds the pool",
                          help=f"at most {(images - (initial.total or 0)) // max(queries, 1)} images per round")
        return
    if sampling.mode == "superpixel":
        _check_superpixels(sampling, final, spans, diags)
        return
    hw = res[0] * res[1] if res else None
    low = min((s for s in specs or [sampling.budget] if isinstance(s, int)), default=None)
    if low is not None and sampling.evenly and images and low < images:
        diags.add("SEG404", f"{low} px over {images} images is less than one pixel per image",
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
    threshold = sampling.threshold
    if threshold is not None and per_query.per_image_percent is not None and per_query.per_image_percent > threshold:
        diags.add("SEG406", f"the top-{threshold:g}% candidate pool is smaller than one query's "
                  f"{per_query.per_image_percent:g}% per image", spans(("sample", "threshold")),
                  help="raise the threshold above the per-image budget (the pool is widened to the quota)")


def _check_superpixels(sampling: Sampling, final: b.Estimate, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG415: more superpixels per image than SLIC is asked to make (known when per image, or the pool's size)."""
    if final.per_image is not None and sampling.segments is not None and final.per_image > sampling.segments:
        diags.add("SEG415", f"initial + queries buy {final.per_image:g} superpixels per image, but SLIC is asked for "
                  f"{sampling.segments}", spans(("sample", "budget")), label="more than an image has",
                  help="raise `segments`, or lower the budget or the number of queries")


def check_schedule(validated: Validated, diags: Diagnostics) -> None:
    """The schedule rules alone, for a file whose other sections have errors (all errors in one run)."""
    schedule = validated.sections.get("schedule")
    if schedule is None:
        return
    sections, spans = validated.sections, validated.spans
    runner = sections.get("runner", m.Runner())
    flat = flat_schedule(schedule.steps, spans, diags)
    if flat is None or _check_sequence(flat, runner.kind, spans, diags) or "sample" not in sections:
        return
    sample = sections["sample"]
    units = SAMPLE_MODES[sample.mode].units
    if any(a is not None and a.unit is not None and a.unit not in units for a in (sample.initial, sample.budget)):
        return  # SEG402 was reported: the amounts mean nothing in this mode
    queries = sum(r.query for r in sch.rounds_of_steps([(s.kind, s.length) for s in flat if s.kind != "warmup"]))
    check_pool(stated_sampling(sample, queries), sections.get("pool", m.Pool()), queries, spans, diags)
