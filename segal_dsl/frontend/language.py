"""The `.seg` language as a user writes it: each block, its keys, what each means, the words each takes.

Derived, not restated: keys and meanings from the `.seg` model (frontend/model.py field descriptions),
heuristic parameters from spec/heuristics.py, units from spec/budget.py, modes and runners from
spec/modes.py, schedule units from spec/schedule.py, schedule steps from frontend/nodes.py, sweep axes
from frontend/sweep.py, defaults from the compiled-config contract (spec/config.py). `segal schema`
prints it; the language server (segal_dsl/lsp/) answers hover and completion from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cache
from typing import Any

from segal_dsl.frontend import model as m
from segal_dsl.frontend import nodes as n
from segal_dsl.frontend.sweep import SAMPLE_AXES, TOP_AXES
from segal_dsl.spec import heuristics
from segal_dsl.spec.budget import UNITS, Unit
from segal_dsl.spec.config import MODE_SETTINGS, MULTITASK_RUNNER_SETTINGS, RUNNER_SETTINGS, SAMPLE_SETTINGS, ActiveLearning, CompiledConfig
from segal_dsl.spec.config import Visualize as ContractVisualize
from segal_dsl.spec.modes import REFERENCES, RUNNER_KINDS, SAMPLE_MODES
from segal_dsl.spec.schedule import UNITS as SCHEDULE_UNITS
from segal_dsl.spec.typed import UNDEFINED


@dataclass(frozen=True)
class Word:
    """A word a value may be (a sample mode, a heuristic, a unit, `true`) and what it means."""

    text: str
    doc: str = ""


@dataclass(frozen=True)
class Key:
    """One statement of a block: what it means, how its value is written, the words it takes."""

    name: str
    doc: str
    value: str                          # how the value is written, in words ("" when the key takes none)
    words: tuple[Word, ...] = ()        # the closed set its (first) value word comes from
    units: tuple[Word, ...] = ()        # the units that follow its number (amounts, `every N`)
    block: str | None = None            # the block it opens (a name of `blocks()`)
    required: bool = False
    default: str | None = None          # as a `.seg` file writes it; None: none, or the base files decide
    compiled: str | None = None         # the compiled-config key it writes, where that is not its own name
    modes: tuple[str, ...] = ()         # `sample` settings: the modes that take it
    runner: str | None = None           # the runner kind it needs


@dataclass(frozen=True)
class Block:
    """A `{ … }` block: what it is and the keys it takes, in the order of the `.seg` model."""

    name: str
    doc: str
    keys: dict[str, Key] = field(default_factory=dict)


# Statements read before validation (inherit.py, sweep.py) or with their own grammar rule: no model field.
_STATEMENTS = {
    "extends": ("merge this experiment over a parent `.seg` file, relative to this file", "a file name in quotes"),
    "sweep": ("one experiment per point of the cartesian product of its axes", "a block of axes"),
    "delete": ("remove inherited statements of this block (with `extends`)", "the keys to remove"),
}
# Keys whose words the validator reads in a shape of their own (frontend/validate.py), not as one value.
_FORMS = {
    "initial": "an amount: a number and a unit, e.g. `1% per image`, `8192 px`, `100 images`, `0`",
    "budget": "an amount per query: a number and a unit, e.g. `1% per image per round`, `10 images`",
    "threshold": "`top T%`, 0 < T ≤ 100",
    "resolution": "a size `WIDTHxHEIGHT`, e.g. `1280x640`",
    "log": "`every N iters`, then optionally a block of loggers",
    "evaluation": "`every N epochs` or `every N iters`, then optionally a block",
    "checkpoint": "`every N epochs` or `every N iters`, then optionally a block",
    "text": "nothing (the key alone turns it on), or `true`/`false`",
}
# Fields the words after a block's key set (`sample pixel`, `log every 20 iters`), not keys inside the block.
_HEADER_FIELDS = {"Experiment": {"name", "overrides"}, "Runner": {"kind"}, "Sample": {"mode"},
                  "Log": {"interval"}, "Evaluation": {"interval", "by_epoch"}, "Checkpoint": {"interval", "by_epoch"}}
_STEPS = {"train": n.TrainStep, "query": n.QueryStep, "warmup": n.WarmupStep}
_BOOLS = (Word("true"), Word("false"))


def _unit_doc(u: Unit) -> str:
    if u.percent:
        return f"percent of {'each image’s' if u.per_image else 'the whole pool’s'} pixels"
    return f"{u.counts} {'in each image' if u.per_image else 'over the whole pool'}"


def units_of(mode: str | None) -> tuple[Word, ...]:
    """The units of an amount as a `.seg` file writes them (`% per image`), for one sample mode or all."""
    return tuple(Word(u.text, _unit_doc(u)) for u in UNITS.values() if mode is None or mode in u.modes)


def _shown(value: Any) -> str | None:
    """A default as a `.seg` file writes it; None for no default."""
    if value is None or value is UNDEFINED or value == () or value == {}:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _value(prop: dict, defs: dict) -> tuple[str, tuple[Word, ...], str | None]:
    """(how the value is written, its words, the block it opens) from a field's JSON schema."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    p = options[0] if options else prop
    if "$ref" in p:
        return "a block `{ … }`", (), p["$ref"].rsplit("/", 1)[-1]
    if "enum" in p:
        return "one of " + ", ".join(f"`{v}`" for v in p["enum"]), tuple(Word(str(v)) for v in p["enum"]), None
    kind = p.get("type")
    if kind == "boolean":
        return "`true` or `false`", _BOOLS, None
    if kind == "string":
        return "a string in quotes", (), None
    if kind == "array":
        if "prefixItems" in p:
            return "a size `WIDTHxHEIGHT`", (), None
        return "strings in quotes, separated by commas", (), None
    if kind in ("integer", "number"):
        bounds = [f"{sign} {p[k]}" for k, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                   ("exclusiveMaximum", "<")) if k in p]
        text = "a whole number" if kind == "integer" else "a number"
        return text + (" " + ", ".join(bounds) if bounds else ""), (), None
    return "a value", (), None


