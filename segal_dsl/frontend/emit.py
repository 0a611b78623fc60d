"""Validated experiment + schedule -> the compiled config (a dict, then mmcv 1.x config text via
templates/config.py.j2) and the plan JSON. Emits SEG5xx.

Which keys are written, and under which names, follows the compiled-config contract
(`segal_dsl/spec/config.py`). Every value is printed by `literal()`, which only ever writes Python
literals (`repr` of str, int, float, bool, None and containers of them): no string from a .seg file
can become code.
"""

from __future__ import annotations

import json
import keyword
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from segal_dsl import __version__
from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend import model as m
from segal_dsl.pyconfig.layout import break_lines
from segal_dsl.pyconfig.load import DELETE_KEY, rebase
from segal_dsl.source import Source
from segal_dsl.spec import budget, heuristics
from segal_dsl.spec.config import MODE_SETTINGS, RUNNER_SETTINGS, RUNTIME_MODULE, SAMPLE_SETTINGS, Runner
from segal_dsl.spec.modes import RUNNER_KINDS
from segal_dsl.spec.plan import Plan
from segal_dsl.spec.schedule import OPTIONAL_RUNNER_KEYS, Schedule

_WIDTH = 100


class NotLiteral(ValueError):
    """A value that cannot be written as a Python literal (SEG501)."""



def literal(value, indent: int = 0) -> str:
    """A Python literal for `value`; dicts with identifier keys use mmcv's `dict(k=v)` style."""
    return break_lines(value, indent, _flat, _identifier_keys, _WIDTH)


def _identifier_keys(d: dict) -> bool:
    return all(isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k) for k in d)


