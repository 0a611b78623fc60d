"""Typed AST -> validated `model.Experiment`. Emits SEG2xx (and SEG4xx rules that need no pool).

Each setting's words are read into a plain dict while a `loc -> Span` index is recorded; the typed models
(spec/typed.py) then check types and ranges, and each of their errors is reported at the span of its `loc`.
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from segal_dsl.diagnostics import Diagnostics, Severity
from segal_dsl.frontend import model as m
from segal_dsl.frontend import nodes as n
from segal_dsl.frontend.build import SUFFIXES
from segal_dsl.source import Span
from segal_dsl.spec import heuristics
from segal_dsl.spec.budget import UNIT_KEYS, UNITS, WHOLE_UNITS, percent_unit, unit_of_words, unit_text, unit_words
from segal_dsl.spec.config import MULTITASK_RUNNER_SETTINGS, RUNNER_SETTINGS, SET_BY
from segal_dsl.spec.modes import SAMPLE_MODES
from segal_dsl.spec.schedule import UNIT_WORDS
from segal_dsl.spec.schedule import UNITS as SCHEDULE_UNITS
from segal_dsl.spec.typed import ConfigDict, TypeAdapter, ValidationError


@dataclass
class SpanIndex:
    """Where each value of the raw experiment dict came from."""

    spans: dict[tuple, Span] = field(default_factory=dict)
    key_spans: dict[tuple, Span] = field(default_factory=dict)
    fallback: Span | None = None

    def __call__(self, loc: tuple) -> Span | None:
        loc = tuple(loc)
        while loc:
            if loc in self.spans:
                return self.spans[loc]
            loc = loc[:-1]
        return self.fallback

    def key(self, loc: tuple) -> Span | None:
        return self.key_spans.get(tuple(loc)) or self(loc)


@dataclass
class Validated:
    experiment: m.Experiment | None  # None when the file has errors
    spans: SpanIndex
    sections: dict[str, Any] = field(default_factory=dict)  # every section that validated on its own


def closest(word: str, choices) -> str | None:
    """The choice `word` is most likely a misspelling of, if any."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(word: str, choices) -> str | None:
    match = closest(word, choices)
    return f"did you mean `{match}`?" if match else None


def _choices(choices) -> str:
    return ", ".join(f"`{c}`" for c in choices)


def span_of(items, default: Span) -> Span:
    items = [i for i in items if hasattr(i, "span")]
    if not items:
        return default
    first, last = items[0].span, items[-1].span
    return Span(first.path, first.line, first.column, last.end_line, last.end_column, first.start, last.end)


class _Reader:
    """Reads settings into a raw dict, recording spans and shape errors (SEG201/202/207/213)."""

    def __init__(self, diags: Diagnostics, spans: SpanIndex):
        self.d = diags
        self.spans = spans
        self.misspelt: set[tuple] = set()  # locs of keys written misspelt (SEG201 with a did-you-mean)

    # -- generic helpers --------------------------------------------------------------------------
    def record(self, loc: tuple, setting: n.Setting) -> None:
        self.spans.spans[loc] = span_of(setting.args, setting.key_span)
        self.spans.key_spans[loc] = setting.key_span

    def malformed(self, setting: n.Setting, expected: str, example: str) -> None:
        self.d.add("SEG207", f"`{setting.key}` expects {expected}", span_of(setting.args, setting.key_span),
                   label="not understood", help=f"write it like `{example}`")

    def atom(self, atom: n.Atom) -> Any:
        """One word as a plain value: numbers, strings, true/false, other words as their text."""
        if isinstance(atom, n.Number):
            if isinstance(atom.value, float) and not math.isfinite(atom.value):
                self.d.add("SEG213", f"`{atom.text}` is not a finite number", atom.span)
                return 0
            return atom.value
        if isinstance(atom, n.String):
            return atom.value
        if isinstance(atom, n.Word):
            return {"true": True, "false": False}.get(atom.name, atom.name)
        if isinstance(atom, n.Percent):
            return atom.text
        if isinstance(atom, n.Dims):
            return f"{atom.width}x{atom.height}"
        return ","

    def scalar(self, setting: n.Setting, loc: tuple, example: str) -> Any:
        self.record(loc, setting)
        if len(setting.args) != 1 or setting.block is not None:
            self.malformed(setting, "one value", example)
            return _INVALID
        return self.atom(setting.args[0])

    def strings(self, setting: n.Setting, loc: tuple, example: str) -> Any:
        self.record(loc, setting)
        values, expect_item = [], True
        for atom in setting.args:
            if expect_item and isinstance(atom, n.String):
                values.append(atom.value)
                self.spans.spans[(*loc, len(values) - 1)] = atom.span
                expect_item = False
            elif not expect_item and isinstance(atom, n.Comma):
                expect_item = True
            else:
                self.malformed(setting, "strings separated by commas", example)
                return _INVALID
        if not values or expect_item:
            self.malformed(setting, "strings separated by commas", example)
            return _INVALID
        return tuple(values)

    def block(self, setting: n.Setting, loc: tuple, keys: dict[str, Callable], where: str,
              required_block: bool = True) -> dict:
        """Read a `{ … }` block whose keys are listed in `keys` (key -> reader(setting, loc))."""
        out: dict[str, Any] = {}
        if setting.block is None:
            if required_block:
                self.d.add("SEG207", f"`{setting.key}` needs a block `{{ … }}`", setting.span,
                           help=f"settings of {where}: {_choices(keys)}")
            return out
        self.spans.spans.setdefault(loc, setting.block.span)
        self.spans.key_spans.setdefault(loc, setting.key_span)
        self.read_items(setting.block.items, loc, keys, where, out)
        return out

    def read_items(self, items, loc: tuple, keys: dict[str, Callable], where: str, out: dict) -> None:
        seen: dict[str, Span] = {}
        for item in items:
            if not isinstance(item, n.Setting):
                what = "schedule" if isinstance(item, n.Schedule) else "mmseg"
                self.d.add("SEG201", f"`{what}` is not a setting of {where}", item.key_span,
                           help="`schedule` and `mmseg` belong directly in the experiment block")
                continue
            if item.key not in keys:
                hint = did_you_mean(item.key, keys)
                self.d.add("SEG201", f"unknown setting `{item.key}` in {where}", item.key_span,
                           label=hint or "unknown", help=f"{where} has: {_choices(keys)}")
                if closest(item.key, keys) is not None:  # its "missing" would be the same mistake again
                    self.misspelt.add((*loc, closest(item.key, keys)))
                continue
            if item.key in seen:
                self.d.add("SEG202", f"`{item.key}` is set twice in {where}", item.key_span,
                           label="second time", notes=((seen[item.key], "first set here"),),
                           help="remove one of them")
                continue
            seen[item.key] = item.key_span
            value = keys[item.key](item, (*loc, item.key))
            if value is not _INVALID:
                out[item.key] = value

    # -- amounts: `1% per image per round`, `8192 px per image`, `100 images`, `0` -----------------
    def amount(self, setting: n.Setting, loc: tuple, allow_per_round: bool) -> Any:
        self.record(loc, setting)
        args = list(setting.args)
        example = "budget 1% per image per round" if allow_per_round else "initial 1% per image"
        if not args or not isinstance(args[0], (n.Number, n.Percent)):
            self.malformed(setting, "an amount with a unit", example)
            return _INVALID
        head, rest = args[0], [a for a in args[1:]]
        words = []
        for a in rest:
            if not isinstance(a, n.Word):
                self.malformed(setting, "an amount with a unit", example)
                return _INVALID
            words.append(a.name.lower())
        if isinstance(head, n.Number) and isinstance(head.value, float) and not math.isfinite(head.value):
            self.d.add("SEG213", f"`{head.text}` is not a finite number", head.span)
            return _INVALID
        # Strip the trailing `per round` or `total` (budgets only) and `per image`.
        per_image, total = False, words[-1:] == ["total"]
        if total:
            if not allow_per_round:
                self.d.add("SEG207", "the initial labels are bought once: `total` splits a budget over the queries",
                           rest[-1].span, help="remove `total`")
                return _INVALID
            words = words[:-1]
        if words[-2:] == ["per", "round"]:
            if not allow_per_round or total:
                self.d.add("SEG207", "the initial labels are bought once, not `per round`" if not total else
                           "a budget is either `per round` or `total`", span_of(rest[-3 if total else -2:],
                                                                               setting.key_span),
                           help="remove `per round`" if not total else
                           "`total` splits X over the queries; `per round` buys X at each")
                return _INVALID
            words = words[:-2]
        if words[-2:] in (["per", "image"], ["per", "img"]) or words[-1:] == ["/img"]:
            per_image, words = True, words[:-2]
        unit_word = words[0] if words else None
        if len(words) > 1:
            self.malformed(setting, "an amount with a unit", example)
            return _INVALID
        value = head.value
        split = {"total": True} if total else {}
        if isinstance(head, n.Percent):
            if unit_word is not None:
                self.malformed(setting, "a percentage followed by `per image` or nothing", "budget 1% per image")
                return _INVALID
            return {"value": value, "unit": percent_unit(per_image), **split}
        if unit_word is None:
            if value == 0 and not per_image:
                return {"value": 0, "unit": None, **split}
            self.d.add("SEG207", f"the amount `{head.text}` needs a unit", head.span, label="which unit?",
                       help="write `px`, `px per image`, `% per image`, `images` or `regions per image`")
            return _INVALID
        if unit_word not in unit_words():
            hint = did_you_mean(unit_word, unit_words())
            self.d.add("SEG206", f"unknown unit `{unit_word}`", rest[0].span, label=hint or "unknown unit",
                       help="units: " + ", ".join(f"`{unit_text(u)}`" for u in UNIT_KEYS))
            return _INVALID
        unit = unit_of_words(unit_word, per_image)
        if unit is None:
            self.malformed(setting, f"`{unit_word}` without `per image`", f"budget 10 {unit_word}")
            return _INVALID
        return {"value": value, "unit": unit, **split}