_BLOCK_OF_MODEL = {"Runner": "runner", "Sample": "sample", "Heuristic": "heuristic", "Visualize": "visualize",
                   "Pool": "pool", "Log": "log", "Wandb": "wandb", "Evaluation": "evaluation", "Launch": "launch",
                   "Slurm": "slurm",
                   "Checkpoint": "checkpoint", "Schedule": "schedule"}


def _contract_default(block: str, key: str) -> Any:
    """The compiled-config contract's default for the key a statement writes (None when it has none)."""
    fields = None
    if block == "sample":
        mode = next((md for md in SAMPLE_SETTINGS if key in SAMPLE_SETTINGS[md]), None)
        if mode is not None:
            fields, key = MODE_SETTINGS[mode].model_fields, SAMPLE_SETTINGS[mode][key]
    elif block == "runner" and len(RUNNER_SETTINGS.get(key, ())) == 1:
        fields, key = CompiledConfig.model_fields, RUNNER_SETTINGS[key][0]
    elif block == "experiment":
        fields = CompiledConfig.model_fields if key in CompiledConfig.model_fields else ActiveLearning.model_fields
    elif block == "visualize":
        fields = ContractVisualize.model_fields
    info = fields.get(key) if fields else None
    return None if info is None or info.is_required() else info.default


def _keys_of(model: type, block: str, schema: dict, defs: dict) -> dict[str, Key]:
    out = {}
    required = set(schema.get("required", ()))
    for name, info in model.model_fields.items():
        if name in _HEADER_FIELDS.get(model.__name__, ()):
            continue
        value, words, ref = _value(schema["properties"][name], defs)
        default = info.default if not info.is_required() else None
        shown = _shown(default) if default is not None and not isinstance(default, m.Strict) else None
        key = Key(name, info.description or "", _FORMS.get(name, value), words, block=_BLOCK_OF_MODEL.get(ref),
                  required=name in required, default=shown or _shown(_contract_default(block, name)))
        if block == "sample":
            written = "/".join(dict.fromkeys(s[name] for s in SAMPLE_SETTINGS.values() if name in s))
            key = replace(key, modes=tuple(md for md, s in SAMPLE_SETTINGS.items() if name in s),
                          compiled=f"active_learning.settings.<mode>.{written}")
            if name in ("initial", "budget"):
                key = replace(key, units=units_of(None))
        if block == "runner" and name in RUNNER_SETTINGS:
            path = ".".join(RUNNER_SETTINGS[name])
            key = replace(key, compiled=path if path != name else None,
                          runner="multitask" if name in MULTITASK_RUNNER_SETTINGS else None)
        out[name] = key
    return out


def _experiment_keys(schema: dict, defs: dict) -> dict[str, Key]:
    keys = _keys_of(m.Experiment, "experiment", schema, defs)
    keys["sample"] = replace(keys["sample"], value="a mode, then a block", words=tuple(
        Word(md.name, md.doc) for md in SAMPLE_MODES.values()))
    keys["runner"] = replace(keys["runner"], value="a runner kind, then optionally a block", words=tuple(
        Word(k.name, k.doc) for k in RUNNER_KINDS.values()))
    keys["heuristic"] = replace(keys["heuristic"], value="a heuristic, then optionally a block of its parameters",
                                words=tuple(Word(h.name, h.doc) for h in heuristics.HEURISTICS.values()))
    keys["schedule"] = replace(keys["schedule"], value="`epochs` or `iters`, then a block of steps",
                               words=tuple(Word(u) for u in SCHEDULE_UNITS))
    keys["log"] = replace(keys["log"], words=(Word("every"),), units=(Word("iters"),))
    for name in ("evaluation", "checkpoint"):
        keys[name] = replace(keys[name], words=(Word("every"),), units=tuple(Word(u) for u in SCHEDULE_UNITS))
    overrides = m.Experiment.model_fields["overrides"]
    keys["mmseg"] = Key("mmseg", overrides.description or "", "a block of `dotted.key = literal`", block="mmseg")
    for name, (doc, value) in _STATEMENTS.items():
        keys[name] = Key(name, doc, value, block="sweep" if name == "sweep" else None)
    return keys


