"""Plan -> mmcv 1.x config text (templates/config.py.j2) and the plan JSON. Emits SEG5xx.

Every value is printed by `literal()`, which only ever writes Python literals (`repr` of str, int,
float, bool, None and containers of them): no string from a .seg file can become code.
"""

from __future__ import annotations

import json
import keyword
import math
import os
from functools import lru_cache
from importlib import resources

from segal_dsl import __version__
from segal_dsl.diagnostics import Diagnostics
from segal_dsl.pyconfig.layout import break_lines
from segal_dsl.frontend.expand import Plan
from segal_dsl.source import Source

RUNTIME_MODULE = "segal_dsl.runtime"
_WIDTH = 100


class NotLiteral(ValueError):
    pass


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


def _budget_spec(amount, mode: str, radius: int):
    """A BudgetSpec (docs/compiled-config.md): an int total, or dict(value, unit) resolved at run time."""
    if amount is None or amount.unit is None:
        return 0
    value = int(amount.value) if float(amount.value).is_integer() else float(amount.value)
    if mode == "image" or amount.unit == "px":
        return int(value)
    if amount.unit == "regions":
        return int(value) * (2 * radius + 1) ** 2
    if amount.unit in ("px/img", "regions/img"):
        value = int(value)
    return {"value": value, "unit": amount.unit}


def _rebase(path: str, source_dir: str, out_dir: str) -> str:
    """Relative `_base_` paths are written relative to the .seg file (as mmcv resolves `_base_` against
    the config); re-express them relative to where the compiled config is written."""
    if os.path.isabs(path):
        return path
    rel = os.path.relpath(os.path.normpath(os.path.join(source_dir, path)), out_dir or ".")
    return rel.replace(os.sep, "/")