_RUNNER_EXAMPLES = {"mask_dir": '"masks"', "mae_viz_dir": '"reconstructed_images"', "validation_interval": "200",
                    "mae_val_interval": "200", "viz_interval": "500", "viz_count": "10", "mask_ratio": "0.5",
                    "reconstruction_weight": "15"}


class _Invalid:
    def __repr__(self) -> str:
        return "<invalid>"


_INVALID = _Invalid()


# ---------------------------------------------------------------------------------------------------
class _ExperimentReader(_Reader):
    def __init__(self, diags: Diagnostics, spans: SpanIndex):
        super().__init__(diags, spans)
        self.failed: set[str] = set()  # sections whose words were unreadable (reported already)
        self.reported_missing: set[tuple] = set()  # locs whose absence was reported already

    def scalar_reader(self, example: str):
        return lambda s, loc: self.scalar(s, loc, example)

    def read(self, exp: n.Experiment) -> dict:
        raw: dict[str, Any] = {"name": exp.name}
        self.spans.spans[("name",)] = exp.name_span
        self.spans.fallback = exp.name_span
        sc = self.scalar_reader
        keys: dict[str, Callable] = {
            "base": lambda s, loc: self.strings(s, loc, 'base "configs/_base_/models/model.py", "data.py"'),
            "imports": lambda s, loc: self.strings(s, loc, 'imports "experiments._base_.dataset_gtav"'),
            "allow_failed_imports": sc("allow_failed_imports false"),
            "load_from": sc('load_from "checkpoints/model.pth"'),
            "work_dir": sc('work_dir "work_dirs/exp"'),
            "seed": sc("seed 0"),
            "deterministic": sc("deterministic true"),
            "source_free": sc("source_free false"),
            "reset_each_round": sc("reset_each_round true"),
            "runner": self.runner,
            "sample": self.sample,
            "heuristic": self.heuristic,
            "visualize": self.visualize,
            "pool": self.pool,
            "launch": self.launch,
            "log": self.log,
            "evaluation": self.evaluation,
            "checkpoint": self.checkpoint,
        }
        settings = [i for i in exp.block.items if isinstance(i, n.Setting)]
        self.read_items(settings, (), keys, "an experiment", raw)
        schedules = [i for i in exp.block.items if isinstance(i, n.Schedule)]
        mmsegs = [i for i in exp.block.items if isinstance(i, n.Mmseg)]
        for extra in schedules[1:] + mmsegs[1:]:
            first = (schedules if isinstance(extra, n.Schedule) else mmsegs)[0]
            word = "schedule" if isinstance(extra, n.Schedule) else "mmseg"
            self.d.add("SEG202", f"`{word}` is given twice", extra.key_span,
                       notes=((first.key_span, "first given here"),), help=f"merge both into one `{word}` block")
        if schedules:
            errors_before = len(self.d.items)
            schedule = self.schedule(schedules[0])
            if len(self.d.items) == errors_before:
                raw["schedule"] = schedule
            else:  # an unknown step or unit: checking the rest of the sequence would only mislead
                self.failed.add("schedule")
        if mmsegs:
            raw["overrides"] = self.overrides(mmsegs[0])
        for key, example in (("base", 'base "configs/_base_/models/model.py"'), ("sample", "sample pixel { … }"),
                             ("heuristic", "heuristic entropy"), ("schedule", "schedule epochs { train 5; query; train 5 }")):
            if key not in raw and key not in self.failed and (key,) not in self.misspelt:
                self.d.add("SEG203", f"the experiment has no `{key}`", exp.name_span,
                           label=f"`{key}` missing", help=f"add e.g. `{example}`")
        return raw


    def word_and_block(self, setting: n.Setting, loc: tuple, example: str) -> Any:
        words = [a for a in setting.args]
        self.spans.spans[(*loc, "__word__")] = span_of(words, setting.key_span)
        if len(words) != 1 or not isinstance(words[0], n.Word):
            self.malformed(setting, "one name", example)
            self.failed.add(loc[0])
            return _INVALID
        return words[0].name

    # -- runner active|multitask { mask_dir "…" … }
    def runner(self, setting: n.Setting, loc: tuple) -> Any:
        kind = self.word_and_block(setting, loc, "runner active")
        if kind is _INVALID:
            return _INVALID
        self.spans.spans[(*loc, "kind")] = self.spans.spans[(*loc, "__word__")]
        sc = self.scalar_reader
        keys = {key: sc(f"{key} {_RUNNER_EXAMPLES[key]}") for key in RUNNER_SETTINGS}
        out = self.block(setting, loc, keys, f"`runner {kind}`", required_block=False)
        return {"kind": kind, **out}

    # -- sample pixel { initial …; budget …; threshold top 5%; evenly true; ignore_index 255; radius 1 }
    def sample(self, setting: n.Setting, loc: tuple) -> Any:
        mode = self.word_and_block(setting, loc, "sample pixel { budget 1% per image }")
        if mode is _INVALID:
            return _INVALID
        self.spans.spans[(*loc, "mode")] = self.spans.spans[(*loc, "__word__")]
        sc = self.scalar_reader
        keys = {"initial": lambda s, loc: self.amount(s, loc, False), "budget": lambda s, loc: self.amount(s, loc, True),
                "threshold": self.threshold, "evenly": sc("evenly true"), "ignore_index": sc("ignore_index 255"),
                "radius": sc("radius 1"), "exclude_void": sc("exclude_void false"), "suppress": sc("suppress 32"),
                "keep_suppressed": sc("keep_suppressed true"), "segments": sc("segments 2048"),
                "compactness": sc("compactness 10"), "label": sc("label dominant"),
                "class_balanced": sc("class_balanced true")}
        per_mode = {name: tuple(sm.settings) for name, sm in SAMPLE_MODES.items()}
        allowed = per_mode.get(mode, tuple(keys))
        if setting.block is not None:
            for item in setting.block.items:
                if isinstance(item, n.Setting) and item.key in keys and item.key not in allowed:
                    modes = [k for k, v in per_mode.items() if item.key in v]
                    self.d.add("SEG201", f"`{item.key}` is not a setting of `sample {mode}`", item.key_span,
                               help=f"it applies to `sample {'`/`sample '.join(modes)}`")
        out = self.block(setting, loc, keys, f"`sample {mode}`")
        out = {k: v for k, v in out.items() if k in allowed}
        if setting.block is not None and "budget" not in out and ("sample", "budget") not in self.misspelt and not any(
                isinstance(i, n.Setting) and i.key == "budget" for i in setting.block.items):
            self.d.add("SEG203", f"`sample {mode}` has no `budget`", setting.key_span,
                       help="add e.g. `budget 1% per image per round`" if mode != "image" else "add e.g. `budget 10 images`")
        if setting.block is None:
            self.failed.add("sample")
            return _INVALID
        if "budget" not in out:  # reported above, or its value was unreadable: the model must not repeat it
            self.reported_missing.add(("sample", "budget"))
        return {"mode": mode, **out}

    def threshold(self, setting: n.Setting, loc: tuple) -> Any:
        self.record(loc, setting)
        args = list(setting.args)
        if args and isinstance(args[0], n.Word) and args[0].name == "top":
            args = args[1:]
        if len(args) != 1 or not isinstance(args[0], (n.Percent, n.Number)):
            self.malformed(setting, "a percentage", "threshold top 5%")
            return _INVALID
        self.spans.spans[loc] = args[0].span
        value = args[0].value
        if isinstance(args[0], n.Number):
            guess = f"; did you mean `threshold top {value * 100:g}%`?" if 0 < value <= 1 else ""
            self.d.add("SEG411", f"`threshold top {args[0].text}` reads as {value:g}%", args[0].span,
                       label="a percentage without `%`",
                       help=f"write the `%`: `threshold top {args[0].text}%`{guess}")
        return float(value)

    # -- heuristic ripu { k 1; use_entropy true; categories 19 }
    def heuristic(self, setting: n.Setting, loc: tuple) -> Any:
        name = self.word_and_block(setting, loc, "heuristic ripu { k 1 }")
        if name is _INVALID:
            return _INVALID
        name = heuristics.canonical_name(name)
        self.spans.spans[(*loc, "name")] = self.spans.spans[(*loc, "__word__")]
        params: dict[str, Any] = {}
        if setting.block is not None:
            self.spans.spans[(*loc, "params")] = setting.block.span
            seen: dict[str, Span] = {}
            for item in setting.block.items:
                if not isinstance(item, n.Setting):
                    self.d.add("SEG201", "only parameters belong in a heuristic block", item.key_span)
                    continue
                if item.key in seen:
                    self.d.add("SEG202", f"`{item.key}` is set twice", item.key_span,
                               notes=((seen[item.key], "first set here"),))
                    continue
                seen[item.key] = item.key_span
                value = self.scalar(item, (*loc, "params", item.key), f"{item.key} 1")
                if len(item.args) == 1 and isinstance(item.args[0], n.Dims):  # `crop_size 384x384`: a pair
                    value = (item.args[0].width, item.args[0].height)
                if value is not _INVALID:
                    params[item.key] = value
        return {"name": name, "params": params}

    def visualize(self, setting: n.Setting, loc: tuple) -> Any:
        if setting.args:
            self.malformed(setting, "a block", 'visualize { size 20; overlay true; dir "viz" }')
        sc = self.scalar_reader
        return self.block(setting, loc, {"size": sc("size 20"), "overlay": sc("overlay true"), "dir": sc('dir "viz"')},
                          "`visualize`")

    def pool(self, setting: n.Setting, loc: tuple) -> Any:
        if setting.args:
            self.malformed(setting, "a block", "pool { images 2975; resolution 1280x640 }")
        return self.block(setting, loc, {"images": self.scalar_reader("images 2975"), "resolution": self.dims},
                          "`pool`")

    def launch(self, setting: n.Setting, loc: tuple) -> Any:
        if setting.args:
            self.malformed(setting, "a block", 'launch { slurm { partition "gpu"; gpus_per_node 4 } }')
        return self.block(setting, loc, {"slurm": self.slurm}, "`launch`")

    def slurm(self, setting: n.Setting, loc: tuple) -> Any:
        sc = self.scalar_reader
        keys = {"partition": sc('partition "gpu"'), "nodes": sc("nodes 1"), "gpus_per_node": sc("gpus_per_node 4"),
                "tasks_per_node": sc("tasks_per_node 4"), "cpus_per_task": sc("cpus_per_task 8"),
                "time": sc("time 240"), "account": sc('account "lab"'), "max_parallel": sc("max_parallel 10"),
                "sbatch": lambda s, loc: self.strings(s, loc, 'sbatch "--qos=high", "--exclusive"')}
        return self.block(setting, loc, keys, "`slurm`")

    def dims(self, setting: n.Setting, loc: tuple) -> Any:
        self.record(loc, setting)
        args = setting.args
        if len(args) == 1 and isinstance(args[0], n.Dims):
            return (args[0].width, args[0].height)
        if (len(args) == 3 and isinstance(args[0], n.Number) and isinstance(args[1], n.Word)
                and args[1].name in ("x", "×") and isinstance(args[2], n.Number)):
            return (args[0].value, args[2].value)
        self.malformed(setting, "a size `WIDTHxHEIGHT`", "resolution 1280x640")
        return _INVALID

    # -- log every 20 iters { text; wandb { … } }
    def every(self, setting: n.Setting, loc: tuple, units: tuple[str, ...], example: str) -> Any:
        args = list(setting.args)
        self.spans.spans[(*loc, "interval")] = span_of(args, setting.key_span)
        self.spans.key_spans[loc] = setting.key_span
        if not args or not (isinstance(args[0], n.Word) and args[0].name == "every"):
            self.malformed(setting, "`every N` and a unit", example)
            return _INVALID, None
        args = args[1:]
        if not args or not isinstance(args[0], n.Number):
            self.malformed(setting, "`every N` and a unit", example)
            return _INVALID, None
        interval = self.atom(args[0])
        self.spans.spans[(*loc, "interval")] = args[0].span
        unit = None
        if len(args) == 2 and isinstance(args[1], n.Word):
            word = args[1].name
            canon = UNIT_WORDS.get(word)
            if canon is None or canon not in units:
                hint = did_you_mean(word, units)
                self.d.add("SEG206", f"`{word}` is not a unit of `{setting.key}`", args[1].span,
                           label=hint or "unknown unit", help=f"use {_choices(units)}")
                return _INVALID, None
            unit = canon
        elif len(args) != 1:
            self.malformed(setting, "`every N` and a unit", example)
            return _INVALID, None
        return interval, unit

    def log(self, setting: n.Setting, loc: tuple) -> Any:
        interval, _unit = self.every(setting, loc, ("iters",), "log every 20 iters { text }")
        keys = {"text": self.flag, "wandb": self.wandb}
        out = self.block(setting, loc, keys, "`log`", required_block=False)
        if setting.block is None:
            out["text"] = True
        else:
            out.setdefault("text", False)
        if interval is not _INVALID:
            out["interval"] = interval
        return out

    def flag(self, setting: n.Setting, loc: tuple) -> Any:
        self.record(loc, setting)
        if not setting.args:
            return True
        return self.scalar(setting, loc, f"{setting.key}")

    def wandb(self, setting: n.Setting, loc: tuple) -> Any:
        sc = self.scalar_reader
        keys = {"entity": sc('entity "team"'), "project": sc('project "al"'), "name": sc('name "run"'),
                "group": sc('group "g"'), "tags": lambda s, loc: self.strings(s, loc, 'tags "ripu", "region"')}
        return self.block(setting, loc, keys, "`wandb`", required_block=False)

    def evaluation(self, setting: n.Setting, loc: tuple) -> Any:
        interval, unit = self.every(setting, loc, SCHEDULE_UNITS, "evaluation every 1 epochs")
        sc = self.scalar_reader
        out = self.block(setting, loc, {"metric": sc('metric "mIoU"'), "save_best": sc('save_best "mIoU"'),
                                        "pre_eval": sc("pre_eval true")}, "`evaluation`", required_block=False)
        return self._every_result(out, interval, unit, setting)

    def checkpoint(self, setting: n.Setting, loc: tuple) -> Any:
        interval, unit = self.every(setting, loc, SCHEDULE_UNITS, "checkpoint every 1 epochs")
        out = self.block(setting, loc, {"max_keep": self.scalar_reader("max_keep 3")}, "`checkpoint`",
                         required_block=False)
        return self._every_result(out, interval, unit, setting)

    def _every_result(self, out: dict, interval, unit, setting: n.Setting) -> Any:
        if interval is _INVALID:
            return _INVALID
        if unit is None:
            self.d.add("SEG207", f"`{setting.key}` needs a unit: `epochs` or `iters`", setting.key_span,
                       help=f"write `{setting.key} every {interval} epochs`")
            return _INVALID
        return {"interval": interval, "by_epoch": unit == "epochs", **out}

    # -- schedule -------------------------------------------------------------------------------
    def schedule(self, sched: n.Schedule) -> Any:
        unit = SCHEDULE_UNITS[0]
        self.spans.spans[("schedule",)] = sched.key_span
        if sched.unit is not None:
            canon = UNIT_WORDS.get(sched.unit.name)
            if canon is None:
                hint = did_you_mean(sched.unit.name, SCHEDULE_UNITS)
                self.d.add("SEG310", f"unknown schedule unit `{sched.unit.name}`", sched.unit.span,
                           label=hint or "unknown", help="write `schedule epochs { … }` or `schedule iters { … }`")
            else:
                unit = canon
        steps = tuple(self.step(s, ("schedule", "steps", i)) for i, s in enumerate(sched.items))
        return {"unit": unit, "steps": tuple(s for s in steps if s is not None)}

    def step(self, step: n.Step, loc: tuple) -> dict | None:
        self.spans.spans[loc] = step.span
        if isinstance(step, n.TrainStep):
            length = self.step_length(step.length)
            out = {"kind": "train", "length": length, "loc": loc}
            if step.repeat is not None:
                self.spans.spans[(*loc, "repeat")] = step.repeat.span
                out["repeat"] = step.repeat.count
            return out
        if isinstance(step, n.QueryStep):
            for i, number in enumerate(step.at):
                self.spans.spans[(*loc, "at", i)] = number.span
            at = tuple(self.step_length(p, "a query position") for p in step.at)
            return {"kind": "query", "loc": loc, **({"at": at} if at else {})}
        if isinstance(step, n.WarmupStep):
            return {"kind": "warmup", "length": self.step_length(step.length), "loc": loc}
        if isinstance(step, n.Group):
            self.spans.spans[(*loc, "repeat")] = step.repeat.span
            items = tuple(self.step(s, (*loc, "items", i)) for i, s in enumerate(step.items))
            return {"kind": "group", "repeat": step.repeat.count, "items": tuple(i for i in items if i), "loc": loc}
        hint = did_you_mean(step.name, ("train", "query", "warmup"))
        self.d.add("SEG308", f"unknown schedule step `{step.name}`", step.span, label=hint or "unknown step",
                   help="steps: `train N`, `train N xK`, `query`, `warmup N`, `( … ) xK`")
        return None

    def step_length(self, number: n.Number, what: str = "a training length") -> int:
        if isinstance(number.value, float):
            if number.value.is_integer() and math.isfinite(number.value):
                return int(number.value)
            self.d.add("SEG408", f"{what} must be a whole number, not `{number.text}`", number.span)
            return 1
        return number.value

    # -- mmseg { key.path = literal } --------------------------------------------------------------
    def overrides(self, block: n.Mmseg) -> dict:
        out: dict[str, Any] = {}
        leaf_spans: dict[tuple, Span] = {}
        below: dict[tuple, tuple] = {}
        for ov in block.overrides:
            loc = ("overrides", *ov.key)
            self.spans.spans[loc] = ov.value.span
            self.spans.key_spans[loc] = ov.key_span
            if ov.key[0] in SET_BY:
                self.d.add("SEG212", f"`{ov.key[0]}` is generated from the experiment", ov.key_span,
                           label="set by segal-dsl", help=SET_BY[ov.key[0]])
                continue
            if not ov.key[0].isidentifier() or keyword.iskeyword(ov.key[0]):
                self.d.add("SEG220", f"`{ov.key[0]}` cannot be a top-level config key", ov.key_span,
                           label="not a Python name", help="use an identifier that is not a Python keyword")
                continue
            value = self.literal(ov.value)
            if value is _INVALID:
                continue
            conflict = self._conflict(ov.key, out, leaf_spans, below)
            if conflict is not None:
                self.d.add("SEG211", f"`{'.'.join(ov.key)}` is set again", ov.key_span,
                           notes=((leaf_spans[conflict], f"`{'.'.join(conflict)}` set here"),),
                           help="keep one override per key")
                continue
            node = out
            for part in ov.key[:-1]:
                node = node.setdefault(part, {})
            node[ov.key[-1]] = value
            leaf_spans[ov.key] = ov.key_span
            for i in range(1, len(ov.key)):
                below.setdefault(ov.key[:i], ov.key)
        return out

    def _conflict(self, key: tuple, out: dict, leaf_spans: dict, below: dict) -> tuple | None:
        """The earlier override that `key` collides with: the same key, one above it, or one below it
        (`below` maps every proper prefix of a set key to the first key under it, so each override costs
        its own length, not the number of earlier ones). Setting into a dict set above is allowed."""
        earlier = [key[:i] for i in range(1, len(key) + 1) if key[:i] in leaf_spans]
        if key in below:
            earlier.append(below[key])
        for other in earlier:
            if not (other != key and isinstance(self._get(out, other), dict) and self._settable(out, key)):
                return other
        return None

    @staticmethod
    def _settable(tree: dict, path: tuple) -> bool:
        """Every value already on the way to `path` is a dict (`a = dict(b=None)` then `a.b.c = 1` is not)."""
        for part in path[:-1]:
            if part not in tree:
                return True
            tree = tree[part]
            if not isinstance(tree, dict):
                return False
        return True

    def _duplicate_key(self, key: Any, span: Span, first: Span) -> None:
        """SEG227: Python keeps the last of two equal dict keys (and `dict(a=1, a=2)` does not compile)."""
        self.d.add("SEG227", f"the dict key `{key}` is given twice", span, label="second time",
                   notes=((first, "first given here"),), help="keep one of them: Python would silently keep the last")

    @staticmethod
    def _get(tree: dict, path: tuple) -> Any:
        for part in path:
            tree = tree[part]
        return tree

    def literal(self, lit: n.Literal) -> Any:
        if isinstance(lit, (n.LitNumber, n.Number)):
            if lit.text[-1:] in SUFFIXES:  # overrides are Python literals, and Python has no `10k`
                self.d.add("SEG213", f"`{lit.text}` is not a Python number", lit.span, label="suffix in an override",
                           help=f"write `{lit.value!r}`: `mmseg` values are Python literals")
                return _INVALID
            if isinstance(lit.value, float) and not math.isfinite(lit.value):
                self.d.add("SEG213", "not a finite number", lit.span, help="use a finite number")
                return _INVALID
            return lit.value
        if isinstance(lit, (n.LitString, n.String)):
            return lit.value
        if isinstance(lit, n.LitConst):
            consts = {"true": True, "True": True, "false": False, "False": False, "None": None, "null": None,
                      "none": None}
            if lit.name in consts:
                return consts[lit.name]
            self.d.add("SEG214", f"`{lit.name}` is not a constant", lit.span, label="bare name",
                       help=f'quote it: "{lit.name}" (only true/false/None are bare constants)')
            return _INVALID
        if isinstance(lit, (n.LitList, n.LitTuple)):
            items = [self.literal(i) for i in lit.items]
            if any(i is _INVALID for i in items):
                return _INVALID
            return items if isinstance(lit, n.LitList) else tuple(items)
        first: dict[Any, Span] = {}
        if isinstance(lit, n.LitDict):
            out = {}
            for k, v in lit.pairs:
                key, value = self.literal(k), self.literal(v)
                if key is _INVALID or value is _INVALID:
                    return _INVALID
                if not isinstance(key, (str, int, float, bool, type(None))):
                    self.d.add("SEG204", "a dict key must be a string, number, bool or None", k.span)
                    return _INVALID
                if key in out:
                    self._duplicate_key(key, k.span, first[key])
                    return _INVALID
                first[key] = k.span
                out[key] = value
            return out
        if isinstance(lit, n.LitDictCall):
            out = {}
            for name, v in lit.kwargs:
                value = self.literal(v)
                if value is _INVALID:
                    return _INVALID
                if name in out:
                    self._duplicate_key(name, v.span, first[name])
                    return _INVALID
                first[name] = v.span
                out[name] = value
            return out
        self.d.add("SEG900", "unknown literal", getattr(lit, "span", None))
        return _INVALID


