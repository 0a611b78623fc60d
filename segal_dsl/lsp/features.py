"""What the language server answers, as lsprotocol types: diagnostics, hover, completion, formatting and
go to definition. The server (server.py) only wires these to pygls.

Diagnostics are `segal check`'s (api.analyse on the buffer, named by the file's path so that `extends`
and `base` resolve); meanings come from frontend/language.py and codes.py; formatting is `segal fmt`'s.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable
from urllib.parse import unquote, urlparse
from urllib.request import pathname2url

from lsprotocol import types

from segal_dsl.codes import CODES, explain
from segal_dsl.diagnostics import Diagnostic, Severity
from segal_dsl.frontend import language
from segal_dsl.lsp.scan import Cursor, Token, cursor, tokens
from segal_dsl.source import Source, Span

SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error, Severity.WARNING: types.DiagnosticSeverity.Warning,
            Severity.NOTE: types.DiagnosticSeverity.Information}
CODE = re.compile(r"SEG\d{3}")
PATH_KEYS = ("extends", "base")  # statements whose strings name files, relative to the .seg file


def uri_of(path: str) -> str:
    return "file://" + pathname2url(os.path.abspath(path))


def path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


class Lines:
    """Offsets <-> LSP positions: lines end at `\\n`, `\\r\\n` or `\\r` (as LSP counts them), columns in the
    client's code units (`units`: UTF-16 unless the client chose otherwise)."""

    def __init__(self, text: str, units: Callable[[str], int]):
        self.text = text
        self.units = units
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def position(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return types.Position(line, self.units(self.text[self.starts[line]:offset]))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(self.position(start), self.position(end))

    def offset(self, position: types.Position) -> int:
        if position.line >= len(self.starts):
            return len(self.text)
        start = self.starts[position.line]
        stop = self.starts[position.line + 1] if position.line + 1 < len(self.starts) else len(self.text)
        used = 0
        for i in range(start, stop):
            if used >= position.character or self.text[i] in "\r\n":
                return i
            used += self.units(self.text[i])
        return stop


# ---- diagnostics ---------------------------------------------------------------------------------------
def diagnose(path: str, text: str, units: Callable[[str], int]) -> tuple[list[types.Diagnostic], list]:
    """`segal check` of the buffer as if saved at `path`: LSP diagnostics, and (offsets, code) pairs for hover."""
    from segal_dsl.api import analyse

    result = analyse(Source(path, text))
    lines = Lines(text, units)
    sources = result.sources
    out, spans = [], []
    for d in result.diagnostics:
        start, end = _where(d, path, text)
        out.append(_lsp_diagnostic(d, lines.range(start, end), path, sources, units))
        spans.append((start, end, d.code))
    if result.bases_unread:
        start, end = _statement(text, "base")
        code = CODES["SEG222"]
        out.append(types.Diagnostic(lines.range(start, end), f"{code.summary} ({result.bases_unread[0]})",
                                    types.DiagnosticSeverity.Information, code.code, source="segal"))
        spans.append((start, end, code.code))
    return out, spans


def _where(d: Diagnostic, path: str, text: str) -> tuple[int, int]:
    """The offsets a diagnostic marks in this buffer; one about another file (a parent, a base) marks the
    statement that brings that file in."""
    if d.span is not None and d.span.path == path:
        return d.span.start, d.span.end
    if d.span is None:
        return 0, 0
    key = "base" if d.span.path.endswith(".py") else "extends"
    return _statement(text, key)


def _statement(text: str, key: str) -> tuple[int, int]:
    toks = tokens(text)
    for i, t in enumerate(toks):
        if t.kind == "word" and t.text == key and (i == 0 or toks[i - 1].kind in ("sep", "punct")):
            return t.start, t.end
    return 0, 0


def _lsp_diagnostic(d: Diagnostic, where: types.Range, path: str, sources: dict, units) -> types.Diagnostic:
    message = d.message + (f": {d.label}" if d.label else "") + (f"\nhelp: {d.help}" if d.help else "")
    related = []
    spans = [(d.span, "reported here")] if d.span is not None and d.span.path != path else []
    for span, note in [*spans, *d.notes]:
        if span is not None:
            related.append(types.DiagnosticRelatedInformation(_location(span, sources, units), note))
    if spans:
        message = f"{os.path.basename(d.span.path)}:{d.span.line}:{d.span.column}: {message}"
    return types.Diagnostic(where, message, SEVERITY[d.severity], d.code, source="segal",
                            related_information=related or None)


def _location(span: Span, sources: dict, units) -> types.Location:
    source = sources.get(span.path)
    lines = Lines(source.text if source is not None else "", units)
    return types.Location(uri_of(span.path), lines.range(span.start, span.end))


# ---- hover ---------------------------------------------------------------------------------------------
def hover(text: str, offset: int, found: list, lines: Lines) -> types.Hover | None:
    """What the key or word under the cursor means; over a diagnostic, `segal explain` of its code first."""
    parts = [_explained(code) for code in dict.fromkeys(c for s, e, c in found if s <= offset <= max(e, s + 1))]
    cur = cursor(text, offset, hover=True)
    tok = cur.token
    if tok is not None and tok.kind in ("comment", "word"):
        named = next((m.group() for m in CODE.finditer(tok.text) if m.start() <= offset - tok.start <= m.end()), None)
        if named in CODES:
            parts.append(_explained(named))
    if tok is not None and tok.kind == "word":
        meaning = _meaning(cur, tok)
        if meaning:
            parts.append(meaning)
    if not parts:
        return None
    where = lines.range(tok.start, tok.end) if tok is not None else None
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, "\n\n---\n\n".join(parts)), where)


