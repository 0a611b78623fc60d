"""The experiment against its `base` files: what they set, the config the runtime will see, and where each
value comes from. Emits SEG221, SEG223, SEG224 (and SEG502 for a compiled config the contract refuses);
bases that cannot be read are not a diagnostic of the file: the CLI says so once per run (SEG222).

The bases are read as data with the importer's evaluator (`segal_dsl/pyconfig/`), never executed, and
merged with the compiled keys as mmcv merges them. The result is read through the compiled-config
contract (`segal_dsl/spec/config.py`) exactly as the runtime reads it, so a file that passes `check`
compiles to a config the runtime accepts, and `segal plan` shows what will run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend.emit import Compiled
from segal_dsl.frontend.validate import SpanIndex
from segal_dsl.pyconfig.evaluate import UNKNOWN
from segal_dsl.pyconfig.load import DELETE_KEY, Loaded, Origin, load, merge_into
from segal_dsl.source import Source, Span
from segal_dsl.spec import heuristics
from segal_dsl.spec.config import ConfigError, Contract, read_config


@dataclass
class Inherited:
    """What the `base` files of an experiment set, read as data; `values` is None when they could not be read."""

    values: dict | None
    loaded: Loaded | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def sources(self) -> dict[str, Source]:
        return dict(self.loaded.sources) if self.loaded is not None else {}


# Reads of a folder's `base` list, with the (mtime, size) of every file they read or looked for: the files of
# one folder (`segal check dir/`, the LSP re-checking on each edit) share their bases, read or missing.
# Entries are never mutated (merges copy what they change); no message of a read names the `.seg` file.
_READS: dict[tuple, tuple[tuple, Inherited]] = {}


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (path, None, None)
    return (path, st.st_mtime_ns, st.st_size)


def read_bases(bases: tuple[str, ...], source: Source) -> Inherited:
    """Load the bases as mmcv would for a config next to the `.seg` file (paths relative to its folder)."""
    here = os.path.dirname(source.path)
    key = (here, os.path.abspath(here), tuple(bases))  # `here` as given: the origins name files through it
    kept = _READS.get(key)
    if kept is not None and tuple(_stamp(s[0]) for s in kept[0]) == kept[0]:
        return kept[1]
    inherited = _read_bases(bases, here)
    stamps = tuple(_stamp(f) for f in (*inherited.loaded.files, *inherited.loaded.tried))
    _READS[key] = (stamps, inherited)
    return inherited


def _read_bases(bases: tuple[str, ...], here: str) -> Inherited:
    probe = os.path.join(here, "<the experiment's base list>.py")  # a config beside the .seg file, never on disk
    loaded = load(probe, "_base_ = " + repr(list(bases)) + "\n")
    loaded.files = [f for f in loaded.files if f != os.path.normpath(probe)]
    loaded.sources.pop(os.path.normpath(probe), None)
    if not loaded.complete:
        return Inherited(None, loaded, loaded.problems)
    return Inherited(loaded.values, loaded)


@dataclass
class Effective:
    """The config the runtime will see (bases merged), with the origin of every value."""

    values: dict[str, Any]
    origins: dict[tuple, Origin | tuple]   # a base file's Origin, or the `.seg` loc that wrote the value
    bases_known: bool

    def origin(self, path: tuple) -> Origin | tuple | None:
        path = tuple(path)
        while path:
            if path in self.origins:
                return self.origins[path]
            path = path[:-1]
        return None


def effective(compiled: Compiled, inherited: Inherited) -> Effective:
    """mmcv's merge of the compiled keys into the bases (the compiled values alone when bases are unknown)."""
    ours = {k: v for k, v in compiled.values.items() if k != "_base_"}
    own = {path: loc for path, loc in compiled.where.items() if path[0] != "_base_"}
    if inherited.values is None:
        return Effective(_strip_delete(ours), dict(own), False)
    values, origins = merge_into(ours, inherited.values, own, inherited.loaded.origins if inherited.loaded else {})
    return Effective(values, origins, True)


def _strip_delete(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != DELETE_KEY}
    return value