# ---------------------------------------------------------------------------------------------------
_NOUNS = {("heuristic", "name"): "heuristic", ("runner", "kind"): "runner kind", ("sample", "mode"): "sample mode"}
_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long"}


def _union_member(part) -> bool:
    """Errors (spec/typed.py, as pydantic) name union members in error locations (`int`, `constrained-int`, `tuple[int, int]`)."""
    return isinstance(part, str) and (part in ("int", "float", "bool", "str") or "[" in part or "constrained" in part)


def _report_errors(err: ValidationError, spans: SpanIndex, diags: Diagnostics, prefix: tuple = (),
                     skip_missing: set = frozenset()) -> None:
    reported: set[tuple] = set()
    for e in err.errors(include_url=False):
        loc = (*prefix, *e["loc"])
        if e["type"] == "missing" and loc in skip_missing:
            continue
        # Unions report one error per member (`value.int`, `value.float`); report the first only.
        where = tuple(p for p in loc if not _union_member(p))
        if where in reported:
            continue
        reported.add(where)
        key = user_key(loc)
        span = spans(loc)
        kind = e["type"]
        msg = e["msg"][0].lower() + e["msg"][1:]
        if kind == "missing":
            parent = loc[:-1]
            words = [str(p) for p in parent if not isinstance(p, int) and p != "params"]
            where = f"`{' '.join(words)}`" if words else "the experiment"
            diags.add("SEG203", f"`{loc[-1]}` is missing in {where}", spans.key(parent), help=f"add `{loc[-1]}`")
        elif kind == "literal_error":
            value = e.get("input")
            expected = e.get("ctx", {}).get("expected", "")
            choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
            hint = did_you_mean(str(value), choices)
            noun = _NOUNS.get(tuple(loc), key.split(".")[-1])
            diags.add("SEG206", f"`{value}` is not a valid {noun}", span, label=hint or "unknown",
                      help=f"use one of {_choices(choices)}")
        elif loc[:2] == ("sample", "threshold") and kind in _RANGE_TYPES:
            diags.add("SEG405", f"threshold must be in (0, 100]: {msg}", span,
                      help="omit `threshold` for strict top-k; `threshold top 100%` means a random pick")
        elif kind in _RANGE_TYPES:
            diags.add("SEG205", f"{key}: {msg}", span, label=f"got {e.get('input')!r}"[:60],
                      help=_range_help(kind, e.get("ctx") or {}))
        else:
            got = e.get("input")
            diags.add("SEG204", f"{key}: {msg}", span, label=f"got {got!r}"[:60], help=_type_help(kind, got))


