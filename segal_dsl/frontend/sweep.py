"""`sweep { axis v1, v2; … }`: one experiment per point of the cartesian product. Emits SEG218–SEG219.

An axis names a statement and lists alternative values for its words, separated by commas:
top-level settings (`heuristic`, `seed`, `reset_each_round`, …), keys of the `sample` block (`budget`,
`initial`, `threshold`, `evenly`, `radius`) and `lr` (the optimizer's learning rate, an mmseg override).
A point keeps a statement's block only when its words equal the original's (`heuristic ripu` keeps the
`{ k 1 }` of `heuristic ripu { k 1 }`). A point draws its initial labels with its own seed (api.py writes
it as `segal_meta.sweep.initial_seed`): the strategies of one seed start from the same pool, and a `seed`
axis varies that pool too, so the spread over seeds counts the initial labels' share.

`reference full` in the block adds the full-supervision reference: one more point per value of the `seed`
axis (one point without it), `<experiment>__reference-full[__seed-S]`, that trains on every pool label from
round 0 for the same schedule and buys nothing (api.py writes `active_learning.reference = 'full'`); the
other axes take the experiment's own statement, or their first value where it has none (with all labels a
strategy's axes change nothing). `segal report` draws it as the ceiling, never as a strategy.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend import nodes as n
from segal_dsl.source import Span
from segal_dsl.spec.modes import REFERENCES
from segal_dsl.values import replace

TOP_AXES = ("heuristic", "seed", "reset_each_round", "load_from", "runner", "source_free", "deterministic")
SAMPLE_AXES = ("budget", "initial", "threshold", "evenly", "radius", "ignore_index")
MAX_POINTS = 1000


@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[tuple[n.Atom, ...], ...]
    span: object


@dataclass(frozen=True)
class Point:
    name: str
    values: dict[str, str]  # axis -> value text
    experiment: n.Experiment
    reference: str | None = None  # `full`: the full-supervision reference point (REFERENCES)


def value_text(args) -> str:
    return " ".join(getattr(a, "text", None) or getattr(a, "name", None) or str(getattr(a, "value", "")) for a in args)


def slug(args) -> str:
    """A short, file-name-safe label: `1% per image per round` -> `1pct-img`, `ripu` -> `ripu`."""
    words = [w for w in value_text(args).split() if w not in ("per", "round")]
    text = "-".join(words).replace("%", "pct").replace("image", "img")
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "x"


def axes_of(setting: n.Setting, diags: Diagnostics) -> list[Axis]:
    from segal_dsl.frontend.validate import did_you_mean

    axes: list[Axis] = []
    if setting.block is None or setting.args:
        diags.add("SEG207", "`sweep` expects a block of axes", setting.span,
                  help="write `sweep { heuristic random, entropy; seed 0, 1 }`")
        return axes
    known = TOP_AXES + SAMPLE_AXES + ("lr",)
    seen: set[str] = set()
    for item in setting.block.items:
        if isinstance(item, n.Setting) and item.key == "reference":
            continue  # not an axis: reference_of reads it
        if not isinstance(item, n.Setting) or item.key not in known:
            name = getattr(item, "key", "?") if isinstance(item, n.Setting) else type(item).__name__.lower()
            diags.add("SEG218", f"`{name}` cannot be swept", getattr(item, "key_span", item.span),
                      label=did_you_mean(name, known) or "not an axis",
                      help="axes: " + ", ".join(f"`{k}`" for k in known) + "; and `reference full`")
            continue
        if item.key in seen:
            diags.add("SEG202", f"axis `{item.key}` is given twice", item.key_span)
            continue
        seen.add(item.key)
        values, current = [], []
        for a in item.args:
            if isinstance(a, n.Comma):
                values.append(tuple(current))
                current = []
            else:
                current.append(a)
        values.append(tuple(current))
        if any(not v for v in values) or item.block is not None:
            diags.add("SEG207", f"axis `{item.key}` expects values separated by commas", item.span,
                      help=f"e.g. `{item.key} a, b`")
            continue
        if _duplicate_values(item.key, values, diags):
            continue
        axes.append(Axis(item.key, tuple(values), item.span))
    total = 1
    for axis in axes:
        total *= len(axis.values)
    if total > MAX_POINTS:
        diags.add("SEG219", f"the sweep has {total} points, more than {MAX_POINTS}", setting.key_span,
                  help="split it into several files")
        return []
    return axes


def _set_top(items: list, key: str, args, span) -> list:
    for i, item in enumerate(items):
        if isinstance(item, n.Setting) and item.key == key:
            same = tuple(map(value_text, ([a] for a in item.args))) == tuple(map(value_text, ([a] for a in args)))
            items[i] = replace(item, args=tuple(args), block=item.block if same else None)
            return items
    return items + [n.Setting(key, span, tuple(args), None, span)]


def _apply(exp: n.Experiment, axis: Axis, args) -> n.Experiment:
    items = list(exp.block.items)
    if axis.key in TOP_AXES:
        items = _set_top(items, axis.key, args, axis.span)
    elif axis.key in SAMPLE_AXES:
        for i, item in enumerate(items):
            if isinstance(item, n.Setting) and item.key == "sample" and item.block is not None:
                inner = _set_top(list(item.block.items), axis.key, args, axis.span)
                items[i] = replace(item, block=replace(item.block, items=tuple(inner)))
    else:  # lr -> mmseg { optimizer.lr = value }
        value = args[0]
        lit = n.LitNumber(value.value, value.span) if isinstance(value, n.Number) else n.LitConst(value_text(args), axis.span)
        override = n.Override(("optimizer", "lr"), axis.span, lit, axis.span)
        for i, item in enumerate(items):
            if isinstance(item, n.Mmseg):
                kept = tuple(o for o in item.overrides if o.key[:2] != ("optimizer", "lr"))
                items[i] = replace(item, overrides=kept + (override,))
                break
        else:
            items.append(n.Mmseg((override,), axis.span, axis.span))
    return replace(exp, block=replace(exp.block, items=tuple(items)))


def _duplicate_values(key: str, values: list[tuple], diags: Diagnostics) -> bool:
    """SEG226: two values of one axis that name the same point (`seed 0, 1, 1`, or `1%` and `1 %`) would
    write one config over the other."""
    seen: dict[str, tuple] = {}
    found = False
    for value in values:
        label = slug(value)
        if label in seen:
            first = seen[label]
            diags.add("SEG226", f"axis `{key}` gives `{value_text(value)}` twice", _span(value), label="same point",
                      notes=((_span(first), f"`{value_text(first)}` given here"),),
                      help="give each value once: both would compile to the point "
                      f"`{key}-{label}` and one config would overwrite the other")
            found = True
        else:
            seen[label] = value
    return found


def _span(value: tuple) -> Span:
    first, last = value[0].span, value[-1].span
    return Span(first.path, first.line, first.column, last.end_line, last.end_column, first.start, last.end)


def reference_of(setting: n.Setting, diags: Diagnostics) -> str | None:
    """The `reference full` of a sweep block (SEG207 when malformed, SEG202 when given twice), else None."""
    found = [i for i in (setting.block.items if setting.block is not None else ())
             if isinstance(i, n.Setting) and i.key == "reference"]
    for extra in found[1:]:
        diags.add("SEG202", "`reference` is given twice", extra.key_span)
    if not found:
        return None
    item = found[0]
    words = value_text(item.args).split()
    if item.block is not None or len(words) != 1 or words[0] not in REFERENCES:
        diags.add("SEG207", "`reference` expects `full`", item.span, label="not a reference",
                  help="write `reference full`: a point trained on every pool label, the report's ceiling")
        return None
    return words[0]


def _has(exp: n.Experiment, key: str) -> bool:
    """Whether the experiment states axis `key` itself (top level, or in its `sample` block)."""
    for item in exp.block.items:
        if isinstance(item, n.Setting) and item.key == key:
            return True
        if isinstance(item, n.Setting) and item.key == "sample" and item.block is not None and any(
                isinstance(i, n.Setting) and i.key == key for i in item.block.items):
            return True
    return key == "lr"  # the optimizer comes from the bases: the experiment's own lr


def reference_points(exp: n.Experiment, base: n.Experiment, axes: list[Axis], kind: str) -> list[Point]:
    """The reference's points: one per `seed` value (REFERENCES); other axes only where the experiment lacks
    the statement (their first value)."""
    point = base
    for axis in axes:
        if axis.key != "seed" and not _has(base, axis.key):
            point = _apply(point, axis, axis.values[0])
    seeds = next((a for a in axes if a.key == "seed"), None)
    out = []
    for args in (seeds.values if seeds is not None else (None,)):
        p = point if args is None else _apply(point, seeds, args)
        name = f"{exp.name}__reference-{kind}" + ("" if args is None else f"__seed-{slug(args)}")
        values = {"reference": kind, **({} if args is None else {"seed": value_text(args)})}
        out.append(Point(name, values, replace(p, name=name), kind))
    return out


def expand_sweep(exp: n.Experiment, diags: Diagnostics) -> list[Point] | None:
    """The sweep's points, or None when the experiment has no `sweep`."""
    sweeps = [i for i in exp.block.items if isinstance(i, n.Setting) and i.key == "sweep"]
    if not sweeps:
        return None
    for extra in sweeps[1:]:
        diags.add("SEG202", "`sweep` is given twice", extra.key_span, help="put every axis in one `sweep` block")
    axes = axes_of(sweeps[0], diags)
    kind = reference_of(sweeps[0], diags)
    base = replace(exp, block=replace(exp.block, items=tuple(
        i for i in exp.block.items if not (isinstance(i, n.Setting) and i.key == "sweep"))))
    extra = reference_points(exp, base, axes, kind) if kind is not None else []
    if not axes:
        return [Point(exp.name, {}, base), *extra]
    points = []
    for combo in itertools.product(*(axis.values for axis in axes)):
        point = base
        for axis, args in zip(axes, combo):
            point = _apply(point, axis, args)
        name = "__".join([exp.name] + [f"{axis.key}-{slug(args)}" for axis, args in zip(axes, combo)])
        values = {axis.key: value_text(args) for axis, args in zip(axes, combo)}
        points.append(Point(name, values, replace(point, name=name)))
    return points + extra