def check(compiled: Compiled, inherited: Inherited, source: Source, spans: SpanIndex,
          diags: Diagnostics) -> tuple[Effective, Contract | None]:
    """The effective config read through the contract; contradictions with the bases as diagnostics."""
    base_span = spans(("base",))
    for note in compiled.notes:
        diags.add("SEG223", note, base_span)
    eff = effective(compiled, inherited)
    try:
        contract = read_config(eff.values)
    except ConfigError as err:
        _report(err, eff, spans, diags, base_span)
        return eff, None
    if eff.bases_known:
        _check_model(contract, eff, spans, diags)
        _check_dropout(contract, eff, spans, diags)
    return eff, contract


def _report(err: ConfigError, eff: Effective, spans: SpanIndex, diags: Diagnostics, base_span: Span | None) -> None:
    origin = eff.origin(err.path)
    key = ".".join(map(str, err.path))
    if isinstance(origin, Origin):
        diags.add("SEG221", f"`{key}`, as a base file sets it, cannot run with this experiment: {err.detail}",
                  base_span, label="inherited here",
                  notes=((_origin_span(origin), f"`{key}` set here"),),
                  help="state the value in the experiment (its own statement or `mmseg { … }`), or use another base")
        return
    span = spans(origin) if isinstance(origin, tuple) else None
    if span is not None and origin and origin[0] == "overrides":  # what the user wrote in `mmseg { … }`
        diags.add("SEG225", f"the runtime cannot run `{key}` as set here: {err.detail}", span,
                  label="set in `mmseg`", help="change or remove this override")
        return
    diags.add("SEG502", f"the compiled config breaks the runtime's contract at `{key}`: {err.detail}",
              span or base_span, help="this is a bug in segal-dsl's checks; please report it with the input file")


def _origin_span(origin: Origin) -> Span:
    return Span(origin.path, origin.line, origin.column, origin.line, origin.column + 1, 0, 0)


def _check_model(contract: Contract, eff: Effective, spans: SpanIndex, diags: Diagnostics) -> None:
    """Contradictions with the model of the bases: the multitask segmentor, the number of classes."""
    model = eff.values.get("model")
    if not isinstance(model, dict):
        return
    if contract.runner_kind == "multitask" and model.get("type") not in (None, UNKNOWN, "MultiTaskSegmentor"):
        origin = eff.origin(("model", "type"))
        diags.add("SEG221", f"the multitask runner needs `model.type='MultiTaskSegmentor'`, the bases give "
                  f"`{model.get('type')}`", spans(("runner", "kind")),
                  notes=((_origin_span(origin), "`model.type` set here"),) if isinstance(origin, Origin) else (),
                  help="use a MultiTaskSegmentor model base, or `runner active`")
    categories = contract.params.get("categories")
    classes = _num_classes(model)
    if categories is not None and classes is not None and categories != classes:
        origin = eff.origin(("model", "decode_head", "num_classes"))
        diags.add("SEG224", f"`categories {categories}` but the model predicts {classes} classes",
                  spans.key(("heuristic", "params", "categories")),
                  notes=((_origin_span(origin), "`num_classes` set here"),) if isinstance(origin, Origin) else (),
                  help=f"RIPU normalises by log(categories): use `categories {classes}`, or leave it out (the "
                  "model's number of classes is the default)")


HEAD_DROPOUT = 0.1  # mmseg's BaseDecodeHead(dropout_ratio=0.1): a head that does not set it has dropout


def _heads(model: dict) -> list:
    out = []
    for key in ("decode_head", "auxiliary_head"):
        head = model.get(key)
        out += list(head) if isinstance(head, (list, tuple)) else [head] if head is not None else []
    return out


def _other_dropout(node: Any, path: tuple = ()) -> bool:
    """Whether a model key other than a head's dropout_ratio may switch a dropout layer on (`drop_rate`,
    `attn_drop_rate`, `ffn_drop`, …; not `drop_path_rate`, which is no dropout layer), or is unknown."""
    if isinstance(node, dict):
        return any(_other_dropout(v, (*path, k)) for k, v in node.items())
    if isinstance(node, (list, tuple)):
        return any(_other_dropout(v, path) for v in node)
    key = str(path[-1]) if path else ""
    if "drop" not in key or "drop_path" in key or key == "dropout_ratio":
        return False
    return node is UNKNOWN or (isinstance(node, (int, float)) and not isinstance(node, bool) and node > 0)


