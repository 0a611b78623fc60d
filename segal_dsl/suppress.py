"""Which diagnostics a user chose not to see: `# segal: ignore[…]` comments and `--select`/`--ignore`.

Only warnings and notes can be silenced. An error means the file cannot compile, so it is always
reported: an ignore comment that names an error's code gets its own warning (SEG003) instead.
Codes are named by code (`SEG304`), by a prefix of one (`SEG3` = every schedule rule), or by slug
(`query-after-last-train`), the same everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segal_dsl.codes import CODES
from segal_dsl.diagnostics import Diagnostic, Diagnostics, Severity
from segal_dsl.source import Source, Span

SLUGS = {c.name: c.code for c in CODES.values()}

# `# segal: ignore[SEG304]` after a statement; `# segal: ignore-file[SEG304, SEG305]` anywhere.
DIRECTIVE = re.compile(r"#\s*segal:\s*(?P<kind>ignore-file|ignore)\s*(?:\[(?P<codes>[^\]]*)\])?")


def resolve_code(name: str) -> str | None:
    """`SEG304`, `seg304` or `query-after-last-train` -> "SEG304"; None when no rule has that name."""
    upper = name.strip().upper()
    if upper in CODES:
        return upper
    return SLUGS.get(name.strip().lower())


def matcher(names: list[str]) -> tuple[frozenset[str], list[str]]:
    """(the codes the names select, the names that select nothing). A prefix such as `SEG3` selects
    every code that starts with it."""
    codes: set[str] = set()
    unknown = []
    for name in names:
        code = resolve_code(name)
        if code:
            codes.add(code)
            continue
        prefix = name.strip().upper()
        found = {c for c in CODES if prefix and c.startswith(prefix)} if prefix.startswith("SEG") else set()
        if found:
            codes |= found
        else:
            unknown.append(name.strip())
    return frozenset(codes), unknown


def select(diags: list[Diagnostic], selected: frozenset[str] | None, ignored: frozenset[str]) -> list[Diagnostic]:
    """The diagnostics `--select`/`--ignore` leave; errors always stay."""
    def keep(d: Diagnostic) -> bool:
        if d.severity is Severity.ERROR:
            return True
        return (selected is None or d.code in selected) and d.code not in ignored

    return [d for d in diags if keep(d)]


@dataclass(frozen=True)
class Directive:
    """One `# segal: ignore[…]` comment: the line it silences (None: the whole file) and its codes."""

    line: int | None
    codes: frozenset[str]
    span: Span


def directives(source: Source, comments: list, diags: Diagnostics) -> list[Directive]:
    """Read the ignore comments among the file's comment tokens (a `#` inside a string is no comment).
    Unknown codes and a bracket-less `ignore` are reported (SEG002): a typo must not silence nothing
    without a word."""
    found = []
    for tok in comments:
        text = str(tok)
        m = DIRECTIVE.search(text)
        if m is None:
            continue
        start = tok.start_pos + m.start()
        span = source.span(start, tok.start_pos + m.end())
        if m.group("codes") is None:
            diags.add("SEG002", f"`# segal: {m.group('kind')}` names no code", span,
                      help=f"name what to silence: `# segal: {m.group('kind')}[SEG304]` (or its slug)")
            continue
        names = [p for p in m.group("codes").split(",") if p.strip()]
        codes, unknown = matcher(names)
        for name in unknown:
            diags.add("SEG002", f"`{name}` is not a diagnostic code", span,
                      help="use a code like `SEG304` or its slug (`segal explain --all` lists them)")
        own_line = not source.line(tok.line)[: tok.column - 1].strip()
        line = None if m.group("kind") == "ignore-file" else tok.line
        if line is not None and own_line:
            diags.add("SEG002", "`# segal: ignore[…]` silences the line it ends, and this line has no statement",
                      span, help="put it after the statement it is about, or use `# segal: ignore-file[…]`")
            continue
        found.append(Directive(line, codes, span))
    return found


def apply(diags: list[Diagnostic], found: list[Directive], out: Diagnostics) -> list[Diagnostic]:
    """`diags` less what the directives silence. A directive naming an error's code adds SEG003 to `out`."""
    kept = []
    for d in diags:
        hits = [x for x in found if d.code in x.codes and (d.span is None or d.span.path == x.span.path)
                and (x.line is None or _on_line(d, x.line))]
        if not hits:
            kept.append(d)
        elif d.severity is Severity.ERROR:
            kept.append(d)
            out.add("SEG003", f"an error cannot be ignored: `{d.code}` stops the file from compiling", hits[0].span,
                    help="fix the error; only warnings and notes can be silenced")
        # else: silenced
    return kept


def _on_line(d: Diagnostic, line: int) -> bool:
    """A diagnostic belongs to the line it starts on, or to its last line (a block's closing `}`)."""
    return d.span is not None and line in (d.span.line, d.span.end_line)