def _heuristic_block(h: heuristics.Heuristic) -> Block:
    keys = {}
    for p in h.params:
        bounds = ", ".join(f"{sign} {getattr(p, k)}" for k, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
                           if getattr(p, k) is not None)
        value = {"int": "a whole number", "float": "a number", "bool": "`true` or `false`",
                 "size": "a size: one side, or `HxW`", "choice": "one of " + ", ".join(
                     f"`{c}`" for c in p.choices)}[p.kind] + (f" {bounds}" if bounds else "")
        words = _BOOLS if p.kind == "bool" else tuple(Word(c) for c in p.choices)
        keys[p.name] = Key(p.name, p.doc, value, words, default=_shown(p.default), modes=p.modes
                           if p.modes != tuple(SAMPLE_MODES) else (), compiled=p.key if p.key != p.name else None)
    return Block(f"heuristic {h.name}", h.doc, keys)


@cache
def blocks() -> dict[str, Block]:
    """Every block of the language by name: `experiment`, `sample`, `heuristic ripu`, `schedule`, `sweep`, …"""
    schema = m.Experiment.model_json_schema()
    defs = schema.get("$defs", {})
    out = {"experiment": Block("experiment", n.Experiment.__doc__ or "", _experiment_keys(schema, defs))}
    top = out["experiment"].keys
    wandb = m.Log.model_fields["wandb"].description or ""
    nested = {"wandb": wandb, "slurm": m.Launch.model_fields["slurm"].description or ""}  # blocks inside a block
    for model_name, block in _BLOCK_OF_MODEL.items():
        if model_name in ("Heuristic", "Schedule"):
            continue
        doc = nested[block] if block in nested else top[block].doc
        out[block] = Block(block, doc, _keys_of(getattr(m, model_name), block, defs[model_name], defs))
    for h in heuristics.HEURISTICS.values():
        out[f"heuristic {h.name}"] = _heuristic_block(h)
    out["schedule"] = Block("schedule", top["schedule"].doc, {
        word: Key(word, cls.__doc__ or "", "a number" if word != "query" else "") for word, cls in _STEPS.items()})
    axes = {name: replace(top.get(name) or out["sample"].keys[name], block=None, required=False,
                          value="values separated by commas") for name in TOP_AXES + SAMPLE_AXES}
    axes["lr"] = Key("lr", "the optimizer's learning rate (`optimizer.lr`)", "numbers separated by commas")
    axes["reference"] = Key("reference", "adds the full-supervision reference: one point per seed trained on every "
                            "pool label for the same schedule, buying nothing; `segal report` draws it as the ceiling",
                            "`full`", words=tuple(Word(r, "every pool label from round 0") for r in REFERENCES))
    out["sweep"] = Block("sweep", "axes: a statement and alternative values for its words", axes)
    out["mmseg"] = Block("mmseg", top["mmseg"].doc)
    return out


def block_of(parent: str, key: str, words: tuple[str, ...]) -> str | None:
    """The block that `key words… { … }` opens inside `parent`, or None (an unknown key, or no block)."""
    if parent == "experiment" and key == "heuristic":
        h = heuristics.lookup(words[0]) if words else None
        return f"heuristic {h.name}" if h is not None else None
    k = blocks().get(parent, Block(parent, "")).keys.get(key)
    return k.block if k is not None else None


def keys_in(block: str, words: tuple[str, ...] = ()) -> list[Key]:
    """The keys a block takes after the words that opened it (`sample image` takes no `threshold`)."""
    b = blocks().get(block)
    if b is None:
        return []
    keys = list(b.keys.values())
    if block == "sample" and words and words[0] in SAMPLE_MODES:
        mode = words[0]
        keys = [replace(k, units=units_of(mode) if k.units else (),
                        compiled=f"active_learning.settings.{mode}.{SAMPLE_SETTINGS[mode][k.name]}")
                for k in keys if mode in k.modes]
    if block == "runner" and words and words[0] in RUNNER_KINDS:
        keys = [k for k in keys if k.runner in (None, words[0])]
    return keys


def schema() -> dict:
    """`segal schema`: the language as data (blocks, keys, values, units, defaults), empty fields left out."""
    def plain(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items() if v not in (None, (), [], {}, False, "")}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        return obj

    return {"language": "seg", "units": [asdict(w) for w in units_of(None)],
            "blocks": {name: {"doc": b.doc, "keys": [plain(asdict(k)) for k in b.keys.values()]}
                       for name, b in blocks().items()}}