def _check_dropout(contract: Contract, eff: Effective, spans: SpanIndex, diags: Diagnostics) -> None:
    """SEG232: an MC-dropout heuristic (spec/heuristics.py `needs_dropout`) on a model whose every decode and
    auxiliary head sets `dropout_ratio` 0 and whose config switches on no other dropout: the runtime's first
    query would stop (runtime/query.py mc_posteriors)."""
    model = eff.values.get("model")
    if not heuristics.spec_of(contract.heuristic).needs_dropout or not isinstance(model, dict):
        return
    heads = _heads(model)
    if not heads or not all(isinstance(h, dict) for h in heads):
        return
    ratios = [h.get("dropout_ratio", HEAD_DROPOUT) for h in heads]
    if any(r is UNKNOWN or not isinstance(r, (int, float)) or r > 0 for r in ratios) or _other_dropout(model):
        return
    origin = eff.origin(("model", "decode_head", "dropout_ratio"))
    note = ((_origin_span(origin), "`dropout_ratio` set here"),) if isinstance(origin, Origin) else \
        ((spans(origin), "`dropout_ratio` set here"),) if isinstance(origin, tuple) and spans(origin) else ()
    diags.add("SEG232", f"`{contract.heuristic}` needs dropout, but the model has none (`dropout_ratio` 0)",
              spans(("heuristic", "name")), label="MC dropout", notes=note,
              help="turn dropout on: `mmseg { model.decode_head.dropout_ratio = 0.1 }` (mmseg's default), "
              "or use another heuristic")


def _num_classes(model: dict) -> int | None:
    head = model.get("decode_head")
    heads = head if isinstance(head, (list, tuple)) else [head]
    values = {h.get("num_classes") for h in heads if isinstance(h, dict)}
    values.discard(None)
    if len(values) == 1:
        value = values.pop()
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# ---- `segal plan --explain` ------------------------------------------------------------------------------
EXPLAINED: tuple[tuple[str, ...], ...] = (
    ("source_free",), ("scale_size",), ("load_from",), ("mask_dir",), ("runner", "type"),
    ("runner", "sample_mode"), ("runner", "sample_rounds"), ("runner", "schedule_unit"), ("workflow",),
    ("active_learning", "heuristic"), ("active_learning", "heuristic_cfg"), ("active_learning", "reset_each_round"),
    ("active_learning", "visualize"), ("model", "type"), ("model", "decode_head", "num_classes"),
    ("data", "samples_per_gpu"), ("data", "train", "type"), ("evaluation",), ("checkpoint_config",),
    ("log_config", "interval"), ("optimizer",), ("lr_config",),
)


def explain_rows(eff: Effective, contract: Contract, spans: SpanIndex, source: Source) -> list[tuple[str, str, str]]:
    """(key, value, where it comes from) for the settings that decide what runs; dicts one row per leaf."""
    rows: list[tuple[str, str, str]] = []
    settings_path = ("active_learning", "settings", contract.mode)
    defaults = contract.settings.model_dump()
    paths = [*((*settings_path, k) for k in defaults), *EXPLAINED]
    for path in paths:
        value = _get(eff.values, path)
        if value is _ABSENT:
            if path[:3] == settings_path:
                rows.append((".".join(path), _show(defaults[path[-1]]), "default"))
            continue
        for leaf, leaf_value in _leaves(path, value):
            rows.append((".".join(map(str, leaf)), _show(leaf_value), _where(eff.origin(leaf), spans, source)))
    return rows


def _leaves(path: tuple, value: Any):
    if isinstance(value, dict) and value and set(value) != {"value", "unit"}:  # a budget spec stays one value
        for k, v in value.items():
            yield from _leaves((*path, k), v)
    else:
        yield path, value


_ABSENT = object()


def _get(tree: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(tree, (list, tuple)) and part == "type" and tree and isinstance(tree[0], dict):
            return [t.get("type") for t in tree]
        if not isinstance(tree, dict) or part not in tree:
            return _ABSENT
        tree = tree[part]
    return tree


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _where(origin: Origin | tuple | None, spans: SpanIndex, source: Source) -> str:
    if isinstance(origin, Origin):
        return str(origin)
    if isinstance(origin, tuple):
        span = spans(origin) if origin else None
        return f"{source.path}:{span.line}" if span is not None else f"{source.path} (compiler)"
    return "default"