def _flat(value) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotLiteral(f"{value!r} is not a finite number")
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, dict):
        if _identifier_keys(value):
            return "dict(" + ", ".join(f"{k}={_flat(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, tuple):
        if len(value) == 1:
            return "(" + _flat(value[0]) + ",)"  # the trailing comma the reference's last round needs
        return "(" + ", ".join(_flat(v) for v in value) + ")"
    raise NotLiteral(f"cannot write a {type(value).__name__} as a literal")


@lru_cache(maxsize=1)
def _template():
    import jinja2

    text = resources.files("segal_dsl").joinpath("frontend/templates/config.py.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(text)


@dataclass
class Compiled:
    """The compiled config as data: its ordered top-level keys, and which `.seg` setting wrote each value."""

    values: dict[str, Any]
    where: dict[tuple, tuple] = field(default_factory=dict)  # compiled key path -> SpanIndex loc
    notes: list[str] = field(default_factory=list)            # base values replaced on purpose (SEG223)
    schedule_top: dict[str, Any] = field(default_factory=dict)  # top-level keys the schedule decides

    def put(self, path: tuple, value: Any, loc: tuple) -> None:
        """Set the value at a key path (dicts created on the way) and remember which setting wrote it."""
        node = self.values
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        self.where[path] = loc


def _schedule_keys(sched: Schedule, inherited: dict) -> tuple[dict, dict]:
    """The `runner` and top-level keys the schedule decides: always the .seg file's, whatever a base says."""
    runner = sched.runner_keys()
    base_runner = inherited.get("runner") if isinstance(inherited.get("runner"), dict) else {}
    for key in OPTIONAL_RUNNER_KEYS:
        default = Runner.model_fields[key].default
        if key not in runner and key in base_runner and base_runner[key] != default:
            runner[key] = default
    top: dict = {}
    warmup = sched.warmup if not sched.warmup_only else 0
    if warmup or inherited.get("mae_warmup_epochs"):
        top["mae_warmup_epochs"] = warmup
    return runner, top


def config_dict(exp: m.Experiment, sched: Schedule, source: Source, inherited: dict | None = None,
                sweep: dict | None = None) -> Compiled:
    """The ordered top-level assignments of the compiled config.

    A key is written when the `.seg` file states it, or when the runtime needs it and no base sets it
    (docs/compiled-config.md): everything else keeps the value the `base` files give it, or the contract's
    default. `inherited` is what the bases set (None when they could not be read). `_base_` keeps the
    paths as the `.seg` file writes them (relative to it); `render` re-expresses them for the output.
    """
    base = inherited or {}
    out = Compiled({})
    _head(exp, base, out)
    _active_learning(exp, sched, base, out)
    _schedule_and_runner(exp, sched, base, out)
    _hooks(exp, out, sweep)
    meta = {"experiment": exp.name, "source": source.path.replace(os.sep, "/"), "source_sha256": source.sha256,
            "version": __version__, "schedule_unit": sched.unit}
    if exp.pool.images is not None:
        meta["pool_images"] = exp.pool.images
    if sweep is not None:
        meta["sweep"] = sweep
        if sweep.get("reference") is not None:  # the full-supervision point of a sweep (frontend/sweep.py)
            out.put(("active_learning", "reference"), sweep["reference"], ())
    out.put(("segal_meta",), meta, ())
    _passthrough(exp, out)
    return out


def _head(exp: m.Experiment, base: dict, out: Compiled) -> None:
    out.put(("_base_",), list(exp.base), ("base",))
    base_ci = base.get("custom_imports") if isinstance(base.get("custom_imports"), dict) else {}
    base_imports = base_ci.get("imports") if isinstance(base_ci.get("imports"), (list, tuple)) else []
    imports = [RUNTIME_MODULE, *base_imports, *exp.imports]  # additive: a base's dataset modules stay imported
    out.put(("custom_imports", "imports"), list(dict.fromkeys(imports)), ("imports",))
    if exp.allow_failed_imports:
        out.put(("custom_imports", "allow_failed_imports"), True, ("allow_failed_imports",))
    for key in ("load_from", "work_dir", "seed", "deterministic", "source_free"):
        if getattr(exp, key) is not None:
            out.put((key,), getattr(exp, key), (key,))
    if exp.pool.resolution is not None:
        out.put(("scale_size",), tuple(exp.pool.resolution), ("pool", "resolution"))


def _active_learning(exp: m.Experiment, sched: Schedule, base: dict, out: Compiled) -> None:
    s, h = exp.sample, exp.heuristic
    al = ("active_learning",)
    settings = (*al, "settings", s.mode)
    radius = s.radius if s.radius is not None else _inherited_radius(base, s.mode)
    for seg_key, key in SAMPLE_SETTINGS[s.mode].items():
        value = getattr(s, seg_key)
        if value is None:
            continue
        shares = None
        if seg_key in ("initial", "budget") and value.total:
            shares = budget.split_total(value.value, value.unit, sched.queries, radius)
            value = shares[0] if shares else budget.compile_amount(value.value, value.unit, radius)
        elif seg_key in ("initial", "budget"):
            value = budget.compile_amount(value.value, value.unit, radius)
        elif seg_key == "threshold":
            value = float(value)
        out.put((*settings, key), value, ("sample", seg_key))
        if shares and any(share != value for share in shares):  # equal shares: budget_per_round says it all
            out.put((*settings, "budget_per_query"), shares, ("sample", seg_key))
    out.put((*al, "heuristic"), h.name, ("heuristic", "name"))
    params, in_settings = heuristics.compiled_params(h.name, h.params)
    base_al = base.get("active_learning") if isinstance(base.get("active_learning"), dict) else {}
    if isinstance(base_al.get("heuristic_cfg"), dict) and base_al.get("heuristic") != h.name:
        params = {DELETE_KEY: True, **params}  # parameters of another heuristic must not leak in
        out.notes.append(f"`active_learning.heuristic_cfg` of the base's `{base_al.get('heuristic')}` is replaced")
    if params:
        out.put((*al, "heuristic_cfg"), params, ("heuristic", "params"))
    for key, value in in_settings.items():
        out.put((*settings, key), value, ("heuristic", "params"))
    if exp.reset_each_round is not None:
        out.put((*al, "reset_each_round"), exp.reset_each_round, ("reset_each_round",))
    if exp.visualize is not None:
        for key in ("size", "overlay", "dir"):
            if getattr(exp.visualize, key) is not None:
                out.put((*al, "visualize", key), getattr(exp.visualize, key), ("visualize", key))


def _schedule_and_runner(exp: m.Experiment, sched: Schedule, base: dict, out: Compiled) -> None:
    out.put(("workflow",), sched.workflow(), ("schedule",))
    runner_keys, schedule_top = _schedule_keys(sched, base)
    run = {"type": RUNNER_KINDS[exp.runner.kind].type, "sample_mode": exp.sample.mode, **runner_keys}
    base_runner = base.get("runner")
    if isinstance(base_runner, dict) and set(base_runner) - set(run) - set(OPTIONAL_RUNNER_KEYS):
        run = {DELETE_KEY: True, **run}
        shown = ", ".join(f"{k}={v!r}" for k, v in base_runner.items())
        out.notes.append(f"the base's `runner = dict({shown})` is replaced: the schedule decides the run's length")
    out.put(("runner",), run, ("schedule",))
    out.schedule_top = schedule_top


def _hooks(exp: m.Experiment, out: Compiled, sweep: dict | None) -> None:
    if exp.log is not None:
        hooks = [{"type": "TextLoggerHook"}] if exp.log.text else []
        if exp.log.wandb is not None:
            w = exp.log.wandb
            init = {k: getattr(w, k) for k in ("entity", "project", "name", "group") if getattr(w, k) is not None}
            if sweep is not None:  # a sweep's runs side by side in wandb: one group, each point by its name
                init.setdefault("group", sweep["name"])
                init.setdefault("name", sweep["point"])
            if w.tags:
                init["tags"] = list(w.tags)
            hooks.append({"type": "WandbLoggerHookWithVal", "init_kwargs": init})
        out.put(("log_config",), {"interval": exp.log.interval, "hooks": hooks}, ("log",))
    if exp.evaluation is not None:
        e = exp.evaluation
        ev = {"interval": e.interval, "by_epoch": e.by_epoch, "metric": e.metric}
        ev.update({k: getattr(e, k) for k in ("save_best", "pre_eval") if getattr(e, k) is not None})
        out.put(("evaluation",), ev, ("evaluation",))
    if exp.checkpoint is not None:
        c = exp.checkpoint
        out.put(("checkpoint_config",), {"interval": c.interval, "by_epoch": c.by_epoch,
                                         **({"max_keep_ckpts": c.max_keep} if c.max_keep else {})}, ("checkpoint",))
    for seg_key, path in RUNNER_SETTINGS.items():
        value = getattr(exp.runner, seg_key)
        if value is not None and len(path) == 1:
            out.put(path, value, ("runner", seg_key))
    for key, value in out.schedule_top.items():
        out.put((key,), value, ("schedule",))


def _passthrough(exp: m.Experiment, out: Compiled) -> None:
    """The multitask runner's model settings and the `mmseg { … }` overrides, merged (SEG211 kept them apart)."""
    generated: dict = {}
    for seg_key, path in RUNNER_SETTINGS.items():
        value = getattr(exp.runner, seg_key)
        if value is not None and len(path) > 1:
            node = generated
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = float(value)
            out.where[path] = ("runner", seg_key)
    for key, value in _deep_merge(generated, exp.overrides).items():
        out.values[key] = value
        out.where.setdefault((key,), ("overrides", key))
    _override_locs(exp.overrides, ("overrides",), (), out.where)


def _inherited_radius(base: dict, mode: str) -> int:
    try:
        value = base["active_learning"]["settings"][mode]["radius"]
    except (KeyError, TypeError):
        value = None
    default = MODE_SETTINGS["region"].model_fields["radius"].default
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _override_locs(tree: dict, loc: tuple, path: tuple, where: dict) -> None:
    for key, value in tree.items():
        where[(*path, key)] = (*loc, key)
        if isinstance(value, dict):
            _override_locs(value, (*loc, key), (*path, key), where)


def _deep_merge(a: dict, b: dict) -> dict:
    """`b` over `a`, nested dicts merged (the validator rejects a leaf set by both)."""
    out = dict(a)
    for key, value in b.items():
        out[key] = _deep_merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) \
            else value
    return out


def render(compiled: Compiled, source: Source, spans, diags: Diagnostics, out_dir: str | None) -> str | None:
    """The config file's text for a config written into `out_dir`, or None (with SEG501) if a value cannot
    be written as a literal."""
    source_dir = os.path.dirname(source.path)
    cfg = {**compiled.values, "_base_": [rebase(b, source_dir, "." if out_dir is None else out_dir)
                                         for b in compiled.values["_base_"]]}
    assignments = []
    for name, value in cfg.items():
        try:
            if name == "workflow":  # one round per line: the irregular form, trailing commas visible
                text = "[\n" + "".join(f"    {literal(r)},\n" for r in value) + "]"
            else:
                text = literal(value, 0)
        except NotLiteral as err:
            diags.add("SEG501", f"`{name}`: {err}", spans((name,)) or source.whole())
            return None
        assignments.append((name, text))
    return _template().render(version=__version__, source_repr=repr(source.path.replace(os.sep, "/")),
                              sha256=source.sha256[:16], assignments=assignments)


def plan_json(plan: Plan, source: Source) -> str:
    data = plan.as_dict()
    data["source"] = source.path.replace(os.sep, "/")
    data["source_sha256"] = source.sha256
    data["segal_version"] = __version__
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