def _explained(code: str) -> str:
    return "```text\n" + explain(code) + "\n```"


def _block(cur: Cursor) -> tuple[str | None, tuple[str, ...]]:
    """The language block the cursor is in (`sample`, `heuristic ripu`, …) and the words that opened it."""
    frames = cur.blocks
    if not frames or frames[0].key != "experiment":
        return None, ()
    name, words = "experiment", ()
    for f in frames[1:]:
        inner = language.block_of(name, f.key, f.words)
        if inner is None or name == "mmseg":
            return None, ()
        name, words = inner, f.words
    return name, words


def _key_text(key: language.Key, block: str) -> str:
    head = f"**`{key.name}`**" + (f" ({block})" if block != "experiment" else "") + (f": {key.doc}" if key.doc else "")
    facts = [f"value: {key.value}"] if key.value else []
    if key.default:
        facts.append(f"default: `{key.default}` (unless a base file sets it)")
    if key.modes and block in ("sample", "sweep") or key.modes and block.startswith("heuristic"):
        facts.append("modes: " + ", ".join(f"`{md}`" for md in key.modes))
    if key.runner:
        facts.append(f"needs `runner {key.runner}`")
    if key.compiled:
        facts.append(f"compiled to `{key.compiled}`")
    if key.required:
        facts.append("required")
    words = [f"- `{w.text}`" + (f": {w.doc}" if w.doc else "") for w in key.words if w.doc]
    return "\n\n".join([head, " · ".join(facts), *(["\n".join(words)] if words else [])])


def _meaning(cur: Cursor, tok: Token) -> str | None:
    if not cur.frames and tok.text == "experiment":
        return f"**`experiment`**: {language.blocks()['experiment'].doc}"
    block, words = _block(cur)
    if block is None:
        return None
    keys = {k.name: k for k in language.keys_in(block, words)} or language.blocks()[block].keys
    if not cur.before:
        key = keys.get(tok.text) or language.blocks()[block].keys.get(tok.text)
        return _key_text(key, block) if key is not None else None
    key = keys.get(cur.before[0].text)
    if key is None:
        return None
    for w in (*key.words, *key.units):
        if w.text.split()[0] == tok.text and w.doc:
            text = f"**`{w.text}`** ({key.name}): {w.doc}"
            if block == "experiment" and key.name == "heuristic":
                params = language.keys_in(f"heuristic {tok.text}")
                text += "\n\n" + ("parameters: " + ", ".join(f"`{p.name}`" for p in params) if params else
                                  "no parameters")
            return text
    return _key_text(key, block)


