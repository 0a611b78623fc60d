"""Source text -> lark parse tree. Emits SEG1xx; expected tokens are named in plain words."""

from __future__ import annotations

import hashlib
import os
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
                maybe_placeholders=False, cache=_cache_file(text), lexer_callbacks={"COMMENT": _collect_comment})


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


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type == "_SEP":
        return "a line break" if "\n" in token else "`;`"
    return f"`{token}`"


def parse(source: Source, diags: Diagnostics, comments: list[Token] | None = None) -> Tree | None:
    """Parse a whole file; on syntax errors record SEG1xx diagnostics and return None.
    With `comments`, the file's comment tokens are appended to it (for `segal fmt`)."""
    _comment_sink.append(comments if comments is not None else [])
    try:
        return _parse(source, diags)
    finally:
        _comment_sink.pop()


def _parse(source: Source, diags: Diagnostics) -> Tree | None:
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
            diags.add("SEG103", f"unexpected character `{char}`", span, label="not part of the language",
                      help=f"expected {describe_expected(err.allowed)}" if err.allowed else None)
        return
    token: Token = getattr(err, "token", None)
    expected = getattr(err, "expected", None) or set()
    if isinstance(err, UnexpectedEOF) or (token is not None and token.type == "$END"):
        end = len(source.text)
        diags.add("SEG102", "the file ends before this block is closed", source.span(end, end),
                  label="end of file", help=f"expected {describe_expected(expected)}")
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
        diags.add("SEG100", f"unexpected {_token_text(token)}", span, label="expected `experiment`",
                  help="a file holds one `experiment my_name { … }`")
        return
    if "_SEP" in expected and token.type in _STATEMENT_STARTS:
        diags.add("SEG104", f"expected a line break or `;` before {_token_text(token)}", span,
                  label="a new statement starts here",
                  help="separate statements with `;` or put them on their own lines")
        return
    diags.add("SEG100", f"unexpected {_token_text(token)}", span, label=f"expected {describe_expected(expected)}",
              help=_syntax_help(token, expected))


# Tokens that can begin a statement: seeing one where a separator was possible means a missing `;`.
_STATEMENT_STARTS = {"NAME", "TRAIN", "QUERY", "WARMUP", "SCHEDULE", "MMSEG", "LPAR"}


def _syntax_help(token: Token, expected) -> str | None:
    if token.type == "EQUAL" or str(token) == "=":
        return "settings are written `key value`, without `=` (only `mmseg { a.b = value }` uses `=`)"
    if token.type == "_SEP" and "RBRACE" in expected:
        return None
    if "LBRACE" in expected and len(expected) == 1:
        return "a block `{ … }` must follow here"
    return None