def user_key(loc: tuple) -> str:
    """An error location in the words of the file: `heuristic.params.prop` -> "`prop` of `heuristic`",
    `sample.radius` -> "`radius` in `sample`", `seed` -> "`seed`"."""
    parts = [str(p) for p in loc if not isinstance(p, int) and not _union_member(p) and p != "params"]
    if not parts:
        return "the value"
    if len(parts) == 1:
        return f"`{parts[0]}`"
    joiner = "of" if loc[:1] == ("heuristic",) else "in"
    return f"`{parts[-1]}` {joiner} `{' '.join(parts[:-1])}`"


# What to write instead, per error type: every type and range error says how to fix it.
_TYPE_HELP = {
    "int_type": "write a whole number, e.g. `3`", "int_parsing": "write a whole number, e.g. `3`",
    "int_from_float": "write a whole number, e.g. `3`",
    "float_type": "write a number, e.g. `0.5`", "float_parsing": "write a number, e.g. `0.5`",
    "bool_type": "write `true` or `false` (lower case, no quotes)", "bool_parsing": "write `true` or `false`",
    "string_type": 'write a string in double quotes, e.g. "name"',
    "tuple_type": "write the values separated by commas", "list_type": "write the values separated by commas",
    "dict_type": "write a block `{ … }`", "model_type": "write a block `{ … }`",
}
_RANGE_WORDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most"),
                "too_short": ("min_length", "at least this many items:"), "too_long": ("max_length", "at most this many items:")}