def config_dict(plan: Plan, source: Source, out_dir: str | None) -> dict:
    """The ordered top-level assignments of the compiled config."""
    exp = plan.experiment
    s, h, runner = exp.sample, exp.heuristic, exp.runner
    source_dir = os.path.dirname(source.path)
    out_dir = "." if out_dir is None else out_dir
    cfg: dict = {}
    cfg["_base_"] = [_rebase(b, source_dir, out_dir) for b in exp.base]
    cfg["custom_imports"] = {"imports": [RUNTIME_MODULE] + [i for i in exp.imports if i != RUNTIME_MODULE],
                             "allow_failed_imports": exp.allow_failed_imports}
    cfg["load_from"] = exp.load_from
    if exp.work_dir is not None:
        cfg["work_dir"] = exp.work_dir
    if exp.seed is not None:
        cfg["seed"] = exp.seed
    if exp.deterministic is not None:
        cfg["deterministic"] = exp.deterministic
    if s.mode != "image":
        cfg["source_free"] = True if exp.source_free is None else exp.source_free
    if exp.pool.resolution is not None:
        cfg["scale_size"] = tuple(exp.pool.resolution)
    if s.mode == "image":
        settings = {"initial_pool": _budget_spec(s.initial, "image", 0),
                    "budget_per_round": _budget_spec(s.budget, "image", 0)}
    else:
        settings = {"initial_label_pixels": _budget_spec(s.initial, s.mode, s.radius),
                    "budget_per_round": _budget_spec(s.budget, s.mode, s.radius),
                    "sample_evenly": s.evenly}
        if s.threshold is not None:
            settings["sample_threshold"] = float(s.threshold)
        settings["ignore_index"] = s.ignore_index
        if s.mode == "region":
            settings["radius"] = s.radius
        if h.name == "entropy" and "prop" in h.params:
            settings["entropy_prop"] = float(h.params["prop"])
    al = {"settings": {s.mode: settings}, "heuristic": h.name}
    if h.name in ("ripu", "mps"):
        params = {"k": h.params.get("k", 1), "use_entropy": h.params.get("use_entropy", True)}
        for key in ("categories", "crop_size"):
            if h.params.get(key) is not None:
                params[key] = h.params[key]
        if h.name == "mps":
            params["mix_factor"] = float(h.params.get("mix_factor", 0.8))
        al["heuristic_cfg"] = params
    al["reset_each_round"] = exp.reset_each_round
    if exp.visualize is not None:
        al["visualize"] = {"size": exp.visualize.size, "overlay": exp.visualize.overlay, "dir": exp.visualize.dir}
    cfg["active_learning"] = al
    workflow = []
    for r in plan.rounds:
        steps = [("train", r.train)] + ([("query", 1)] if r.query else [])
        workflow.append(tuple(steps))
    if plan.warmup_only:  # MAE-only run: one round of `warmup N` reconstruction training, no query
        workflow = [(("train", plan.warmup),)]
    cfg["workflow"] = workflow
    run = {"type": "MultiTaskActiveRunner" if runner.kind == "multitask" else "ActiveLearningRunner",
           "sample_mode": s.mode, "sample_rounds": len(workflow) - 1}
    if plan.unit == "iters":
        run["schedule_unit"] = "iters"
    if plan.warmup_only:
        run["warmup_only"] = True
    cfg["runner"] = run
    if exp.log is not None:
        hooks = [{"type": "TextLoggerHook"}] if exp.log.text else []
        if exp.log.wandb is not None:
            w = exp.log.wandb
            init = {k: getattr(w, k) for k in ("entity", "project", "name", "group") if getattr(w, k) is not None}
            if w.tags:
                init["tags"] = list(w.tags)
            hooks.append({"type": "WandbLoggerHookWithVal", "init_kwargs": init})
        cfg["log_config"] = {"interval": exp.log.interval, "hooks": hooks}
    if exp.evaluation is not None:
        e = exp.evaluation
        ev = {"interval": e.interval, "by_epoch": e.by_epoch, "metric": e.metric}
        if e.save_best is not None:
            ev["save_best"] = e.save_best
        if e.pre_eval is not None:
            ev["pre_eval"] = e.pre_eval
        cfg["evaluation"] = ev
    if exp.checkpoint is not None:
        c = exp.checkpoint
        cfg["checkpoint_config"] = {"interval": c.interval, "by_epoch": c.by_epoch,
                                    **({"max_keep_ckpts": c.max_keep} if c.max_keep else {})}
    if s.mode != "image":
        cfg["mask_dir"] = runner.mask_dir if runner.mask_dir is not None else "masks"
    if runner.kind == "multitask":
        cfg["mae_viz_dir"] = runner.mae_viz_dir if runner.mae_viz_dir is not None else "reconstructed_images"
        if plan.warmup and not plan.warmup_only:
            cfg["mae_warmup_epochs"] = plan.warmup
        if runner.validation_interval is not None:
            cfg["multitask_validation_iter"] = runner.validation_interval
        if runner.viz_interval is not None:
            cfg["mae_viz_interval"] = runner.viz_interval
        if runner.viz_count is not None:
            cfg["mae_viz_count"] = runner.viz_count
        if runner.mae_val_interval is not None:
            cfg["mae_val_iter"] = runner.mae_val_interval
    cfg["segal_meta"] = {"experiment": exp.name, "source": source.path.replace(os.sep, "/"),
                         "source_sha256": source.sha256, "version": __version__,
                         "schedule_unit": plan.unit}
    if plan.sweep is not None:
        cfg["segal_meta"]["sweep"] = plan.sweep
    generated: dict = {}
    if runner.kind == "multitask":
        if runner.mask_ratio is not None:
            generated["model"] = {"mae_config": {"mask_ratio": float(runner.mask_ratio)}}
        if runner.reconstruction_weight is not None:
            generated.setdefault("model", {})["mae_head"] = {
                "loss_rec": {"loss_weight": float(runner.reconstruction_weight)}}
    for key, value in _deep_merge(generated, exp.overrides).items():
        cfg[key] = value
    return cfg


def _deep_merge(a: dict, b: dict) -> dict:
    """`b` over `a`, nested dicts merged (the validator rejects a leaf set by both)."""
    out = dict(a)
    for key, value in b.items():
        out[key] = _deep_merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) \
            else value
    return out


def emit(plan: Plan, source: Source, diags: Diagnostics, out_dir: str | None = None) -> str | None:
    """The config file's text, or None (with SEG501) if a value cannot be written as a literal."""
    cfg = config_dict(plan, source, out_dir)
    assignments = []
    for name, value in cfg.items():
        try:
            if name == "workflow":  # one round per line: the irregular form, trailing commas visible
                text = "[\n" + "".join(f"    {literal(r)},\n" for r in value) + "]"
            else:
                text = literal(value, 0)
        except NotLiteral as err:
            diags.add("SEG501", f"`{name}`: {err}", plan.spans((name,)) or source.whole())
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
