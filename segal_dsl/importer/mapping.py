"""Evaluated legacy config -> .seg statements. Emits SEG6xx.

The statements that the language requires (runner, sample, heuristic, schedule) and the dict-valued
statements (log, evaluation, checkpoint) are written from the *effective* config, the file merged with
its `_base_` files as mmcv merges them, so that compiling them over the same bases gives the same values;
everything else is written only when the file itself sets it (what it inherits stays inherited). The
mapping is the compiled-config contract (`segal_dsl/spec/config.py`) read backwards.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any

from segal_dsl.diagnostics import Diagnostics, Severity
from segal_dsl.frontend.model import Log, Wandb
from segal_dsl.importer.literals import (
    HELPER_CONSTANT,
    KEYWORDS,
    NotExpressible,
    experiment_name,
    seg_literal,
    seg_number,
    seg_string,
)
from segal_dsl.importer.workflow import Stop, workflow_rounds, write_schedule
from segal_dsl.pyconfig.evaluate import UNKNOWN, Module, is_number
from segal_dsl.pyconfig.load import rebase
from segal_dsl.source import Span
from segal_dsl.spec import budget, heuristics
from segal_dsl.spec.config import (
    MODE_SETTINGS,
    RUNNER_SETTINGS,
    RUNTIME_MODULE,
    SET_BY,
    ActiveLearning,
    CustomImports,
    ImageSettings,
    Runner,
    Visualize,
)
from segal_dsl.spec.modes import MODE_NAMES, RUNNER_KINDS, SUPERPIXEL_LABELS, runner_kind_of_type
from segal_dsl.spec.schedule import UNITS as SCHEDULE_UNITS

WANDB_HOOKS = ("WandbLoggerHookWithVal", "WandbLoggerHook")
WANDB_KEYS = tuple(Wandb.model_fields)
# Keys that the mapper turns into statements (those a statement writes); everything else goes to `mmseg { … }`.
_HANDLED = frozenset(SET_BY)
# The keys of each section the reference reads, as the contract names them (plus the guide's spellings).
RUNNER_KEYS = tuple(Runner.model_fields)
ACTIVE_LEARNING_KEYS = (*ActiveLearning.model_fields, "heuristics", "heuristics_cfg")
PIXEL_KEYS = tuple(dict.fromkeys([*MODE_SETTINGS["pixel"].model_fields, *MODE_SETTINGS["region"].model_fields,
                                   *MODE_SETTINGS["superpixel"].model_fields]))
DEFAULT_UNIT = Runner.model_fields["schedule_unit"].default


def _child(node: ast.AST | None, key: Any) -> ast.AST | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return next((kw.value for kw in node.keywords if kw.arg == key), None)
    if isinstance(node, ast.Dict):
        return next((v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant) and k.value == key), None)
    if isinstance(node, (ast.List, ast.Tuple)) and isinstance(key, int) and 0 <= key < len(node.elts):
        return node.elts[key]
    return None


def _or_list(words) -> str:
    """`a`, `b` or `c`."""
    quoted = [f"`{w}`" for w in words]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _bool(value: Any) -> str:
    return "true" if value else "false"


class Mapper:
    """Writes the `.seg` lines of one legacy config; `dropped` holds the paths reported as left out."""

    def __init__(self, module: Module, effective: dict | None, diags: Diagnostics, seg_path: str):
        self.k = {k: e for k, e in module.entries.items() if not HELPER_CONSTANT.match(k)}
        self.ev, self.d = module.evaluator, diags
        self.eff = effective if effective is not None else {k: e.value for k, e in self.k.items()}
        self.complete = effective is not None or "_base_" not in module.entries  # every value is known
        self.src = self.ev.src
        self.from_compiled = isinstance(self.value("segal_meta"), dict)  # a config `segal compile` wrote
        self.seg_path = seg_path
        self.lines: list[tuple[str, Span | None]] = []
        self.dropped: set[tuple] = set()  # paths already reported as left out: no SEG610 for them
        self.passthrough: dict[str, Any] = {}

    # -- helpers ----------------------------------------------------------------------------------------
    def value(self, key: str, default: Any = None) -> Any:
        """The file's own value of a top-level key."""
        entry = self.k.get(key)
        return default if entry is None else entry.value

    def effective(self, key: str, default: Any = None) -> Any:
        """The value mmcv ends up with: the file merged with its bases."""
        return self.eff.get(key, default)

    def span(self, *path: Any) -> Span:
        entry = self.k.get(path[0]) if path else None
        if entry is None:
            return self.src.whole()
        node = entry.node
        for key in path[1:]:
            child = _child(node, key)
            if child is None:
                break
            node = child
        return self.ev.span(node) if node is not entry.node or len(path) > 1 else self.ev.span(entry.target)

    def emit(self, text: str, *path: Any) -> None:
        self.lines.append((text, self.span(*path) if path else None))

    def fail(self, message: str, *path: Any, help: str) -> None:
        self.d.add("SEG608", message, self.span(*path), help=help)
        raise Stop

    def drop(self, code: str, message: str, *path: Any, help: str | None = None, severity: Severity | None = None):
        self.dropped.add(tuple(path))
        self.d.add(code, message, self.span(*path), help=help, severity=severity)

    def dict_of(self, value: Any, *path: Any, required: bool = True) -> dict | None:
        if value is UNKNOWN:
            raise Stop
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            self.fail(f"`{'.'.join(map(str, path))}` must be a dict", *path, help="write it as `dict(key=value, …)`")
        return value

    def typed(self, value: Any, kind: str, *path: Any) -> Any:
        checks = {"str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
                  "int": lambda v: isinstance(v, int) and not isinstance(v, bool), "number": is_number}
        if value is UNKNOWN:
            raise Stop
        if not checks[kind](value):
            self.fail(f"`{'.'.join(map(str, path))}` must be a {kind}, not `{value!r}`"[:160], *path,
                      help="the reference reads this key as a " + kind)
        return value

    def extra_keys(self, d: dict, known, *path: Any, code: str = "SEG608", why: str = "") -> None:
        for key in d:
            if key not in known:
                if code == "SEG608":
                    self.drop("SEG608", f"`{'.'.join(map(str, (*path, key)))}` has no .seg form and is left out",
                              *path, key, severity=Severity.WARNING,
                              help=f"{'.'.join(map(str, path))} takes: " + ", ".join(f"`{k}`" for k in known))
                else:
                    self.drop(code, f"`{'.'.join(map(str, (*path, key)))}` is left out{why}", *path, key)

    # -- the experiment ----------------------------------------------------------------------------------
    def convert(self) -> str | None:
        try:
            self._convert()
        except Stop:
            return None
        if self.d.has_errors:
            return None
        self.lines = [line for i, line in enumerate(self.lines)
                      if not (line[0] == "" and (i + 1 == len(self.lines) or self.lines[i + 1][0] in ("", "}")))]
        header = f"# Imported by `segal import` from {seg_string(self.src.path.replace(os.sep, '/'))}."
        return "\n".join([header] + [text for text, _ in self.lines]) + "\n"

    def _convert(self) -> None:
        for key in ("runner", "active_learning", "workflow", "_base_"):
            if key not in (self.k if key == "_base_" else self.eff):
                self.d.add("SEG608", f"the config has no `{key}`", self.src.whole(),
                           help="`segal import` converts active-learning configs of the reference "
                                "(`runner`, `active_learning`, `workflow` and `_base_` are required)")
        if self.d.has_errors:
            raise Stop
        runner = self.dict_of(self.effective("runner"), "runner")
        kind = runner_kind_of_type(runner.get("type"))
        if kind is None:
            self.fail(f"`runner.type` `{runner.get('type')}` is not an active-learning runner", "runner", "type",
                      help=f"use {' or '.join(f'`{k.type}`' for k in RUNNER_KINDS.values())}; plain mmseg runs need no .seg file")
        mode = runner.get("sample_mode")
        if mode not in MODE_NAMES:
            self.fail(f"`runner.sample_mode` must be {_or_list(MODE_NAMES)}, not `{mode}`", "runner", "sample_mode",
                      help="the reference reads `runner.sample_mode` before anything else")
        self.kind, self.mode = kind, mode
        self.emit(f"experiment {experiment_name(self.src.path, self.value('segal_meta'))} {{")
        self.head()
        self.emit("")
        self.runner_stmt(runner)
        self.sample(runner)
        self.emit("")
        self.schedule(runner)
        self.emit("")
        self.logging()
        self.mmseg()
        self.emit("}")

    def head(self) -> None:
        base = self.value("_base_")
        if base is UNKNOWN:
            raise Stop
        bases = [base] if isinstance(base, str) else base
        if not isinstance(bases, (list, tuple)) or not bases or not all(isinstance(b, str) for b in bases):
            self.fail("`_base_` must be a path or a list of paths", "_base_", help='write `_base_ = ["model.py", …]`')
        legacy_dir, seg_dir = os.path.dirname(self.src.path), os.path.dirname(self.seg_path)
        if os.path.normpath(legacy_dir or ".") != os.path.normpath(seg_dir or "."):
            bases = [rebase(b, legacy_dir, seg_dir) for b in bases]
        parts = [seg_string(b) for b in bases]
        self.emit("    base " + ",\n         ".join(parts), "_base_")
        if "custom_imports" in self.k:
            ci = self.dict_of(self.value("custom_imports"), "custom_imports")
            imports = ci.get("imports", [])
            imports = [imports] if isinstance(imports, str) else imports
            if not isinstance(imports, (list, tuple)) or not all(isinstance(i, str) for i in imports):
                self.fail("`custom_imports.imports` must be a list of module names", "custom_imports", "imports",
                          help="write `imports=['pkg.module']`")
            imports = [i for i in imports if i != RUNTIME_MODULE]
            if imports:
                self.emit("    imports " + ", ".join(seg_string(i) for i in imports), "custom_imports", "imports")
            if ci.get("allow_failed_imports") is not None:
                flag = self.typed(ci["allow_failed_imports"], "bool", "custom_imports", "allow_failed_imports")
                if flag:
                    self.emit("    allow_failed_imports true", "custom_imports", "allow_failed_imports")
            self.extra_keys(ci, tuple(CustomImports.model_fields), "custom_imports")
        for key, kind in (("load_from", "str"), ("work_dir", "str"), ("seed", "int"), ("deterministic", "bool")):
            value = self.value(key)
            if value is None:
                continue
            value = self.typed(value, kind, key)
            text = seg_string(value) if kind == "str" else _bool(value) if kind == "bool" else seg_number(value)
            self.emit(f"    {key} {text}", key)

    def reference_failures(self, runner: dict) -> None:
        """SEG615: configs the reference cannot start with, imported with segal-dsl's meaning (docs/reference.md)."""
        if self.from_compiled or not self.complete:
            return  # a config segal-dsl wrote (its defaults are segal-dsl's), or unread bases may set the keys
        if self.mode != "image" and self.kind == "active" and "source_free" not in self.eff:
            self.d.add("SEG615", "the reference reads `source_free` without a default and stops with AttributeError "
                       "before training; imported as segal-dsl's default, source-free (`data.train` one dataset)",
                       self.span("runner"), help="add `source_free false` to the .seg file for ADA ([source, target])")
        if self.kind == "multitask" and runner.get("warmup_only") is True and "mae_val_iter" not in self.eff:
            self.d.add("SEG615", "the reference reads `mae_val_iter` without a default in a `warmup_only` run and "
                       "stops with AttributeError at the first iteration; segal-dsl validates the MAE stage every "
                       "`validation_interval` iterations", self.span("runner", "warmup_only"))

    def runner_stmt(self, runner: dict) -> None:
        self.reference_failures(runner)
        block: list[str] = []
        top = {path[0]: word for word, path in RUNNER_SETTINGS.items() if len(path) == 1}
        for key, word in top.items():
            if key not in self.k or self.value(key) is None:
                continue
            value = self.value(key)
            if key == "mask_dir" and self.mode == "image":
                self.drop("SEG611", "`mask_dir` is left out: image sampling stores no masks", key)
            elif key == "mask_dir" and not self.from_compiled:
                self.drop("SEG611", "`mask_dir` is left out: the reference ignores it and keeps the labels in "
                          "`<work_dir>/masks`, which is segal-dsl's default", key)
            elif key != "mask_dir" and self.kind != "multitask":
                self.drop("SEG611", f"`{key}` is left out: only the multitask runner reads it", key)
            elif key.endswith("_iter") and value == 0:
                self.drop("SEG611", f"`{key}=0` disables it and is left out", key)
            else:
                value = self.typed(value, "str" if key.endswith("_dir") else "int", key)
                block.append(f"{word} {seg_string(value) if isinstance(value, str) else seg_number(value)}")
        text = f"    runner {self.kind}" + (" { " + "; ".join(block) + " }" if block else "")
        self.emit(text, "runner", "type")
        if "source_free" in self.k and self.value("source_free") is not None:
            self.emit(f"    source_free {_bool(self.typed(self.value('source_free'), 'bool', 'source_free'))}",
                      "source_free")
        if "scale_size" in self.k and self.value("scale_size") is not None:
            size = self.value("scale_size")
            if size is UNKNOWN:
                raise Stop
            if not (isinstance(size, (list, tuple)) and len(size) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
                self.fail("`scale_size` must be `(W, H)` in whole pixels", "scale_size", help="write `scale_size = (1280, 640)`")
            self.emit(f"    pool {{ resolution {size[0]}x{size[1]} }}", "scale_size")
        if runner.get("warmup_only") is False:
            self.dropped.add(("runner", "warmup_only"))  # the default, left implicit
        for extra in sorted(set(runner) - set(RUNNER_KEYS)):
            if extra == "max_epochs":
                self.drop("SEG611", "`runner.max_epochs` is left out: the reference overwrites it from the workflow",
                          "runner", extra)
            elif extra == "max_iters":
                self.drop("SEG613", "`runner.max_iters` is left out: the reference raises NotImplementedError on it",
                          "runner", extra, help="lengths come from the schedule (`schedule iters { … }`)")
            else:
                self.drop("SEG608", f"`runner.{extra}` has no .seg form and is left out", "runner", extra,
                          severity=Severity.WARNING)

    # -- sample, heuristic, reset, visualize ---------------------------------------------------------------
    def sample(self, runner: dict) -> None:
        al = self.dict_of(self.effective("active_learning"), "active_learning")
        settings = self.dict_of(al.get("settings"), "active_learning", "settings",
                                required=False)
        if settings is None or self.mode not in settings:
            self.fail(f"`active_learning.settings` has no `{self.mode}` entry (runner.sample_mode)", "active_learning",
                      "settings", help=f"add `settings=dict({self.mode}=dict(…))`")
        for other in settings:
            if other != self.mode:
                self.drop("SEG611", f"`settings.{other}` is left out: the reference reads only "
                          f"`settings.{self.mode}` with sample_mode `{self.mode}`", "active_learning", "settings", other)
        path = ("active_learning", "settings", self.mode)
        s = self.dict_of(settings[self.mode], *path)
        heuristic_key = "heuristic" if "heuristic" in al or "heuristics" not in al else "heuristics"
        if heuristic_key == "heuristics":
            self.dropped.add(("active_learning", "heuristics"))
            self.d.add("SEG606", "`heuristics` is the guide's spelling; the reference reads `heuristic`",
                       self.span("active_learning", "heuristics"),
                       help="imported as `heuristic`; in the legacy config write `heuristic=`")
        name = al.get(heuristic_key)
        if name is None:
            self.fail("`active_learning` has no `heuristic`", "active_learning",
                      help="add e.g. `heuristic='entropy'` (the reference raises KeyError without it)")
        name = self.typed(name, "str", "active_learning", heuristic_key)
        lines = [f"    sample {self.mode} {{"]
        origin: list[tuple] = [path]
        known = self.image_settings(s, path, lines, origin) if self.mode == "image" else \
            self.pixel_settings(s, path, lines, origin)
        self.extra_keys(s, known, *path, code="SEG611", why=": the reference never reads it")
        for text, where in zip(lines, origin):
            self.emit(text, *where)
        self.emit("    }", *path)
        self.heuristic(al, name, s, path)
        if "reset_each_round" in al:
            self.emit(f"    reset_each_round {_bool(self.typed(al['reset_each_round'], 'bool', 'active_learning', 'reset_each_round'))}",
                      "active_learning", "reset_each_round")
        elif not self.from_compiled:
            self.d.add("SEG613", "without `reset_each_round` the reference resets the weights (not the LR schedule) "
                       "after every query; imported with segal-dsl's default, `reset_each_round false`",
                       self.span("active_learning"), help="add `reset_each_round true` to the .seg file to reset after "
                       "every query (weights, optimizer state and LR schedule)")
        vis = al.get("visualize")
        if vis is not None:
            vis = self.dict_of(vis, "active_learning", "visualize")
            parts = []
            for key, kind in (("size", "int"), ("overlay", "bool"), ("dir", "str")):
                if key in vis:
                    v = self.typed(vis[key], kind, "active_learning", "visualize", key)
                    parts.append(f"{key} {seg_string(v) if kind == 'str' else _bool(v) if kind == 'bool' else v}")
            self.extra_keys(vis, tuple(Visualize.model_fields), "active_learning", "visualize")
            self.emit("    visualize { " + "; ".join(parts) + " }", "active_learning", "visualize")
            if "dir" in vis and not self.from_compiled and not os.path.isabs(str(vis["dir"])):
                self.d.add("SEG613", f"`visualize.dir` `{vis['dir']}` is relative to the current directory in the "
                           "reference; in segal-dsl it is relative to the work dir", self.span("active_learning",
                                                                                              "visualize", "dir"),
                           severity=Severity.NOTE, help="the pictures go to `<work_dir>/" + str(vis["dir"]) + "`")
        self.extra_keys(al, ACTIVE_LEARNING_KEYS, "active_learning", code="SEG611", why=": the reference never reads it")

    def image_settings(self, s: dict, path: tuple, lines: list, origin: list) -> tuple:
        """`settings.image` -> the lines of `sample image { … }`; returns the keys it reads."""
        known = tuple(ImageSettings.model_fields)
        if "initial_pool" in s:
            n = self.typed(s["initial_pool"], "int", *path, "initial_pool")
            lines.append(f"        initial {n} images" if n else "        initial 0")
            origin.append((*path, "initial_pool"))
        if "budget_per_round" not in s:
            self.fail("`settings.image` has no `budget_per_round`", *path, help="add `budget_per_round=10` (images)")
        n = self.typed(s["budget_per_round"], "int", *path, "budget_per_round")
        total = self.total(s, path)
        lines.append(f"        budget {total[0]} images total" if total else f"        budget {n} images per round")
        origin.append((*path, "budget_per_round"))
        return known

    def total(self, s: dict, path: tuple) -> tuple | None:
        """`budget_per_query` as the `budget X total` it splits (spec/budget.py); None when the key is absent."""
        if "budget_per_query" not in s:
            return None
        shares = s["budget_per_query"]
        radius = s.get("radius", MODE_SETTINGS["region"].model_fields["radius"].default)
        joined = budget.join_shares(shares, radius) if isinstance(shares, list) else None
        if joined is None:
            self.fail("`budget_per_query` is not the split of one total", *path, "budget_per_query",
                      help="a .seg file writes `budget X total`: the shares differ by at most one, the larger first")
        return joined

    def pixel_settings(self, s: dict, path: tuple, lines: list, origin: list) -> tuple:
        """`settings.pixel` / `settings.region` -> the lines of the `sample` block; returns the keys it reads."""
        known = PIXEL_KEYS
        if "initial_label_pixels" in s:
            lines.append(f"        initial {self.amount(s['initial_label_pixels'], *path, 'initial_label_pixels')}")
            origin.append((*path, "initial_label_pixels"))
        if "budget_per_round" not in s:
            self.fail(f"`settings.{self.mode}` has no `budget_per_round`", *path,
                      help="add `budget_per_round=dict(value=1, unit='%/img')`")
        total = self.total(s, path)
        if total:
            number, unit = total
            text = budget.amount_text(seg_number(number, plain=budget.UNITS[unit].percent), unit)
            lines.append(f"        budget {text} total")
        else:
            lines.append(f"        budget {self.amount(s['budget_per_round'], *path, 'budget_per_round')} per round")
        origin.append((*path, "budget_per_round"))
        threshold = s.get("sample_threshold")
        if threshold is False:
            self.drop("SEG613", "`sample_threshold=False` fails the reference's assertion; imported as strict top-k "
                      "(no `threshold`)", *path, "sample_threshold",
                      help="only deleting the key disables the threshold in the reference")
        elif threshold is not None:
            self.typed(threshold, "number", *path, "sample_threshold")
            lines.append(f"        threshold top {seg_number(threshold, plain=True)}%")
            origin.append((*path, "sample_threshold"))
        if "sample_evenly" in s:
            lines.append(f"        evenly {_bool(self.typed(s['sample_evenly'], 'bool', *path, 'sample_evenly'))}")
        elif self.from_compiled:
            self.dropped.add((*path, "sample_evenly"))  # segal-dsl's default (True): nothing to write
        else:
            why = ("labels almost every pixel in the first query" if self.mode == "pixel"
                   else "fails its assertion in region mode")
            self.d.add("SEG613", f"without `sample_evenly` the reference {why}; imported as `evenly true`",
                       self.span(*path), help="the same quota in every image, as the guide describes")
            lines.append("        evenly true")
        origin.append((*path, "sample_evenly"))
        if "ignore_index" in s:
            lines.append(f"        ignore_index {seg_number(self.typed(s['ignore_index'], 'int', *path, 'ignore_index'))}")
            origin.append((*path, "ignore_index"))
        for key, word, kind in (("exclude_void", "exclude_void", "bool"), ("suppress_radius", "suppress", "int"),
                                ("suppress_across_rounds", "keep_suppressed", "bool"),
                                ("sample_class_balanced", "class_balanced", "bool")):
            if key in s:  # issue 11: void exclusion and RIPU's neighbourhood suppression (docs/strategies.md)
                value = self.typed(s[key], kind, *path, key)
                lines.append(f"        {word} {_bool(value) if kind == 'bool' else seg_number(value)}")
                origin.append((*path, key))
        if "radius" in s:
            if self.mode == "region":
                lines.append(f"        radius {seg_number(self.typed(s['radius'], 'int', *path, 'radius'))}")
                origin.append((*path, "radius"))
            else:
                self.drop("SEG611", "`radius` is left out: pixel sampling has no regions", *path, "radius")
        for key, word, kind in (("superpixel_segments", "segments", "int"), ("superpixel_compactness", "compactness",
                                                                           "number"), ("superpixel_label", "label", "str")):
            if key in s and self.mode == "superpixel":  # SLIC's settings and the labelling (runtime/superpixels.py)
                value = self.typed(s[key], kind, *path, key)
                if kind == "str" and value not in SUPERPIXEL_LABELS:
                    self.fail(f"`{key}` must be {_or_list(SUPERPIXEL_LABELS)}", *path, key)
                lines.append(f"        {word} {value if kind == 'str' else seg_number(value)}")
                origin.append((*path, key))
        return known

    def amount(self, value: Any, *path: Any) -> str:
        """A budget spec (spec/budget.py) as a `.seg` amount; raises Stop on one it cannot read."""
        if value is UNKNOWN:
            raise Stop
        units = ", ".join(f"`{u}`" for u in budget.RUNTIME_UNITS)
        if isinstance(value, dict) and value.get("unit") not in budget.RUNTIME_UNITS:
            self.fail(f"unknown budget unit `{value.get('unit')}`", *path, "unit",
                      help=f"units: {units} (docs/compiled-config.md)")
        try:
            number, unit = budget.decompile_amount(value)
        except ValueError:
            self.fail(f"`{path[-1]}` must be a pixel count or `dict(value=…, unit=…)`", *path,
                      help=f"units: {units} (docs/compiled-config.md)")
        if unit is None:
            return "0"
        text = seg_number(number, plain=budget.UNITS[unit].percent)
        return budget.amount_text(text, unit)

    def heuristic(self, al: dict, name: str, s: dict, path: tuple) -> None:
        cfg_key = "heuristic_cfg" if "heuristic_cfg" in al or "heuristics_cfg" not in al else "heuristics_cfg"
        if cfg_key == "heuristics_cfg":
            self.dropped.add(("active_learning", "heuristics_cfg"))
            self.d.add("SEG606", "`heuristics_cfg` is the guide's spelling; the reference reads `heuristic_cfg`",
                       self.span("active_learning", "heuristics_cfg"), help="imported as `heuristic_cfg`")
        spec = heuristics.lookup(name)
        if spec is None:
            self.fail(f"`{name}` is not a heuristic segal-dsl has", "active_learning", "heuristic",
                      help="heuristics: " + ", ".join(f"`{h}`" for h in heuristics.HEURISTIC_NAMES))
        in_cfg = {p.key: p for p in spec.params if p.compiled == heuristics.HEURISTIC_CFG}
        cfg = al.get(cfg_key)
        params: list[str] = []
        if cfg is not None:
            cfg = self.dict_of(cfg, "active_learning", cfg_key)
            if in_cfg:
                for key, p in in_cfg.items():
                    if key in cfg:
                        params.append(f"{p.name} {self.param_text(cfg[key], 'active_learning', cfg_key, key)}")
                self.extra_keys(cfg, tuple(in_cfg), "active_learning", cfg_key, code="SEG611",
                                why=f": `{name}` does not read it")
            else:
                self.drop("SEG613", f"`{cfg_key}` with `{name}` raises NotImplementedError in the reference; left out",
                          "active_learning", cfg_key, help="only `ripu` and `mps` take parameters")
        elif in_cfg:
            self.d.add("SEG613", f"`{name}` without `heuristic_cfg` raises TypeError in the reference; imported with "
                       "segal-dsl's defaults (" + ", ".join(f"`{p.name} {_show(p.default)}`" for p in in_cfg.values())
                       + ")", self.span("active_learning", "heuristic"))
        for p in spec.params:  # parameters the compiled config keeps among the mode's settings (`entropy_prop`)
            if p.compiled == heuristics.MODE_SETTINGS and p.key in s and self.mode in p.modes:
                params.append(f"{p.name} {self.param_text(s[p.key], *path, p.key)}")
        for key in s:
            owners = [(h, p) for h in heuristics.HEURISTICS.values() for p in h.params
                      if p.compiled == heuristics.MODE_SETTINGS and p.key == key]
            if owners and not any(h is spec and self.mode in p.modes for h, p in owners):
                h, p = owners[0]
                self.drop("SEG611", f"`{key}` is left out: the reference reads it only with `heuristic='{h.name}'` "
                          f"in {' or '.join(p.modes)} mode", *path, key)
        word = spec.aliases[0] if spec.aliases else spec.name
        self.emit(f"    heuristic {word}" + (" { " + "; ".join(params) + " }" if params else ""),
                  "active_learning", "heuristic" if "heuristic" in al else "heuristics")

    def param_text(self, value: Any, *path: Any) -> str:
        """A heuristic parameter as the `.seg` writes it: true/false, a number, or `HxW` for a pair."""
        if value is UNKNOWN:
            raise Stop
        if isinstance(value, bool):
            return _bool(value)
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(v) for v in value):
            return f"{seg_number(value[0])}x{seg_number(value[1])}"
        if is_number(value):
            return seg_number(value)
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            return value  # a choice, written as a bare word (`exploration linear`)
        self.fail(f"`{'.'.join(map(str, path))}` must be a number, a bool or a pair of numbers, not `{value!r}`"[:160],
                  *path, help="the heuristic reads it as a number")
        return ""

    # -- schedule -------------------------------------------------------------------------------------------
    def schedule(self, runner: dict) -> None:
        rounds = workflow_rounds(self, runner)
        unit = runner.get("schedule_unit", DEFAULT_UNIT)
        if unit not in SCHEDULE_UNITS:
            self.fail(f"`runner.schedule_unit` must be {_or_list(SCHEDULE_UNITS)}, not `{unit}`", "runner", "schedule_unit",
                      help="write `schedule_unit='iters'` or leave it out")
        warmup = 0
        if self.effective("mae_warmup_epochs"):
            if self.kind != "multitask":
                self.drop("SEG611", "`mae_warmup_epochs` is left out: only the multitask runner reads it",
                          "mae_warmup_epochs")
            elif runner.get("warmup_only") is True:
                self.drop("SEG611", "`mae_warmup_epochs` is left out: the reference ignores it in a `warmup_only` "
                          "run, whose workflow is the MAE-only training", "mae_warmup_epochs")
            else:
                warmup = self.typed(self.effective("mae_warmup_epochs"), "int", "mae_warmup_epochs")
        if runner.get("warmup_only") is True:
            total = sum(t for t, _ in rounds)
            self.emit(f"    schedule {unit} {{ warmup {total} }}", "workflow")
            return
        self.emit(f"    schedule {unit} {{ {write_schedule(rounds, warmup)} }}", "workflow")

    # -- log, evaluation, checkpoint --------------------------------------------------------------------------
    def logging(self) -> None:
        unit = (self.effective("runner") or {}).get("schedule_unit", DEFAULT_UNIT)
        if "log_config" in self.k and self.effective("log_config") is not None:
            self.log()
        for key, stmt, known in (("evaluation", "evaluation", ("interval", "by_epoch", "metric", "save_best", "pre_eval")),
                                 ("checkpoint_config", "checkpoint", ("interval", "by_epoch", "max_keep_ckpts"))):
            if key not in self.k:
                continue  # inherited: it stays inherited
            value = self.effective(key)
            if value is None:
                continue
            d = self.dict_of(value, key)
            if "interval" not in d:
                self.fail(f"`{key}` has no `interval`", key, help="add `interval=1`")
            interval = self.typed(d["interval"], "int", key, "interval")
            if interval <= 0:
                self.fail(f"`{key}.interval = {interval}`: mmcv's {'EvalHook' if key == 'evaluation' else 'CheckpointHook'}"
                          " refuses it, so the reference cannot run this config either", key, "interval",
                          help="use a positive interval in the legacy config, then import it again")
            by_epoch = d.get("by_epoch", unit != "iters" if key == "evaluation" else True)
            by_epoch = self.typed(by_epoch, "bool", key, "by_epoch")
            parts = []
            for opt, word, kind in (("metric", "metric", "str"), ("save_best", "save_best", "str"),
                                    ("pre_eval", "pre_eval", "bool"), ("max_keep_ckpts", "max_keep", "int")):
                if opt not in d or opt not in known:
                    continue
                v = d[opt]
                ok = {"str": isinstance(v, str), "bool": isinstance(v, bool),
                      "int": isinstance(v, int) and not isinstance(v, bool) and v > 0}[kind]
                if not ok:
                    self.drop("SEG608", f"`{key}.{opt}={v!r}` has no .seg form and is left out"[:160], key, opt,
                              severity=Severity.WARNING, help=f"`{word}` takes one {kind}"
                              + (" > 0" if kind == "int" else ""))
                    continue
                parts.append(f"{word} {seg_string(v) if kind == 'str' else _bool(v) if kind == 'bool' else v}")
            self.extra_keys(d, known, key)
            block = " { " + "; ".join(parts) + " }" if parts else ""
            self.emit(f"    {stmt} every {interval} {'epochs' if by_epoch else 'iters'}{block}", key)

    def log(self) -> None:
        d = self.dict_of(self.effective("log_config"), "log_config")
        interval = self.typed(d.get("interval", Log.model_fields["interval"].default), "int", "log_config", "interval")
        hooks = d.get("hooks", [])
        if hooks is UNKNOWN:
            raise Stop
        if not isinstance(hooks, (list, tuple)):
            self.fail("`log_config.hooks` must be a list", "log_config", "hooks", help="write `hooks=[dict(type=…)]`")
        parts, extra = [], []
        text = wandb = False
        for hook in hooks:
            htype = hook.get("type") if isinstance(hook, dict) else None
            if htype == "TextLoggerHook" and set(hook) == {"type"} and not text:
                parts.append("text")
                text = True
                continue
            init = hook.get("init_kwargs", {}) if isinstance(hook, dict) else None
            if (htype in WANDB_HOOKS and not wandb and set(hook) <= {"type", "init_kwargs"} and isinstance(init, dict)
                    and set(init) <= set(WANDB_KEYS) and self._wandb_ok(init)):
                fields = [f"{k} " + (", ".join(seg_string(t) for t in init[k]) if k == "tags" else seg_string(init[k]))
                          for k in WANDB_KEYS if k in init and (k != "tags" or init[k])]
                parts.append("wandb { " + "; ".join(fields) + " }" if fields else "wandb")
                wandb = True
                continue
            if isinstance(hook, dict):
                # mmcv builds logger hooks with the log interval and the lowest priority: keep both explicit.
                extra.append({**hook, **({"interval": interval} if "interval" not in hook else {}),
                              **({"priority": "VERY_LOW"} if "priority" not in hook else {})})
            else:
                self.fail("a `log_config.hooks` entry must be a dict", "log_config", "hooks",
                          help="write `dict(type='TextLoggerHook')`")
        if extra:
            existing = self.value("custom_hooks", [])
            if not isinstance(existing, (list, tuple)):
                self.fail("`custom_hooks` must be a list", "custom_hooks", help="write `custom_hooks = [dict(…)]`")
            self.passthrough["custom_hooks"] = list(existing) + extra
            self.dropped.update({("log_config", "hooks"), ("custom_hooks",)})
            self.d.add("SEG605", "logger hooks other than the text and W&B loggers go to `custom_hooks` in the "
                       "`mmseg { … }` block", self.span("log_config", "hooks"),
                       help="mmcv builds them with the log interval and priority `VERY_LOW`, as written there")
        self.extra_keys(d, ("interval", "hooks"), "log_config")
        text_line = f"    log every {interval} iters {{ {'; '.join(parts)} }}" if parts else f"    log every {interval} iters {{ }}"
        if len(text_line) > 100:
            text_line = f"    log every {interval} iters {{\n" + "".join(f"        {p}\n" for p in parts) + "    }"
        self.emit(text_line, "log_config")

    @staticmethod
    def _wandb_ok(init: dict) -> bool:
        return all(isinstance(v, str) if k != "tags" else
                   isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v) for k, v in init.items())

    # -- pass-through -------------------------------------------------------------------------------------
    def mmseg(self) -> None:
        rest = [k for k in self.k if k not in _HANDLED and k not in self.passthrough]
        order = rest + [k for k in self.passthrough if k not in rest]
        items = []
        for key in order:
            value = self.passthrough.get(key, self.value(key))
            if value is UNKNOWN:
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or key in KEYWORDS:
                self.fail(f"`{key}` cannot be written as an `mmseg` key", key,
                          help="the .seg language reads it as a keyword or not as a name; rename it in the legacy config")
            try:
                items.append((f"        {key} = {seg_literal(value, 8)}", key))
            except NotExpressible as err:
                self.fail(f"`{key}`: {err}", key, help="use strings, numbers, bools, None and containers of them")
        if not items:
            return
        shown = [k for k in rest if k in self.k]
        if shown:
            first, others = shown[0], shown[1:]
            self.d.add("SEG605", "keys without a statement go to the `mmseg { … }` block: "
                       + ", ".join(f"`{k}`" for k in shown), self.span(first),
                       notes=tuple((self.span(k), f"`{k}` passed through") for k in others))
        self.emit("    mmseg {")
        for text, key in items:
            self.lines.append((text, self.span(key)))
        self.emit("    }")


def _show(value: Any) -> str:
    return "from the model" if value is None else _bool(value) if isinstance(value, bool) else str(value)


def convert(module: Module, effective: dict | None, diags: Diagnostics, seg_path: str) -> str | None:
    """The .seg text for the evaluated keys, checked by compiling it back (None on errors)."""
    if diags.has_errors:
        return None
    mapper = Mapper(module, effective, diags, seg_path)
    seg_text = mapper.convert()
    if seg_text is None:
        return None
    from segal_dsl.importer.roundtrip import check_round_trip

    return check_round_trip(mapper, seg_text)