def _type_help(kind: str, got: Any) -> str:
    if kind in ("int_type", "float_type", "int_parsing", "float_parsing") and isinstance(got, str):
        return f"write the number without quotes: `{got}`" if got.strip().lstrip("+-").replace(".", "", 1).isdigit() \
            else _TYPE_HELP[kind]
    if kind == "bool_type" and isinstance(got, str) and got.lower() in ("true", "false", "yes", "no", "on", "off"):
        return f"write `{'true' if got.lower() in ('true', 'yes', 'on') else 'false'}` (lower case, no quotes)"
    return _TYPE_HELP.get(kind, "see `segal schema` for what this setting takes")


def _range_help(kind: str, ctx: dict) -> str:
    key, words = _RANGE_WORDS[kind]
    return f"use a value {words} {ctx[key]}" if key in ctx else "use a value in range"


SECTIONS: dict[str, type] = {
    "runner": m.Runner, "sample": m.Sample, "heuristic": m.Heuristic, "visualize": m.Visualize, "pool": m.Pool,
    "log": m.Log, "evaluation": m.Evaluation, "checkpoint": m.Checkpoint, "schedule": m.Schedule,
    "launch": m.Launch,
}


@cache
def _field_adapter(name: str) -> TypeAdapter:
    info = m.Experiment.model_fields[name]
    annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(annotation, config=ConfigDict(strict=True))


