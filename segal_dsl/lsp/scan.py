"""The tokens of a `.seg` text and the statement around a cursor, for hover and completion.

An editor's buffer is often half-typed, so this never fails: tokens are read with the grammar's own
terminals (grammars/segal.lark, through frontend/parse.py), an unclosed string runs to the end of its
line (as SEG101 says), and any other character is a token of its own. Blocks are followed by their
braces, so the cursor's place is known wherever the parser would stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# What each terminal of the grammar is to the editor; keywords (`train`, `experiment`, …) are words.
_KINDS = {"NAME": "word", "NUMBER": "number", "PERCENT": "number", "DIMS": "number", "REPEAT": "number",
          "STRING": "string", "COMMA": "comma", "_SEP": "sep", "COMMENT": "comment"}
_OPEN, _CLOSE = "{([", "})]"


@dataclass(frozen=True)
class Token:
    """One token: its kind (word, number, string, comment, sep, comma, punct, other), text and offsets."""

    kind: str
    text: str
    start: int
    end: int
    terminal: str = ""  # the grammar's terminal name ("" for text it has no terminal for)


@dataclass(frozen=True)
class Frame:
    """A block around the cursor: the key that opened it and the words between the key and `{`."""

    key: str
    words: tuple[str, ...]
    bracket: str = "{"  # `(` and `[` are groups and literals, not blocks


@dataclass(frozen=True)
class Cursor:
    """Where a cursor is: the blocks around it, the statement it is in and the token under it."""

    frames: tuple[Frame, ...]          # outermost first; `(`/`[` frames included
    before: tuple[Token, ...]          # the statement's tokens before the cursor's token
    token: Token | None                # the token under the cursor (None between tokens)
    siblings: tuple[str, ...]          # keys of the other statements of the cursor's block

    @property
    def blocks(self) -> tuple[Frame, ...]:
        """The `{ … }` blocks around the cursor (groups and literals left out)."""
        return tuple(f for f in self.frames if f.bracket == "{")


@cache
def _terminals() -> tuple[tuple[str, int, re.Pattern], ...]:
    from segal_dsl.frontend.parse import parser

    return tuple((t.name, t.priority, re.compile(t.pattern.to_regexp())) for t in parser().terminals)


def keywords() -> tuple[str, ...]:
    """The grammar's keywords (`experiment`, `schedule`, `train`, …): its word-like string terminals."""
    from segal_dsl.frontend.parse import parser

    return tuple(t.pattern.value for t in parser().terminals if t.pattern.type == "str" and t.pattern.value.isalpha())


def tokens(text: str) -> list[Token]:
    """Every token of `text` but white space, in order; never raises."""
    out: list[Token] = []
    pos = 0
    terminals = _terminals()
    while pos < len(text):
        best: tuple[int, int, str] | None = None
        for name, priority, pattern in terminals:
            m = pattern.match(text, pos)
            if m and m.end() > pos and (best is None or (priority, m.end()) > (best[0], best[1])):
                best = (priority, m.end(), name)
        if best is None:
            end = pos + 1
            if text[pos] in "\"'":  # an unclosed string: the rest of the line
                end = text.find("\n", pos)
                end = len(text) if end < 0 else end
                out.append(Token("string", text[pos:end], pos, end))
            elif not text[pos].isspace():
                out.append(Token("other", text[pos], pos, end))
            pos = end
            continue
        _, end, name = best
        kind = _KINDS.get(name) or ("ignore" if name.startswith("__") else
                                    "word" if text[pos:end].isalpha() else "punct")
        if kind != "ignore":
            out.append(Token(kind, text[pos:end], pos, end, name))
        pos = end
    return out


def cursor(text: str, offset: int, hover: bool = False) -> Cursor:
    """The cursor at `offset`. For completion (`hover=False`) a token that ends at the cursor is the one
    being typed; for hover it is the token that starts at or spans the cursor."""
    toks = tokens(text)
    at = None
    for t in toks:
        if (t.start <= offset < t.end) if hover else (t.start < offset <= t.end):
            at = t
            break
    if at is None and hover:
        at = next((t for t in toks if t.end == offset and t.kind in ("word", "number", "string")), None)
    limit = at.start if at is not None else offset
    stack: list[Frame] = []
    keys: list[list[str]] = [[]]  # the keys of the statements of each open block
    stmt: list[Token] = []
    found: tuple | None = None    # (frames, statement before the cursor, keys of the cursor's block)
    for t in toks:
        if found is None and t.start >= limit:
            found = (tuple(stack), tuple(stmt), keys[-1])
        # Reading goes on to the end of the cursor's block: completion leaves out the keys set after it too.
        stmt = _step(t, stmt, stack, keys, record=not (t is at and not stmt))
        if found is not None and len(stack) < len(found[0]):
            break
    if found is None:
        found = (tuple(stack), tuple(stmt), keys[-1])
    frames, before, siblings = found
    return Cursor(frames, before, at, tuple(siblings))


def _step(t: Token, stmt: list[Token], stack: list[Frame], keys: list[list[str]], record: bool = True) -> list[Token]:
    """Read one token: blocks open and close, separators end statements; the statement so far is returned."""
    if t.kind == "comment":
        return stmt
    if t.kind == "sep":
        return []
    if t.kind == "punct" and t.text in _OPEN:
        words = tuple(x.text for x in stmt[1:] if x.kind in ("word", "number", "string"))
        stack.append(Frame(stmt[0].text if stmt else "", words, t.text))
        keys.append([])
        return []
    if t.kind == "punct" and t.text in _CLOSE:
        if stack:
            stack.pop()
            keys.pop()
        return []
    if not stmt and t.kind == "word" and record:
        keys[-1].append(t.text)
    return [*stmt, t]
