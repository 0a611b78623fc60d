"""Render diagnostics as text (like ruff/rustc), concise lines, JSON, or GitHub Actions annotations."""

from __future__ import annotations

from segal_dsl.diagnostics import Diagnostic, Severity
from segal_dsl.source import Source

_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.NOTE: "36"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def render_text(diag: Diagnostic, source: Source | None, colour: bool = False) -> str:
    """The full form: header, location arrow, source line with the span underlined, help."""
    sev = diag.severity.value
    head = _paint(f"{sev}[{diag.code}]", "1;" + _COLOURS[diag.severity], colour) + f": {diag.message}"
    lines = [head]
    span = diag.span
    if span is None:
        if diag.help:
            lines.append(_paint("help", "1;36", colour) + f": {diag.help}")
        return "\n".join(lines)
    gutter = len(str(span.line + 0)) + 1
    pad = " " * gutter
    lines.append(f"{pad[:-1]}--> {span.path}:{span.line}:{span.column}")
    if source is not None and source.text:
        lines.append(f"{pad}|")
        if span.line > 1 and source.line(span.line - 1).strip():
            lines.append(f"{str(span.line - 1).rjust(gutter - 1)} | {clip(source.line(span.line - 1), 1)[0]}")
        text, column = clip(source.line(span.line), span.column)
        lines.append(f"{str(span.line).rjust(gutter - 1)} | {text}")
        end_col = span.end_column - (span.column - column) if span.end_line == span.line else len(text) + 1
        width = max(1, min(end_col, len(text) + 1) - column)
        # Tabs before the caret keep their width so the underline lines up.
        lead = "".join(ch if ch == "\t" else " " for ch in text[: column - 1])
        marks = _paint("^" * width, "1;" + _COLOURS[diag.severity], colour)
        lines.append(f"{pad}| {lead}{marks}" + (f" {diag.label}" if diag.label else ""))
        lines.append(f"{pad}|")
    for note_span, note in diag.notes:
        lines.append(f"{pad}= note: {note} ({note_span.path}:{note_span.line}:{note_span.column})")
    if diag.help:
        lines.append(_paint("help", "1;36", colour) + f": {diag.help}")
    return "\n".join(lines)


MAX_LINE = 120  # longer source lines are shown as a window around the span


def clip(text: str, column: int) -> tuple[str, int]:
    """(the line as shown, the span's column in it): a long line is cut to MAX_LINE characters around
    `column`, with `…` where text was left out."""
    if len(text) <= MAX_LINE:
        return text, column
    start = max(0, min(column - 1 - MAX_LINE // 3, len(text) - MAX_LINE))
    shown = text[start:start + MAX_LINE]
    head = "…" if start else ""
    tail = "…" if start + MAX_LINE < len(text) else ""
    return head + shown + tail, column - start + len(head)


def render_concise(diag: Diagnostic) -> str:
    where = f"{diag.span.path}:{diag.span.line}:{diag.span.column}: " if diag.span else ""
    return f"{where}{diag.severity.value}[{diag.code}] {diag.message}"


def to_json(diag: Diagnostic) -> dict:
    span = diag.span
    return {
        "code": diag.code,
        "name": diag.name,
        "severity": diag.severity.value,
        "message": diag.message,
        "path": span.path if span else None,
        "start": {"line": span.line, "column": span.column} if span else None,
        "end": {"line": span.end_line, "column": span.end_column} if span else None,
        "label": diag.label,
        "help": diag.help,
    }


def render_json(diags: list[Diagnostic]) -> str:
    import json  # only here: a cached `check` prints text and must not pay for the import

    return json.dumps([to_json(d) for d in diags], indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diag: Diagnostic) -> str:
    """A GitHub Actions workflow command (`::error file=…,line=…::message`)."""
    kind = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}[diag.severity]
    props = [f"title={_gh_escape(f'{diag.code} {diag.name}', True)}"]
    if diag.span:
        s = diag.span
        props = [f"file={_gh_escape(s.path, True)}", f"line={s.line}", f"col={s.column}",
                 f"endLine={s.end_line}", f"endColumn={s.end_column}"] + props
    message = diag.message + (f" (help: {diag.help})" if diag.help else "")
    return f"::{kind} {','.join(props)}::{_gh_escape(message)}"