def validate(exp: n.Experiment, diags: Diagnostics) -> Validated:
    """Read, type-check and cross-check one experiment.

    Each section is validated on its own so that one bad section does not hide the checks of the
    others; `Validated.experiment` is set only when the whole file is clean of errors.
    """
    spans = SpanIndex()
    reader = _ExperimentReader(diags, spans)
    start = len(diags.items)
    raw = reader.read(exp)
    raw = {k: v for k, v in raw.items() if v is not _INVALID}
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS:
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v is not _INVALID}
            try:
                sections[key] = SECTIONS[key].model_validate(value)
            except ValidationError as err:
                _report_errors(err, spans, diags, prefix=(key,), skip_missing=reader.reported_missing | reader.misspelt)
        elif key in ("name", "overrides"):
            sections[key] = value
        else:
            try:
                sections[key] = _field_adapter(key).validate_python(value)
            except ValidationError as err:
                _report_errors(err, spans, diags, prefix=(key,))
    if "heuristic" in sections:
        _check_heuristic(sections["heuristic"], spans, diags, sections.get("imports") or ())
    _check_cross_fields(sections, spans, diags)
    model = None
    if not any(d.severity is Severity.ERROR for d in diags.items[start:]):
        try:
            model = m.Experiment.model_validate(sections)
        except ValidationError as err:  # only "missing" can be left, and that was reported by the reader
            _report_errors(err, spans, diags)
    return Validated(model, spans, sections)


