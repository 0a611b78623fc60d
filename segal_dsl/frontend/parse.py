"""Source text -> lark parse tree. Emits SEG1xx; expected tokens are named in plain words."""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.source import Source

MAX_ERRORS = 20

# What users see instead of terminal names. Anonymous keyword terminals are shown as `keyword`.
_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "PERCENT": "a percentage like `5%`",
    "STRING": "a string in quotes",
    "DIMS": "a size like `1280x640`",
    "REPEAT": "a repeat count like `x4`",
    "COMMA": "`,`",
    "_SEP": "a line break or `;`",
    "$END": "the end of the file",
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process (grammar shipped as package data)."""
    text = resources.files("segal_dsl").joinpath("grammars/segal.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False, cache=_cache_file(text),
                lexer_callbacks={"COMMENT": _collect_comment, "COMMA": _collect_comma_comments})


def _cache_file(grammar: str) -> str | bool:
    """Where lark keeps the built LALR tables between processes: building them is ~0.6 s of every start-up
    (benchmarks/README.md). A user-owned directory, not lark's default in /tmp, because the cache is a
    pickle; lark checks the grammar's hash stored inside and rebuilds on a mismatch or a broken file.
    SEGAL_NO_PARSER_CACHE=1, or a directory that cannot be created, turns it off."""
    if os.environ.get("SEGAL_NO_PARSER_CACHE"):
        return False
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "segal-dsl")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return False
    # Named by the grammar's hash: checkouts with different grammars do not overwrite each other's tables.
    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    return os.path.join(directory, f"grammar-{digest}.lark-cache")


# Comments are ignored by the grammar; `segal fmt` still needs them, so the lexer hands them here.
_comment_sink: list[list[Token]] = []


def _collect_comment(token: Token) -> Token:
    if _comment_sink:
        _comment_sink[-1].append(token)
    return token


_COMMENT_IN_COMMA = re.compile(r"#[^\n]*")


def _collect_comma_comments(token: Token) -> Token:
    """A COMMA swallows the line breaks after it, and the comments between them (so that a list goes on
    after `,  # note`): hand those comments on as COMMENT tokens at their own positions."""
    if _comment_sink and "#" in token:
        for m in _COMMENT_IN_COMMA.finditer(token):
            before = token[: m.start()]
            breaks = before.count("\n")
            column = m.start() - before.rfind("\n") if breaks else token.column + m.start()
            start = token.start_pos + m.start()
            _comment_sink[-1].append(Token("COMMENT", m.group(), start, token.line + breaks, column,
                                           token.line + breaks, column + len(m.group()), start + len(m.group())))
    return token


def describe_terminal(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


# Keywords the grammar also takes as names (a setting or override key): "a name" already says it.
_NAME_KEYWORDS = {"TRAIN", "QUERY", "WARMUP", "EXPERIMENT", "DICT"}


def describe_expected(expected) -> str:
    if "NAME" in expected:
        expected = set(expected) - _NAME_KEYWORDS
    words = sorted({describe_terminal(t) for t in expected})
    # Keep messages short: punctuation and keywords first, then the classes of tokens.
    if len(words) > 8:
        words = words[:8] + ["…"]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _token_text(token: Token, article: bool = True) -> str:
    if token.type == "$END":
        return "the end of the file" if article else "end of the file"
    if token.type == "_SEP":
        return ("a line break" if article else "line break") if "\n" in token else "`;`"
    return f"`{token}`"


def parse(source: Source, diags: Diagnostics, comments: list[Token] | None = None) -> Tree | None:
    """Parse a whole file; on syntax errors record SEG1xx diagnostics and return None.
    With `comments`, the file's comment tokens are appended to it (for `segal fmt`)."""
    _comment_sink.append(comments if comments is not None else [])
    start = len(diags.items)
    try:
        tree = _parse(source, diags)
    finally:
        _comment_sink.pop()
    if tree is None and source.path.endswith(".py"):  # a legacy mmseg config given to check/plan/compile
        del diags.items[start:]
        diags.add("SEG100", "this is a Python config, not a .seg file", source.whole(), label="a legacy config?",
                  help=f"convert it first: `segal import {source.path} -o {source.path[:-3]}.seg`")
    return tree


@dataclass(frozen=True)
class Recovered:
    """A file with syntax errors, its broken lines blanked (offsets kept), parsed: what the statements
    that did parse say can still be checked."""

    source: Source
    tree: Tree
    blanked: frozenset[int]  # the 1-based lines that were blanked


