"""A config file with its `_base_` files merged in as mmcv 1.x merges them, read as data, with provenance.

What mmcv's `Config.fromfile` does (docs/reference.md §12), done on evaluated ASTs instead of executed
modules: `_base_` (a path or a list) is resolved against the folder of the file that names it, recursively;
the bases' keys are combined and a key defined by two bases is an error; the file's own values are merged
into the result key by key, dicts recursively (a dict with `_delete_=True` replaces instead), everything
else replaced; `{{_base_.x}}` references take the bases' value of `x`; `{{fileDirname}}` & co. are the
file's own names. Nothing is executed and nothing is imported (`custom_imports` stays data).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any

from segal_dsl.diagnostics import Diagnostic, Diagnostics, Severity
from segal_dsl.pyconfig.evaluate import UNKNOWN, Module, read_module
from segal_dsl.source import Source

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
_BASE_VAR = re.compile(r"\{\{\s*_base_\.([\w.]+)\s*\}\}")
_MAX_DEPTH = 32  # deeper `_base_` chains are cycles in practice


@dataclass(frozen=True)
class Origin:
    """Where a value of the merged config was written: a file and a 1-based line and column."""

    path: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Loaded:
    """A config as mmcv would build it from the file and its bases, plus where each value came from.

    `values` holds UNKNOWN where a value could not be evaluated; `problems` says why (a missing or
    unreadable base, a construct the evaluator refuses, a key two bases define); `diagnostics` are the
    evaluator's own, against the file they are in.
    """

    values: dict[str, Any]
    origins: dict[tuple, Origin] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)  # files looked for that could not be read
    problems: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.problems


class LoadError(Exception):
    """A config that mmcv itself could not load (a duplicate key among bases, a dict over a non-dict)."""


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def rebase(path: str, from_dir: str, to_dir: str) -> str:
    """A `_base_` path written relative to `from_dir` (mmcv resolves `_base_` against the folder of the file
    that names it), re-expressed relative to `to_dir`, with `/` separators; absolute paths stay."""
    if os.path.isabs(path):
        return path
    return os.path.relpath(os.path.normpath(os.path.join(from_dir, path)), to_dir or ".").replace(os.sep, "/")


def load(path: str, text: str | None = None) -> Loaded:
    """Load `path` (or `text` as if it were at `path`) with every base merged; never raises for bad input."""
    out = Loaded({})
    try:
        values, origins = _load(path, text, out, depth=0, chain=())
    except LoadError as err:
        out.problems.append(str(err))
        return out
    out.values, out.origins = values, origins
    return out


# Base files read in this process, by (path as given, absolute path, mtime, size): `segal check` of many files that share
# their bases reads each base once. Entries are never mutated (merges copy the dicts they change).
_CACHE: dict[tuple, tuple[dict, dict, list[str], dict[str, Source], list[str], list[Diagnostic]]] = {}


def _load(path: str, text: str | None, out: Loaded, depth: int, chain: tuple[str, ...]):
    norm = os.path.normpath(path)
    if depth > _MAX_DEPTH or os.path.abspath(norm) in chain:
        raise LoadError(f"`_base_` of {chain[-1] if chain else norm} comes back to {norm}")
    key = _cache_key(norm) if text is None else None
    if key is not None and key in _CACHE:
        values, origins, files, sources, problems, diagnostics = _CACHE[key]
        out.files += files
        out.sources.update(sources)
        out.problems += problems
        out.diagnostics += diagnostics
        return values, origins
    before = (len(out.files), len(out.problems), len(out.diagnostics), set(out.sources))
    values, origins = _load_uncached(norm, text, out, depth, chain)
    if key is not None:
        _CACHE[key] = (values, origins, out.files[before[0]:], {k: v for k, v in out.sources.items()
                                                                if k not in before[3]},
                       out.problems[before[1]:], out.diagnostics[before[2]:])
    return values, origins


def _cache_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, os.path.abspath(path), st.st_mtime_ns, st.st_size)  # the path as given: origins show it


def _load_uncached(norm: str, text: str | None, out: Loaded, depth: int, chain: tuple[str, ...]):
    if text is None:
        try:
            text = read_text(norm)
        except (OSError, UnicodeDecodeError, ValueError) as err:
            reason = "not found" if isinstance(err, FileNotFoundError) else getattr(err, "strerror", None) or str(err)
            out.tried.append(norm)
            raise LoadError(f"base file {norm}: {reason}") from None
    out.files.append(norm)
    text, placeholders = _substitute_names(norm, text)
    source = Source(norm, text)
    out.sources[norm] = source
    diags = Diagnostics()
    module = read_module(source, diags, env={p: p for p in placeholders})
    out.diagnostics.extend(d for d in diags if d.severity is Severity.ERROR)
    if module is None:
        raise LoadError(f"{norm} is not valid Python")
    for d in diags:
        if d.severity is Severity.ERROR:
            out.problems.append(f"{d.span.path}:{d.span.line}: {d.message}" if d.span else d.message)
    values = module.values()
    origins = _origins(module, norm)
    if BASE_KEY not in values:
        _check_placeholders(values, placeholders, norm)
        return values, origins
    bases = values.pop(BASE_KEY)
    origins = {k: v for k, v in origins.items() if k[0] != BASE_KEY}
    if bases is UNKNOWN:
        raise LoadError(f"{norm}: `_base_` could not be read")
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise LoadError(f"{norm}: `_base_` must be a path or a list of paths")
    merged: dict[str, Any] = {}
    merged_origins: dict[tuple, Origin] = {}
    here = os.path.dirname(norm)
    for base in bases:
        base_values, base_origins = _load(os.path.join(here, base), None, out, depth + 1,
                                          chain + (os.path.abspath(norm),))
        duplicate = sorted(set(merged) & set(base_values))
        if duplicate:
            raise LoadError(f"{os.path.normpath(os.path.join(here, base))}: keys defined by another base of "
                            f"{norm} too (mmcv refuses duplicate keys among bases): {', '.join(duplicate)}")
        merged.update(base_values)
        merged_origins.update(base_origins)
    values = _resolve_placeholders(values, placeholders, merged, norm)
    return merge_into(values, merged, origins, merged_origins, norm)


def _substitute_names(path: str, text: str) -> tuple[str, dict[str, str]]:
    """mmcv's text substitutions: `{{fileDirname}}` & co., and `{{_base_.x}}` -> a placeholder name."""
    absolute = os.path.abspath(path)
    names = {"fileDirname": os.path.dirname(absolute), "fileBasename": os.path.basename(absolute),
             "fileBasenameNoExtension": os.path.splitext(os.path.basename(absolute))[0],
             "fileExtname": os.path.splitext(absolute)[1]}
    for key, value in names.items():
        text = re.sub(r"\{\{\s*" + key + r"\s*\}\}", value.replace("\\", "/"), text)
    placeholders: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        name = f"_segal_base_{len(placeholders)}_"
        placeholders[name] = match.group(1)
        return name  # a bare name, bound to itself by read_module: a string mmcv would also see

    return _BASE_VAR.sub(replace, text), placeholders