def _check_heuristic(h: m.Heuristic, spans: SpanIndex, diags: Diagnostics, imports=()) -> None:
    if heuristics.lookup(h.name) is None:  # a user heuristic: only a module of `imports` can register it
        span = spans(("heuristic", "name"))
        if not imports:
            choices = heuristics.HEURISTIC_NAMES
            diags.add("SEG206", f"`{h.name}` is not a valid heuristic", span,
                      label=did_you_mean(h.name, choices) or "unknown", help=f"use one of {_choices(choices)}")
        else:
            diags.add("SEG230", f"`{h.name}` is not a built-in heuristic: `segal run` looks it up after importing "
                      + ", ".join(f"`{i}`" for i in imports), span,
                      label=did_you_mean(h.name, heuristics.HEURISTIC_NAMES) or "a user heuristic",
                      help=f"register it in one of them with `@segal_dsl.runtime.heuristics.register(\"{h.name}\")`"
                      "; its parameters are passed to it as written")
        return
    params_model = heuristics.params_model(h.name)
    allowed = list(params_model.model_fields)  # ordered: diagnostics must be deterministic
    for key in h.params:
        if key not in allowed:
            takers = heuristics.takers(key)
            span = spans.key(("heuristic", "params", key))
            if takers:
                diags.add("SEG208", f"`{h.name}` takes no parameter `{key}`", span, label="not a parameter here",
                          help=f"`{key}` is a parameter of {_choices(takers)}"
                          + (f"; `{h.name}` takes {_choices(allowed)}" if allowed else f"; `{h.name}` takes none"))
            else:
                hint = did_you_mean(key, allowed)
                diags.add("SEG201", f"unknown parameter `{key}` of `{h.name}`", span, label=hint or "unknown",
                          help=f"`{h.name}` takes {_choices(allowed)}" if allowed else f"`{h.name}` takes no parameters")
    known = {k: v for k, v in h.params.items() if k in allowed}
    try:
        params_model.model_validate(known)
    except ValidationError as err:
        _report_errors(err, spans, diags, prefix=("heuristic", "params"))