# ---- completion ----------------------------------------------------------------------------------------
def complete(text: str, offset: int, lines: Lines, after_space: bool = False) -> list[types.CompletionItem]:
    """Keys valid at the cursor (less those its block sets already), or the words its key takes. A space
    typed (`after_space`) asks for the words after a key only: indenting a line lists nothing."""
    cur = cursor(text, offset)
    tok = cur.token
    if tok is not None and tok.kind not in ("word", "number"):
        return []
    typing = tok is not None and tok.kind == "word"
    where = lines.range(tok.start, offset) if typing else lines.range(offset, offset)
    before = cur.before + ((tok,) if tok is not None and tok.kind == "number" else ())
    if not cur.blocks:
        return [_item("experiment", "the whole file: `experiment NAME { … }`", types.CompletionItemKind.Keyword,
                      where)] if not before else []
    block, words = _block(cur)
    if block is None:
        return []
    keys = language.keys_in(block, words)
    if not before:
        if after_space:
            return []
        has_extends = re.search(r"(?m)^\s*extends\b", text) is not None
        return [_item(k.name, k.doc, types.CompletionItemKind.Property, where, k.value) for k in keys
                if k.name not in cur.siblings and (k.name != "delete" or has_extends)]
    key = next((k for k in keys if k.name == before[0].text), None)
    if key is None:
        return []
    args = before[1:]
    if key.name == "delete":
        return [_item(k.name, k.doc, types.CompletionItemKind.Property, where) for k in keys if k.name != "delete"]
    if not args and key.words:
        return [_item(w.text, w.doc, types.CompletionItemKind.EnumMember, where) for w in key.words]
    if block == "sweep" or (block == "experiment" and key.name == "heuristic" and not args):
        return [_item(w.text, w.doc, types.CompletionItemKind.EnumMember, where) for w in key.words]
    if key.name == "threshold" and not args:
        return [_item("top", "the top T% of the scores", types.CompletionItemKind.Keyword, where)]
    if key.units and args and args[-1].kind == "number":
        percent = args[-1].text.endswith("%")
        units = [u for u in key.units if u.text.startswith("%") == percent]
        if percent:  # `1%` already carries the `%`: what may follow is `per image` or nothing
            units = [language.Word(u.text[1:].strip(), u.doc) for u in units if u.text[1:].strip()]
        return [_item(u.text, u.doc, types.CompletionItemKind.Unit, where) for u in units]
    return []


def _item(label: str, doc: str, kind: types.CompletionItemKind, where: types.Range,
          detail: str | None = None) -> types.CompletionItem:
    return types.CompletionItem(label, kind=kind, detail=detail,
                                documentation=types.MarkupContent(types.MarkupKind.Markdown, doc) if doc else None,
                                text_edit=types.TextEdit(where, label))


# ---- formatting and definition -------------------------------------------------------------------------
def formatting(path: str, text: str, lines: Lines) -> list[types.TextEdit] | None:
    """`segal fmt` of the buffer as one edit of the whole text; None when it does not parse."""
    from segal_dsl.diagnostics import Diagnostics
    from segal_dsl.frontend.fmt import format_source

    formatted = format_source(Source(path, text), Diagnostics())
    if formatted is None:
        return None
    if formatted == text:
        return []
    return [types.TextEdit(lines.range(0, len(text)), formatted)]


def definition(path: str, text: str, offset: int) -> types.Location | None:
    """The file an `extends "…"` or `base "…"` string names (relative to this file), when it exists."""
    from segal_dsl.frontend.build import unescape

    cur = cursor(text, offset, hover=True)
    tok = cur.token
    if tok is None or tok.kind != "string" or not cur.before or cur.before[0].text not in PATH_KEYS:
        return None
    if not cur.blocks or len(cur.blocks) != 1:
        return None
    written = unescape(tok.text[1:-1]) if len(tok.text) > 1 and tok.text[-1] == tok.text[0] else tok.text[1:]
    # As inherit.py (`extends`) and bases.py (`base`) resolve them: against the folder of the .seg file.
    target = os.path.normpath(os.path.join(os.path.dirname(path), written))
    if not os.path.isfile(target):
        return None
    return types.Location(uri_of(target), types.Range(types.Position(0, 0), types.Position(0, 0)))
