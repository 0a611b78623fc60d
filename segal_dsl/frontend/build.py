"""Lark parse tree -> typed AST (`segal_dsl.frontend.nodes`) with spans. Never raises: lark would wrap it."""

from __future__ import annotations

import math
from decimal import Decimal

from lark import Token, Tree

from segal_dsl.frontend import nodes as n
from segal_dsl.source import Source

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def unescape(body: str) -> str:
    """Decode a string literal's body. Known escapes: \\n \\t \\r \\0 \\\\ \\" \\' \\uXXXX.
    An unknown escape is kept as written, so Windows-style `C:\\data` survives."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and i + 6 <= len(body):
                digits = body[i + 2 : i + 6]
                if all(c in "0123456789abcdefABCDEF" for c in digits):
                    code = int(digits, 16)
                    if not 0xD800 <= code <= 0xDFFF:  # a lone surrogate cannot be written to UTF-8
                        out.append(chr(code))
                        i += 6
                        continue
        out.append(ch)
        i += 1
    return "".join(out)


MAX_DIGITS = 4000  # longer numbers read as infinite, which every check refuses as "not a finite number"
SUFFIXES = {"k": 1000, "M": 1_000_000}  # `10k`, `2.5M`: what the NUMBER terminal of the grammar accepts


def whole(digits: str) -> int:
    """A run of digits as an int; beyond MAX_DIGITS (which int() refuses) a number larger than any limit."""
    return int(digits) if len(digits) <= MAX_DIGITS else 10 ** MAX_DIGITS


def parse_number(text: str) -> int | float:
    """A NUMBER token's value. A suffixed number is scaled exactly (decimal arithmetic): an int when it is a
    whole number (`2.5M`), else a float that a count then refuses (`1.00001k`, SEG408)."""
    clean = text.replace("_", "")
    if len(clean) > MAX_DIGITS:  # int() refuses more than 4300 digits; no count is that large: SEG213
        return math.inf
    if clean[-1:] in SUFFIXES:
        scaled = Decimal(clean[:-1]) * SUFFIXES[clean[-1]]
        return int(scaled) if scaled == scaled.to_integral_value() else float(scaled)
    if any(c in clean for c in ".eE"):
        return float(clean)
    return int(clean)


def _with_meta(method):
    """A rule method that takes the node's position (`meta`) before its children."""
    method.takes_meta = True
    return method