def recover(source: Source, diags: Diagnostics, passes: int = MAX_ERRORS) -> Recovered | None:
    """Blank each line with a syntax error and parse again, a few times; syntax errors found on other
    lines on the way are reported too (the first pass stops at a bad character). None when a blanked
    line would unbalance the brackets, or the file does not parse after `passes` rounds."""
    if source.path.endswith(".py"):
        return None  # not a .seg file at all (parse said so once)
    errors = [d for d in diags.items if d.code.startswith("SEG1") and d.span is not None]
    text, blanked = source.text, set()
    for _ in range(passes):
        if not errors or any(d.code in ("SEG102", "SEG105") for d in errors):
            return None
        for line in sorted({d.span.line for d in errors} - blanked):
            text = _blank_line(text, source, line)
            if text is None:
                return None
            blanked.add(line)
        patched = Source(source.path, text)
        more = Diagnostics()
        tree = _parse(patched, more)
        if tree is not None:
            return Recovered(patched, tree, frozenset(blanked))
        errors = [d for d in more if d.span is not None and d.span.line not in blanked]
        diags.extend(errors)
    return None


def _blank_line(text: str, source: Source, line: int) -> str | None:
    """`text` with line `line` replaced by spaces (same length), or None when its brackets do not balance."""
    start = source.line_starts[line - 1] if line <= len(source.line_starts) else len(text)
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    depth = 0
    for m in _BRACKETS.finditer(text[start:end]):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(m.group(), 0)
        if depth < 0:
            return None
    if depth:
        return None
    return text[:start] + " " * (end - start) + text[end:]


MAX_DEPTH = 64  # brackets, braces and groups nested deeper than this are refused (SEG105) before parsing

# What can hold a bracket that is not one: strings (closed or not) and comments are skipped whole.
_BRACKETS = re.compile(r"\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"?|'[^'\\\n]*(?:\\.[^'\\\n]*)*'?|#[^\n]*|[\[\](){}]")


def too_deep(source: Source, diags: Diagnostics) -> bool:
    """SEG105 at the first bracket nested more than MAX_DEPTH deep. Checked in one linear scan before
    parsing, so no later stage (tree building, validation, fmt) meets a nesting that exhausts the stack."""
    depth = 0
    for m in _BRACKETS.finditer(source.text):
        ch = m.group()
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                diags.add("SEG105", f"brackets are nested more than {MAX_DEPTH} levels deep", source.span(m.start(), m.end()),
                          label=f"level {depth}", help="flatten the nesting: a real config nests a few levels")
                return True
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return False


def unclosed_opener(text: str) -> tuple[int, int | None] | None:
    """(offset of the bracket that is never closed, offset of the closer that was probably meant for an
    outer block), or None when every bracket is closed. The closer's indentation tells: a `}` that starts
    its line at the indentation of an outer opener's line closes that one, so the inner one is the culprit."""
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def indent(offset: int) -> tuple[int, bool]:
        """(indentation of offset's line, whether the offset is the line's first non-blank character)."""
        start = line_starts[bisect.bisect_right(line_starts, offset) - 1]
        lead = len(text[start:offset]) - len(text[start:offset].lstrip(" \t"))
        return len(text[start:]) - len(text[start:].lstrip(" \t")), lead == offset - start

    stack: list[int] = []
    suspect: tuple[int, int] | None = None
    for m in _BRACKETS.finditer(text):
        ch = m.group()
        if ch in "([{":
            stack.append(m.start())
        elif ch in ")]}" and stack:
            opener = stack.pop()
            closer_indent, first = indent(m.start())
            if first and suspect is None and closer_indent != indent(opener)[0]:
                suspect = (opener, m.start())
    if not stack:
        return None
    if suspect is not None:
        return suspect
    return stack[-1], None


def _parse(source: Source, diags: Diagnostics) -> Tree | None:
    if too_deep(source, diags):
        return None
    errors: list[int] = []
    stopped: list[bool] = []
    last_line = [0]

    def on_error(err: UnexpectedInput) -> bool:
        if stopped:
            return False
        at_end = getattr(err, "token", None) is not None and err.token.type == "$END"
        if at_end and errors:
            return False  # after a recovered error, running out of input is a cascade, not news
        _report(err, source, diags, last_line)
        errors.append(1)
        # After a bad character or string the token stream is unreliable: stop at the first report.
        if at_end or isinstance(err, UnexpectedCharacters) or len(errors) >= MAX_ERRORS:
            stopped.append(True)
            return False
        return True

    try:
        tree = parser().parse(source.text, on_error=on_error)
    except (UnexpectedCharacters, UnexpectedEOF, UnexpectedToken) as err:
        if not errors:
            _report(err, source, diags, last_line)
        return None
    except RecursionError:
        diags.add("SEG100", "the file is nested too deeply to parse", source.whole(),
                  help="flatten the nesting of groups and literals")
        return None
    return None if errors else tree


_CURLY = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "\u00ab": '"', "\u00bb": '"'}


def _invisible(char: str) -> str:
    """An invisible or look-alike character by code point and name (`U+00A0 NO-BREAK SPACE`)."""
    return f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}"


