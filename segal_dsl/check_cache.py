"""The results of `segal check`, kept between runs (as ruff keeps its own): an unchanged file is not analysed again.

An entry is keyed by everything that decides the result: the file's bytes, its absolute path and the
working directory (relative `extends`/`base` paths resolve from them), and the tool itself (a digest of
the package's files, so an upgrade or an edited checkout never serves an old answer). It stores every
file the analysis read (parents, bases) with the hash of its bytes; a changed dependency is a miss.
A result that depended on a file that could not be read (SEG222, SEG215) is not stored, since that file
may appear later. The hit path imports neither lark nor the models: that is the point of the cache.

SEGAL_NO_CACHE=1 (or `segal check --no-cache`) turns it off; entries are written atomically.
"""

from __future__ import annotations

import marshal
import os
import sys
from functools import cache
from pathlib import Path

try:  # hashlib's own BLAKE2 without importing `hashlib`, which loads OpenSSL: ~3 ms of a cache hit's start-up
    from _blake2 import blake2b
except ImportError:  # not CPython
    from hashlib import blake2b

from segal_dsl import __version__
from segal_dsl.diagnostics import Diagnostic, Severity
from segal_dsl.source import Source, Span, decode
from segal_dsl.values import Value

FORMAT = 2  # bump when the entry layout changes (2: marshal, not JSON: `json` costs the hit path ~3 ms)
PACKAGE = Path(__file__).resolve().parent
UNCACHEABLE = frozenset({"SEG001", "SEG215", "SEG900"})  # results that depend on what could not be read


class Cached(Value):
    """A stored result, shaped like `api.Result` for what `segal check` prints: the file's `source`, its
    `diagnostics`, every file they point into (`sources`) and, always empty here, `bases_unread`."""

    __slots__ = ("source", "diagnostics", "sources", "bases_unread")
    source: Source
    diagnostics: list[Diagnostic]
    sources: dict[str, Source]
    bases_unread: list[str]


def directory() -> Path | None:
    if os.environ.get("SEGAL_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "segal-dsl" / "check"


@cache
def tool_digest() -> str:
    """The package as it is installed: version, and the size and mtime of every file of it."""
    h = blake2b(f"{FORMAT} {__version__} {sys.version}".encode(), digest_size=32)  # marshal's format is Python's
    stack = [str(PACKAGE)]
    rows = []
    while stack:  # os.scandir: the directory entries carry what stat() would fetch again
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir():
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".lark", ".j2")):
                    st = entry.stat()
                    rows.append(f"{entry.path} {st.st_size} {st.st_mtime_ns}\n")
    h.update("".join(sorted(rows)).encode())
    return h.hexdigest()


def _key(path: str, data: bytes) -> str:
    h = blake2b(f"{tool_digest()}\0{os.path.abspath(path)}\0{os.getcwd()}\0".encode(), digest_size=32)
    h.update(data)
    return h.hexdigest()


def _digest(path: str) -> str | None:
    try:
        return blake2b(Path(path).read_bytes(), digest_size=32).hexdigest()
    except (OSError, ValueError):
        return None


def load(path: str) -> Cached | None:
    """The stored result of `path` as it is now, or None (a miss: no entry, a changed dependency, off)."""
    where = directory()
    if where is None:
        return None
    try:
        data = Path(path).read_bytes()
        entry = marshal.loads((where / _key(path, data)).read_bytes())
        text = decode(data)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or any(_digest(p) != d for p, d in entry["deps"].items()):
        return None
    sources = {path: Source(path, text)}
    for p in entry["deps"]:
        try:
            sources[p] = Source(p, decode(Path(p).read_bytes()))
        except (OSError, ValueError):
            return None
    diagnostics = [_diagnostic(d) for d in entry["diagnostics"]]
    return Cached(sources[path], diagnostics, sources, [])


def store(path: str, result) -> None:
    """Keep `result` (an `api.Result` of `path`) for the next run; silently nothing when it cannot be."""
    where = directory()
    if where is None or path == "-" or result.bases_unread or any(d.code in UNCACHEABLE for d in result.diagnostics):
        return
    deps = {}
    for p in {*result.bases, *(s.path for s in result.parents)}:
        digest = _digest(p)
        if digest is None:
            return
        deps[p] = digest
    try:
        data = Path(path).read_bytes()
        if decode(data) != result.source.text:
            return  # changed while it was being checked
        entry = {"format": FORMAT, "deps": deps, "diagnostics": [_encode(d) for d in result.diagnostics]}
        import tempfile

        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".entry-")
        with os.fdopen(fd, "wb") as fh:
            marshal.dump(entry, fh)
        os.replace(tmp, where / _key(path, data))
    except (OSError, ValueError):
        return


def _span(span: Span | None) -> list | None:
    return None if span is None else [span.path, span.line, span.column, span.end_line, span.end_column,
                                      span.start, span.end]


def _encode(d: Diagnostic) -> dict:
    return {"code": d.code, "severity": d.severity.value, "message": d.message, "span": _span(d.span),
            "label": d.label, "help": d.help, "notes": [[_span(s), text] for s, text in d.notes]}


def _diagnostic(e: dict) -> Diagnostic:
    def span(v):
        return None if v is None else Span(*v)

    return Diagnostic(e["code"], Severity(e["severity"]), e["message"], span(e["span"]), e["label"], e["help"],
                      tuple((span(s), text) for s, text in e["notes"]))