def _check_units(sections: dict, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG321: an iteration schedule counts every hook by iteration; an epoch-counted evaluation, checkpoint
    or LR policy would fire on the wrong clock (the runtime's contract refuses it: spec/config.py)."""
    schedule = sections.get("schedule")
    if schedule is None or schedule.unit != "iters":
        return
    for key, example in (("evaluation", "evaluation every 200 iters"), ("checkpoint", "checkpoint every 1000 iters")):
        section = sections.get(key)
        if section is not None and section.by_epoch:
            diags.add("SEG321", f"`{key}` counts epochs, but the schedule counts iterations", spans.key((key,)),
                      label="epochs", notes=((spans.key(("schedule",)), "iterations chosen here"),),
                      help=f"count it in iterations too: `{example}`")
    lr = (sections.get("overrides") or {}).get("lr_config")
    if isinstance(lr, dict) and lr.get("by_epoch") is True:
        diags.add("SEG321", "`lr_config.by_epoch=True` steps the learning rate by epoch in an iteration schedule",
                  spans(("overrides", "lr_config")), notes=((spans.key(("schedule",)), "iterations chosen here"),),
                  help="use `by_epoch=False`")


# Settings that name files or folders: a NUL or a line break in one is a typo that no file system reads.
PATH_SETTINGS = (("load_from",), ("work_dir",), ("runner", "mask_dir"), ("runner", "mae_viz_dir"),
                 ("visualize", "dir"))
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _check_strings(sections: dict, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG228: `imports` are dotted module names; SEG229: paths hold no NUL and no line break."""
    for i, module in enumerate(sections.get("imports") or ()):
        if not MODULE_NAME.fullmatch(module):
            diags.add("SEG228", f"`{module}` is not a module name", spans(("imports", i)),
                      label="mmcv imports it with importlib",
                      help="write a dotted Python module name, e.g. `experiments._base_.dataset_gtav` (no `/` or `.py`)")
    paths = [(("base", i), p) for i, p in enumerate(sections.get("base") or ())]
    for loc in PATH_SETTINGS:
        value = sections.get(loc[0])
        for part in loc[1:]:
            value = getattr(value, part, None)
        paths.append((loc, value))
    for loc, value in paths:
        if isinstance(value, str) and any(c in value for c in "\0\n\r"):
            diags.add("SEG229", f"the path `{value!r}` holds a {'NUL' if chr(0) in value else 'line break'}",
                      spans(loc), help="remove it: no file name holds one (a `\\n` in quotes is a line break)")


def _check_cross_fields(sections: dict, spans: SpanIndex, diags: Diagnostics) -> None:
    runner = sections.get("runner", m.Runner())
    s, h = sections.get("sample"), sections.get("heuristic")
    _check_units(sections, spans, diags)
    _check_strings(sections, spans, diags)
    if h is not None and s is not None:
        _check_heuristic_mode(h, s, spans, diags)
        _check_class_balance(s, h, spans, diags)
        if s.threshold is not None and heuristics.spec_of(h.name).uninformed:
            diags.add("SEG412", f"`threshold` has no effect with `heuristic {h.name}`", spans(("sample", "threshold")),
                      notes=((spans(("heuristic", "name")), f"`{h.name}` chosen here"),),
                      help=f"`{h.name}` scores carry no information, so a random pick among the top scores is "
                      "the same pick: remove `threshold`")
    needs = heuristics.spec_of(h.name).runner if h is not None else None
    if needs is not None and runner.kind != needs:
        diags.add("SEG210", f"the `{h.name}` heuristic needs the {needs} runner", spans(("heuristic", "name")),
                  help=f"use `runner {needs}`, or another heuristic")
    if runner.kind == "active":
        for key in MULTITASK_RUNNER_SETTINGS:
            if getattr(runner, key) is not None:
                diags.add("SEG210", f"`{key}` is read only by the multitask runner", spans.key(("runner", key)),
                          help="remove it, or use `runner multitask`")
    overrides = sections.get("overrides") or {}
    for key, path in RUNNER_SETTINGS.items():
        if len(path) > 1 and getattr(runner, key, None) is not None and _has_path(overrides, path):
            diags.add("SEG211", f"`{'.'.join(path)}` is set by `runner multitask {{ {key} … }}` and by `mmseg`",
                      spans(("overrides", *path)), notes=((spans.key(("runner", key)), f"`{key}` set here"),),
                      help="keep one of them")
    if s is None:
        return
    if runner.kind == "multitask" and not SAMPLE_MODES[s.mode].multitask:
        diags.add("SEG209", "the multitask runner cannot sample whole images", spans(("sample", "mode")),
                  notes=((spans(("runner", "kind")), "multitask runner chosen here"),),
                  help="use `sample pixel` or `sample region`, or `runner active`")
    # Units must fit the mode; counts must be whole and positive.
    units_of = {name: sm.units for name, sm in SAMPLE_MODES.items()}
    for key in ("initial", "budget"):
        amount = getattr(s, key)
        if amount is None or amount.unit is None:
            continue
        span = spans(("sample", key))
        if amount.unit not in units_of[s.mode]:
            diags.add("SEG402", f"`{unit_text(amount.unit)}` cannot be used with `sample {s.mode}`", span,
                      label="wrong unit", help=f"`sample {s.mode}` counts in "
                      + ", ".join(f"`{unit_text(u)}`" for u in units_of[s.mode]))
            continue
        if amount.unit in WHOLE_UNITS and not float(amount.value).is_integer():
            diags.add("SEG408", f"`{amount.value}` {unit_text(amount.unit)} is not a whole number", span)
        elif key == "budget" and amount.value < 0:
            diags.add("SEG401", "the budget per round must be positive", span, label="buys nothing",
                      help="each query must buy at least one label")
        elif key == "initial" and amount.value < 0:
            diags.add("SEG205", "the initial labels cannot be negative", span)
        elif UNITS[amount.unit].percent and amount.value > 100:
            code = "SEG410" if key == "initial" else "SEG403"
            diags.add(code, f"`{amount.value}%` is more than the whole image", span, help="use at most 100%")
    if s.mode == "region" and s.evenly is False:
        diags.add("SEG407", "region sampling allocates regions per image", spans(("sample", "evenly")),
                  help="remove `evenly false`")
    _check_suppression(s, spans, diags)
    if s.ignore_index is not None and s.ignore_index != 255:
        diags.add("SEG409", f"ignore_index `{s.ignore_index}` differs from mmseg's padding value 255",
                  spans(("sample", "ignore_index")), help="use 255 unless every pipeline pads with this value")


def _check_class_balance(s: m.Sample, h: m.Heuristic | None, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG416: `class_balanced` picks each image's top pixels per predicted class, which a pool-wide top-k, a
    random pick from a threshold pool, suppression or entropy's `prop` would undo."""
    if not s.class_balanced:
        return
    clash = [(("sample", k), f"`{k}`") for k in ("threshold", "suppress") if getattr(s, k) is not None]
    if s.evenly is False:
        clash.append((("sample", "evenly"), "`evenly false`"))
    if h is not None and h.params.get("prop") is not None:
        clash.append((("heuristic", "params", "prop"), "`prop`"))
    for where, what in clash:
        diags.add("SEG416", f"`class_balanced` cannot be combined with {what}", spans(("sample", "class_balanced")),
                  notes=((spans(where), f"{what} set here"),),
                  help=f"keep one of them: remove {what} or `class_balanced true`")


def _check_suppression(s: m.Sample, spans: SpanIndex, diags: Diagnostics) -> None:
    """RIPU's pixel selection: `suppress` picks image by image; `keep_suppressed` needs it."""
    if s.suppress is not None and s.evenly is False:
        diags.add("SEG413", "neighbourhood suppression picks pixels image by image", spans(("sample", "suppress")),
                  notes=((spans(("sample", "evenly")), "one top-k over the pool set here"),),
                  help="remove `evenly false` or `suppress`")
    if s.keep_suppressed and s.suppress is None:
        diags.add("SEG414", "`keep_suppressed` keeps nothing without `suppress`", spans(("sample", "keep_suppressed")),
                  help="add `suppress r` (RIPU: 32), or remove `keep_suppressed`")


def _has_path(tree: dict, path: tuple) -> bool:
    node = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _check_heuristic_mode(h: m.Heuristic, s: m.Sample, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG231: a heuristic outside its sample modes; SEG208: parameters that apply to some sample modes only,
    or that exclude a `sample` setting (spec/heuristics.py)."""
    if s.mode not in heuristics.spec_of(h.name).modes:
        works = " or ".join(heuristics.spec_of(h.name).modes)
        diags.add("SEG231", f"`{h.name}` works in {works} sampling only", spans(("heuristic", "name")),
                  notes=((spans(("sample", "mode")), f"`sample {s.mode}` here"),),
                  help=f"use `sample {works}`, or another heuristic")
    for p in heuristics.spec_of(h.name).params:
        if p.name not in h.params:
            continue
        span = spans.key(("heuristic", "params", p.name))
        if s.mode not in p.modes:
            diags.add("SEG208", f"{h.name}'s `{p.name}` applies to {' or '.join(p.modes)} sampling only", span,
                      help=f"remove `{p.name}`")
            continue
        for other in p.conflicts:
            if getattr(s, other, None) is not None:
                diags.add("SEG208", f"{h.name}'s `{p.name}` cannot be combined with `{other}`", span,
                          notes=((spans(("sample", other)), f"{other} set here"),),
                          help=f"both mix randomness into the pick: keep `{other}` or `{p.name}`, not both")