def character_hint(text: str, at: int) -> tuple[str, str | None]:
    """(label, help) for a character no token starts with: the usual slips from other languages."""
    char, after, before = text[at], text[at + 1:at + 4], text[max(0, at - 8):at]
    if char in _CURLY:
        return "a curly quote", f"use straight quotes: {_CURLY[char]}…{_CURLY[char]} (an editor or word processor " \
                                "replaced them)"
    if char == "/" and after.startswith("/"):
        return "not a comment", "comments start with `#`"
    if char == "/" and after.startswith("img") or char == "/" and before.rstrip().endswith("px"):
        return "not a unit", "write `px per image` (or `1% per image`)"
    if char == "%" and before[-1:].isspace() and before.strip()[-1:].isdigit():
        return "a space before `%`", "write the percentage without a space: `1%`"
    if not char.isprintable() or char.isspace() or unicodedata.category(char) in ("Cf", "Zs"):
        return "invisible", "delete it: it looks like a space (or nothing) but is not one"
    return "not part of the language", None


def _report(err: UnexpectedInput, source: Source, diags: Diagnostics, last_line: list[int]) -> None:
    if isinstance(err, UnexpectedCharacters):
        start = err.pos_in_stream
        char = source.text[start] if start < len(source.text) else ""
        span = source.span(start, start + 1)
        if char in "\"'":
            end = source.text.find("\n", start)
            end = len(source.text) if end < 0 else end
            diags.add("SEG101", "this string is not closed before the end of the line",
                      source.span(start, end), label="string starts here",
                      help=f"add the closing {char} (strings cannot span lines; write `\\n` for a line break)")
        else:
            label, hint = character_hint(source.text, start)
            shown = f"`{char}`" if char.isprintable() and not char.isspace() else _invisible(char)
            diags.add("SEG103", f"unexpected character {shown}", span, label=label,
                      help=hint or (f"expected {describe_expected(err.allowed)}" if err.allowed else None))
        return
    token: Token = getattr(err, "token", None)
    expected = getattr(err, "expected", None) or set()
    if isinstance(err, UnexpectedEOF) or (token is not None and token.type == "$END"):
        end = len(source.text)
        if not any(m.group() in "([{" for m in _BRACKETS.finditer(source.text)):
            blank = all(not line.strip() or line.lstrip().startswith("#") for line in source.text.splitlines())
            diags.add("SEG100", "the file holds no experiment" if blank else "the file is not an experiment",
                      source.span(0, len(source.text.split("\n", 1)[0])), label="expected `experiment`",
                      help="a file holds one `experiment my_name { … }`")
            return
        opener = unclosed_opener(source.text)
        if opener is None:
            diags.add("SEG102", "the file ends before this block is closed", source.span(end, end),
                      label="end of file", help=f"expected {describe_expected(expected)}")
            return
        at, closer = opener
        char = source.text[at]
        pair = {"{": "}", "(": ")", "[": "]"}[char]
        notes = ((source.span(closer, closer + 1), f"this `{source.text[closer]}` lines up with an outer block"),) \
            if closer is not None else ()
        diags.add("SEG102", f"this `{char}` is never closed", source.span(at, at + 1), label=f"needs a `{pair}`",
                  notes=((source.span(end, end), "the file ends here"), *notes),
                  help=f"add the missing `{pair}`")
        return
    if token is None:
        diags.add("SEG100", "syntax error", source.whole())
        return
    if token.line == last_line[0]:
        return  # one report per line: the rest is usually a cascade of the first
    last_line[0] = token.line
    start = token.start_pos or 0
    span = source.span(start, start + max(1, len(str(token))))
    if "EXPERIMENT" in expected and "NAME" not in expected:
        diags.add("SEG100", f"unexpected {_token_text(token, False)}", span, label="expected `experiment`",
                  help="a file holds one `experiment my_name { … }`")
        return
    if "_SEP" in expected and token.type in _STATEMENT_STARTS:
        diags.add("SEG104", f"expected a line break or `;` before {_token_text(token)}", span,
                  label="a new statement starts here",
                  help="separate statements with `;` or put them on their own lines")
        return
    diags.add("SEG100", f"unexpected {_token_text(token, False)}", span, label=f"expected {describe_expected(expected)}",
              help=_syntax_help(token, expected))


# Tokens that can begin a statement: seeing one where a separator was possible means a missing `;`.
_STATEMENT_STARTS = {"NAME", "TRAIN", "QUERY", "WARMUP", "SCHEDULE", "MMSEG", "LPAR"}


def _syntax_help(token: Token, expected) -> str | None:
    if token.type == "EQUAL" or str(token) == "=":
        return "settings are written `key value`, without `=` (only `mmseg { a.b = value }` uses `=`)"
    if token.type == "COLON" or str(token) == ":":
        return "settings are written `key value`, without `:`"
    if token.type == "_SEP" and "RBRACE" in expected:
        return None
    if "LBRACE" in expected and len(expected) == 1:
        return "a block `{ … }` must follow here"
    return None
