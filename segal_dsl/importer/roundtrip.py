"""The import's own check: compile the `.seg` text back over the same bases, compare with the original.
Emits SEG609 (the imported experiment fails its checks) and SEG610 (a value changes).

Both sides are effective configs (bases merged as mmcv merges them). The comparison is key by key with
only these normalisations, each a spelling that means the same to mmcv and the reference (docs/reference.md
§12): upper-case helper constants and `segal_meta` are left out; `custom_imports` is compared without
`segal_dsl.runtime` and with `allow_failed_imports=False` as its default; the schedule (`workflow`,
`runner.sample_rounds`, `runner.warmup_only`, `mae_warmup_epochs`) is compared as the rounds the
reference runs against the rounds segal-dsl's runtime reads; keys only the compiled side has are
defaults made explicit.
"""

from __future__ import annotations

import os
from typing import Any

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.importer.literals import HELPER_CONSTANT
from segal_dsl.pyconfig.evaluate import is_number, read_module
from segal_dsl.source import Source
from segal_dsl.spec.config import RUNTIME_MODULE, Runner
from segal_dsl.spec.schedule import Schedule, WorkflowError, merge_reference, read_schedule, reference_rounds

MISSING = object()
IGNORED_KEYS = {"segal_meta"}
SCHEDULE_KEY = "<schedule>"  # stands for workflow + the runner keys and mae_warmup_epochs that it decides


def reference_schedule(cfg: dict) -> tuple | None:
    """(unit, MAE warm-up, MAE-only, rounds) as the reference runs a config; None when it cannot."""
    runner = cfg.get("runner") if isinstance(cfg.get("runner"), dict) else {}
    warmup_only = runner.get("warmup_only") is True
    sample_rounds = 1 if warmup_only else runner.get("sample_rounds")
    try:
        rounds = merge_reference(reference_rounds(cfg["workflow"], sample_rounds))
    except (KeyError, TypeError, IndexError, ValueError):
        return None
    if warmup_only:  # one MAE-only round; mae_warmup_epochs is ignored then
        return _summary(Schedule(_unit(runner), (), sum(r.train for r in rounds), True))
    return _summary(Schedule(_unit(runner), tuple(rounds), cfg.get("mae_warmup_epochs") or 0, False))


def runtime_schedule(cfg: dict) -> tuple | None:
    """The same for a compiled config, as segal-dsl's runtime reads it (spec/schedule.py)."""
    runner = cfg.get("runner") if isinstance(cfg.get("runner"), dict) else {}
    try:
        return _summary(read_schedule(cfg.get("workflow"), runner.get("sample_rounds"), _unit(runner),
                                      cfg.get("mae_warmup_epochs") or 0, runner.get("warmup_only") is True))
    except WorkflowError:
        return None


def _unit(runner: dict) -> str:
    return runner.get("schedule_unit", Runner.model_fields["schedule_unit"].default)


def _summary(sched: Schedule) -> tuple:
    return (sched.unit, sched.warmup, sched.warmup_only, tuple((r.train, r.query) for r in sched.rounds))


def comparable(cfg: dict, schedule: tuple | None) -> dict:
    """A config with the normalisations of the module docstring applied."""
    out = {k: v for k, v in cfg.items() if not HELPER_CONSTANT.match(k) and k not in IGNORED_KEYS}
    for key in ("workflow", "mae_warmup_epochs"):
        out.pop(key, None)
    if isinstance(out.get("runner"), dict):
        out["runner"] = {k: v for k, v in out["runner"].items() if k not in ("sample_rounds", "warmup_only")}
    out[SCHEDULE_KEY] = schedule
    ci = out.get("custom_imports")
    if isinstance(ci, dict):
        imports = ci.get("imports", [])
        imports = [imports] if isinstance(imports, str) else list(imports)
        ci = {**ci, "imports": [i for i in imports if i != RUNTIME_MODULE]}
        if ci.get("allow_failed_imports") is False:
            del ci["allow_failed_imports"]
        if ci == {"imports": []}:
            out.pop("custom_imports")
        else:
            out["custom_imports"] = ci
    if "_base_" in out:
        bases = [out["_base_"]] if isinstance(out["_base_"], str) else list(out["_base_"])
        out["_base_"] = [os.path.normpath(b).replace(os.sep, "/") for b in bases]
    return out


def config_differences(legacy: dict, compiled: dict) -> list[tuple[tuple, Any, Any]]:
    """(path, legacy value, compiled value or MISSING) for every legacy value the compiled config lacks or
    changes, types included (a tuple is not a list: the reference tells the workflow forms apart by it)."""
    out: list[tuple[tuple, Any, Any]] = []

    def walk(old: Any, new: Any, path: tuple) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for k, v in old.items():
                if k not in new:
                    out.append(((*path, k), v, MISSING))
                else:
                    walk(v, new[k], (*path, k))
        elif isinstance(old, (list, tuple)) and type(old) is type(new) and len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new)):
                walk(a, b, (*path, i))
        elif old != new or (type(old) is not type(new) and not (is_number(old) and is_number(new))):
            out.append((path, old, new))  # 5 and 5.0 are one number to mmcv; (1, 2) and [1, 2] are not

    for key, value in legacy.items():
        if key not in compiled:
            out.append(((key,), value, MISSING))
        else:
            walk(value, compiled[key], (key,))
    return out


def evaluate_compiled(text: str, path: str = "<compiled>") -> dict:
    """The values of a compiled (literal-only) config, read with the import's own evaluator."""
    module = read_module(Source(path, text), Diagnostics())
    assert module is not None
    return module.values()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:49] + "…"


def check_round_trip(m, seg_text: str) -> str | None:
    """Check and compile the .seg text to the legacy file's location; report at the legacy lines.
    Returns the text formatted canonically (what `segal fmt` would write), or None on errors."""
    from segal_dsl.api import compile_source
    from segal_dsl.frontend.fmt import format_source

    origins: dict[int, Any] = {}
    line = 2  # line 1 is the header comment
    for text, span in m.lines:
        for _ in text.split("\n"):
            origins[line] = span
            line += 1
    result = compile_source(Source(m.seg_path, seg_text), m.src.path)
    for d in result.diagnostics:
        span = (origins.get(d.span.line) if d.span else None) or m.src.whole()
        m.d.add("SEG609", f"the imported experiment: {d.code} {d.message}", span, label=d.label, help=d.help,
                severity=d.severity)
    if not result.ok or result.config is None:
        return None
    point = result.points[0]
    compiled = point.effective.values if point.effective.bases_known else evaluate_compiled(result.config)
    legacy = m.eff
    old = comparable(legacy, reference_schedule(legacy))
    new = comparable(compiled, runtime_schedule(compiled))
    for path, before, after in config_differences(old, new):
        if any(path[: len(p)] == p for p in m.dropped):
            continue
        if path[0] == SCHEDULE_KEY:
            m.d.add("SEG610", f"the rounds become `{_short(after)}` (the reference runs `{_short(before)}`)",
                    m.span("workflow"), help="review the schedule with `segal plan`")
            continue
        where = ".".join(map(str, path))
        message = (f"`{where}` is not in the compiled config" if after is MISSING
                   else f"`{where}` becomes `{_short(after)}` (legacy: `{_short(before)}`)")
        m.d.add("SEG610", message, m.span(*path), help="review the .seg file if the legacy value was the one you meant")
    canonical = format_source(Source(m.seg_path, seg_text), Diagnostics())
    return canonical if canonical is not None else seg_text