def _resolve_placeholders(value: Any, placeholders: dict[str, str], bases: dict, path: str) -> Any:
    if isinstance(value, str) and value in placeholders:
        node: Any = bases
        for part in placeholders[value].split("."):
            if not isinstance(node, dict) or part not in node:
                raise LoadError(f"{path}: `{{{{_base_.{placeholders[value]}}}}}` names nothing in its bases")
            node = node[part]
        return node
    if isinstance(value, dict):
        return {k: _resolve_placeholders(v, placeholders, bases, path) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve_placeholders(v, placeholders, bases, path) for v in value)
    return value


def _check_placeholders(values: dict, placeholders: dict[str, str], path: str) -> None:
    if placeholders:
        raise LoadError(f"{path}: `{{{{_base_.…}}}}` in a file without `_base_`")


def merge_into(child: dict, base: dict, child_origins: dict[tuple, Origin] | None = None,
               base_origins: dict[tuple, Origin] | None = None, where: str = "the config") -> tuple[dict, dict]:
    """mmcv's `Config._merge_a_into_b(child, base)`, with the origins of every key carried along: a value the
    child sets takes the child's origin (its own, or that of the nearest enclosing key the child wrote)."""
    origins = dict(base_origins or {})
    child_origins = child_origins or {}

    def child_origin(path: tuple):
        while path:
            if path in child_origins:
                return child_origins[path]
            path = path[:-1]
        return None

    def merge(a: dict, b: dict, path: tuple) -> dict:
        b = dict(b)
        for k, v in a.items():
            key_path = (*path, k)
            if isinstance(v, dict):
                v = dict(v)
                delete = v.pop(DELETE_KEY, False) if k in b else False
                if k in b and not delete:
                    if not isinstance(b[k], dict):
                        raise LoadError(f"{where}: `{'.'.join(map(str, key_path))}` is a dict but a base sets it "
                                        f"to a {type(b[k]).__name__} (mmcv needs `_delete_=True` to replace it)")
                    b[k] = merge(v, b[k], key_path)
                    continue
            if isinstance(b.get(k), (dict, list, tuple)):  # a replaced container: forget its inner origins
                _drop(origins, key_path)
            else:
                origins.pop(key_path, None)
            b[k] = v
            own = child_origin(key_path)
            if own is not None:
                origins[key_path] = own
            if isinstance(v, (dict, list, tuple)):  # only a container has origins below it
                origins.update({p: o for p, o in child_origins.items() if p[:len(key_path)] == key_path})
        return b

    return merge(child, base, ()), origins


def _drop(origins: dict[tuple, Origin], prefix: tuple) -> None:
    """Forget the origins at and below `prefix` (a key's descendants are recorded only with the key itself)."""
    if prefix not in origins:
        return
    for p in [p for p in origins if p[:len(prefix)] == prefix]:
        del origins[p]


def _origins(module: Module, path: str) -> dict[tuple, Origin]:
    """Key path -> the place its value is written, walking `dict(...)` / `{...}` / list nodes."""
    out: dict[tuple, Origin] = {}

    def at(node: ast.AST) -> Origin:
        span = module.evaluator.span(node)
        return Origin(path, span.line, span.column)

    def walk(node: ast.AST, value: Any, key_path: tuple) -> None:
        if isinstance(value, dict):
            for k, child in _children(node):
                if k in value:
                    out[(*key_path, k)] = at(child)
                    walk(child, value[k], (*key_path, k))
        elif isinstance(value, (list, tuple)) and isinstance(node, (ast.List, ast.Tuple)) \
                and len(node.elts) == len(value):
            for i, (child, item) in enumerate(zip(node.elts, value)):
                out[(*key_path, i)] = at(child)
                walk(child, item, (*key_path, i))

    for name, entry in module.entries.items():
        out[(name,)] = at(entry.target)
        walk(entry.node, entry.value, (name,))
    return out


def _children(node: ast.AST):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return [(kw.arg, kw.value) for kw in node.keywords if kw.arg is not None]
    if isinstance(node, ast.Dict):
        return [(k.value, v) for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)]
    return []