class _Builder:
    """One method per grammar rule, called bottom-up with the rule's already built children.

    A plain walker rather than lark's Transformer: lark re-wraps every `v_args(meta=True)` method on
    each call (functools.update_wrapper per node), a tenth of the front end's time per file."""

    def __init__(self, source: Source):
        self.src = source
        self._rules: dict[str, tuple] = {}

    def transform(self, tree: Tree):
        children = [self.transform(c) if isinstance(c, Tree) else c for c in tree.children]
        rule = self._rules.get(tree.data)
        if rule is None:
            method = getattr(self, tree.data, None)
            rule = self._rules[tree.data] = (method, getattr(method, "takes_meta", False))
        method, takes_meta = rule
        if method is None:  # a rule without a method stays a tree (lark's default)
            return Tree(tree.data, children, tree.meta)
        return method(tree.meta, children) if takes_meta else method(children)

    # -- helpers
    # lark's line/column are ours (1-based, columns in characters, lines split at "\n"): no offset lookups.
    def _tok(self, tok: Token) -> n.Span:
        return n.Span(self.src.path, tok.line, tok.column, tok.end_line, tok.end_column, tok.start_pos, tok.end_pos)

    def _meta(self, meta, children=()) -> n.Span:
        if not getattr(meta, "empty", True):
            return n.Span(self.src.path, meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos,
                          meta.end_pos)
        spans = [c.span for c in children if hasattr(c, "span")]
        if spans:
            return self.src.span(spans[0].start, spans[-1].end)
        return self.src.whole()

    # -- atoms
    def number(self, children):
        (tok,) = children
        return n.Number(parse_number(str(tok)), str(tok), self._tok(tok))

    def percent(self, children):
        (tok,) = children
        return n.Percent(float(str(tok)[:-1].replace("_", "")), str(tok), self._tok(tok))

    def string(self, children):
        (tok,) = children
        return n.String(unescape(str(tok)[1:-1]), self._tok(tok))

    def word(self, children):
        (tok,) = children
        return n.Word(str(tok), self._tok(tok))

    def dims(self, children):
        (tok,) = children
        text = str(tok).replace("×", "x")
        w, h = text.split("x")
        return n.Dims(whole(w), whole(h), self._tok(tok))

    def comma(self, children):
        (tok,) = children
        return n.Comma(self.src.span(tok.start_pos, tok.start_pos + 1))

    # -- statements
    @_with_meta
    def setting(self, meta, children):
        key, *rest = children
        block = rest.pop() if rest and isinstance(rest[-1], n.Block) else None
        return n.Setting(str(key), self._tok(key), tuple(rest), block, self._meta(meta))

    @_with_meta
    def block(self, meta, children):
        return n.Block(tuple(children), self._meta(meta, children))

    @_with_meta
    def experiment(self, meta, children):
        name, block = children
        return n.Experiment(str(name), self._tok(name), block, self._meta(meta))

    def start(self, children):
        return children[0]

    # -- schedule
    def _repeat(self, tok: Token) -> n.Repeat:
        digits = str(tok)[1:].strip()
        return n.Repeat(whole(digits), self._tok(tok))

    @_with_meta
    def schedule_stmt(self, meta, children):
        unit = None
        if children and isinstance(children[0], Token):
            unit = n.Word(str(children[0]), self._tok(children[0]))
            children = children[1:]
        (seq,) = children
        span = self._meta(meta)
        key_span = self.src.span(span.start, span.start + len("schedule"))
        return n.Schedule(unit, seq, span, key_span)

    def sched_seq(self, children):
        return tuple(children)

    @_with_meta
    def train_step(self, meta, children):
        length = n.Number(parse_number(str(children[0])), str(children[0]), self._tok(children[0]))
        repeat = self._repeat(children[1]) if len(children) > 1 else None
        return n.TrainStep(length, repeat, self._meta(meta))

    @_with_meta
    def query_step(self, meta, children):
        at = tuple(n.Number(parse_number(str(t)), str(t), self._tok(t)) for t in children if t.type == "NUMBER")
        return n.QueryStep(self._meta(meta), at)

    @_with_meta
    def warmup_step(self, meta, children):
        tok = children[0]
        return n.WarmupStep(n.Number(parse_number(str(tok)), str(tok), self._tok(tok)), self._meta(meta))

    @_with_meta
    def group(self, meta, children):
        seq, rep = children
        return n.Group(seq, self._repeat(rep), self._meta(meta))

    @_with_meta
    def unknown_step(self, meta, children):
        name, *args = children
        return n.UnknownStep(str(name), tuple(args), self._meta(meta))

    # -- mmseg overrides
    @_with_meta
    def mmseg_stmt(self, meta, children):
        span = self._meta(meta)
        return n.Mmseg(tuple(children), span, self.src.span(span.start, span.start + len("mmseg")))

    @_with_meta
    def override(self, meta, children):
        (key, key_span), value = children
        # Converted here, not in build(): an `mmseg` block nested in a setting's block is an override too.
        return n.Override(key, key_span, self._lit(value), self._meta(meta))

    def dotted_key(self, children):
        parts = tuple(str(t) for t in children)
        return parts, self.src.span(children[0].start_pos, children[-1].end_pos)

    def constant(self, children):
        (tok,) = children
        return n.LitConst(str(tok), self._tok(tok))

    def _items(self, children):
        return tuple(c for c in children if not isinstance(c, (Token, n.Comma)))

    @_with_meta
    def list(self, meta, children):
        items = self._items(children)
        return n.LitList(tuple(self._lit(c) for c in items), self._meta(meta, items))

    @_with_meta
    def tuple(self, meta, children):
        items = self._items(children)
        return n.LitTuple(tuple(self._lit(c) for c in items), self._meta(meta, items))

    @_with_meta
    def dict(self, meta, children):
        pairs = self._items(children)
        return n.LitDict(tuple(pairs), self._meta(meta))

    @_with_meta
    def dict_call(self, meta, children):
        return n.LitDictCall(tuple(self._items(children)), self._meta(meta))

    def pair(self, children):
        key, value = children
        return (self._lit(key), self._lit(value))

    def kwarg(self, children):
        name, value = children
        return (str(name), self._lit(value))

    @staticmethod
    def _lit(value):
        # Inside literals the atom rules (number/string) are shared with settings: convert them.
        if isinstance(value, n.Number):
            return n.LitNumber(value.value, value.span, value.text)
        if isinstance(value, n.String):
            return n.LitString(value.value, value.span)
        return value


def build(tree: Tree, source: Source) -> n.Experiment:
    """Turn a parse tree into the typed AST."""
    return _Builder(source).transform(tree)
