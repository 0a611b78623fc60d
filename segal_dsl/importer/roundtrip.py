"""The import's own check: compile the .seg text back and compare with the legacy values. SEG609, SEG610."""

from __future__ import annotations

import os
from typing import Any

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.importer.read import RUNTIME_MODULE, read_assignments
from segal_dsl.source import Source

MISSING = object()
IGNORED_KEYS = {"segal_meta"}


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _top(key: str, value: Any) -> Any:
    """Spellings that mean the same to mmcv and the reference."""
    if key == "_base_":
        bases = [value] if isinstance(value, str) else list(value)
        return [os.path.normpath(b).replace(os.sep, "/") for b in bases]
    if key == "custom_imports" and isinstance(value, dict):
        imports = value.get("imports", [])
        return {**value, "imports": [i for i in ([imports] if isinstance(imports, str) else imports)
                                     if i != RUNTIME_MODULE]}
    return value


def config_differences(legacy: dict, compiled: dict) -> list[tuple[tuple, Any, Any]]:
    """(path, legacy value, compiled value or MISSING) for every legacy value that the compiled config lacks
    or changes. Keys only in the compiled config (defaults made explicit) are not differences. Lists and
    tuples are the same to mmcv, except in `workflow`, where the round tuples are the reference's syntax."""
    out: list[tuple[tuple, Any, Any]] = []

    def walk(old: Any, new: Any, path: tuple) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for k, v in old.items():
                if k not in new:
                    out.append(((*path, k), v, MISSING))
                else:
                    walk(v, new[k], (*path, k))
        elif (old != new) if path[0] == "workflow" else (_norm(old) != _norm(new)):
            out.append((path, old, new))

    for key, value in legacy.items():
        if key in IGNORED_KEYS:
            continue
        if key not in compiled:
            out.append(((key,), value, MISSING))
        else:
            walk(_top(key, value), _top(key, compiled[key]), (key,))
    return out


def evaluate_compiled(text: str, path: str = "<compiled>") -> dict:
    """The values of a compiled (literal-only) config, read with the import's own evaluator."""
    read = read_assignments(Source(path, text), Diagnostics())
    assert read is not None
    return {k: e.value for k, e in read[0].items()}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:49] + "…"


def check_round_trip(m, seg_text: str) -> str | None:
    """Check and compile the .seg text to the legacy file's location; report at the legacy lines."""
    from segal_dsl.api import compile_source

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
    compiled = evaluate_compiled(result.config)
    legacy = {k: e.value for k, e in m.k.items()}
    for path, old, new in config_differences(legacy, compiled):
        if any(path[: len(p)] == p for p in m.dropped):
            continue
        where = ".".join(map(str, path))
        message = (f"`{where}` is not in the compiled config" if new is MISSING
                   else f"`{where}` becomes `{_short(new)}` (legacy: `{_short(old)}`)")
        m.d.add("SEG610", message, m.span(*path), help="review the .seg file if the legacy value was the one you meant")
    return seg_text
