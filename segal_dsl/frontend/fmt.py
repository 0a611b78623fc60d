"""Canonical formatting of `.seg` files (`segal fmt`): comments kept, idempotent, meaning unchanged.

Layout rules: four-space indentation; one statement per line in multi-line blocks; a block stays on one
line (`{ a 1; b 2 }`) when it was written on one line, holds no comments and fits in 100 columns; at most
one blank line between statements, where the source had one; strings re-quoted with double quotes.
"""

from __future__ import annotations

from dataclasses import dataclass

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend import nodes as n
from segal_dsl.frontend.build import build
from segal_dsl.frontend.parse import parse
from segal_dsl.source import Source

WIDTH = 100
INDENT = "    "
_QUOTE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def quote(value: str) -> str:
    """A .seg string literal for `value` that reads back to exactly `value`."""
    out = []
    for ch in value:
        if ch in _QUOTE:
            out.append(_QUOTE[ch])
        elif ch < " " or ch == "\x7f" or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@dataclass
class _Comment:
    line: int
    text: str
    own_line: bool


class _Formatter:
    def __init__(self, source: Source, comments: list):
        self.src = source
        self.comments = []
        for tok in comments:
            before = source.line(tok.line)[: tok.column - 1]
            self.comments.append(_Comment(tok.line, str(tok).rstrip(), not before.strip()))
        self.comments.sort(key=lambda c: c.line)
        self.used: set[int] = set()
        self.out: list[str] = []
        self.shares_line = False

    # -- comments ----------------------------------------------------------------------------------
    def take(self, first: int, last: int) -> list[_Comment]:
        """Unused comments on lines first..last (inclusive), marked used."""
        found = [c for c in self.comments if first <= c.line <= last and id(c) not in self.used]
        self.used.update(id(c) for c in found)
        return found

    def peek(self, first: int, last: int) -> list[_Comment]:
        return [c for c in self.comments if first <= c.line <= last and id(c) not in self.used]

    def blank_between(self, end_line: int, start_line: int) -> bool:
        return any(not self.src.line(ln).strip() for ln in range(end_line + 1, start_line))

    # -- atoms and literals ------------------------------------------------------------------------
    def text(self, span) -> str:
        return self.src.text[span.start:span.end]

    def atom(self, a) -> str:
        if isinstance(a, n.String):
            return quote(a.value)
        if isinstance(a, n.Dims):
            return f"{a.width}x{a.height}"
        if isinstance(a, n.Word):
            return a.name
        if isinstance(a, (n.Number, n.Percent)):
            return a.text
        return ","

    def args(self, args) -> str:
        out = ""
        for a in args:
            piece = self.atom(a)
            out += piece if piece == "," or not out else " " + piece
        return out.replace(" ,", ",")

    def literal(self, lit) -> str:
        if isinstance(lit, n.LitNumber):
            return self.text(lit.span)
        if isinstance(lit, n.LitString):
            return quote(lit.value)
        if isinstance(lit, n.LitConst):
            return lit.name
        if isinstance(lit, n.LitList):
            return "[" + ", ".join(self.literal(i) for i in lit.items) + "]"
        if isinstance(lit, n.LitTuple):
            inner = ", ".join(self.literal(i) for i in lit.items)
            return f"({inner},)" if len(lit.items) == 1 else f"({inner})"
        if isinstance(lit, n.LitDict):
            return "{" + ", ".join(f"{self.literal(k)}: {self.literal(v)}" for k, v in lit.pairs) + "}"
        return "dict(" + ", ".join(f"{k}={self.literal(v)}" for k, v in lit.kwargs) + ")"

    # -- flat (one-line) forms ---------------------------------------------------------------------
    def step(self, s) -> str:
        if isinstance(s, n.TrainStep):
            return f"train {s.length.text}" + (f" x{s.repeat.count}" if s.repeat else "")
        if isinstance(s, n.QueryStep):
            return "query" + (" at " + ", ".join(p.text for p in s.at) if s.at else "")
        if isinstance(s, n.WarmupStep):
            return f"warmup {s.length.text}"
        if isinstance(s, n.Group):
            return "(" + "; ".join(self.step(i) for i in s.items) + f") x{s.repeat.count}"
        return " ".join([s.name, self.args(s.args)]).strip()

    def header(self, item) -> str:
        if isinstance(item, n.Schedule):
            return "schedule" + (f" {item.unit.name}" if item.unit else "")
        if isinstance(item, n.Mmseg):
            return "mmseg"
        return " ".join(p for p in (item.key, self.args(item.args)) if p)

    def children(self, item) -> list:
        if isinstance(item, n.Schedule):
            return list(item.items)
        if isinstance(item, n.Mmseg):
            return list(item.overrides)
        if isinstance(item, n.Group):
            return list(item.items)
        return list(item.block.items) if getattr(item, "block", None) is not None else []

    def has_block(self, item) -> bool:
        return isinstance(item, (n.Schedule, n.Mmseg, n.Group)) or getattr(item, "block", None) is not None

    def flat(self, item) -> str:
        if isinstance(item, n.Override):
            return ".".join(item.key) + " = " + self.literal(item.value)
        if isinstance(item, (n.TrainStep, n.QueryStep, n.WarmupStep, n.Group, n.UnknownStep)):
            return self.step(item)
        head = self.header(item)
        if not self.has_block(item):
            return head
        inner = "; ".join(self.flat(c) for c in self.children(item))
        return f"{head} {{ {inner} }}" if inner else f"{head} {{ }}"

    @staticmethod
    def pack(pieces: list[str], width: int) -> list[str]:
        lines = [""]
        for piece in pieces:
            if lines[-1] and len(lines[-1]) + 2 + len(piece) > width:
                lines[-1] += ";"
                lines.append("")
            lines[-1] = f"{lines[-1]}; {piece}" if lines[-1] else piece
        return lines

    def broken_literal(self, lit, column: int, depth: int) -> str:
        """A literal that does not fit in WIDTH from `column`: one item per line, recursively (the layout of
        `segal import` and of the compiled config, pyconfig/layout.py)."""
        text = self.literal(lit)
        items = (lit.kwargs if isinstance(lit, n.LitDictCall) else lit.pairs if isinstance(lit, n.LitDict)
                 else lit.items if isinstance(lit, (n.LitList, n.LitTuple)) else None)
        if column + len(text) <= WIDTH or not items:
            return text
        pad, inner = INDENT * depth, INDENT * (depth + 1)
        col = len(inner)
        if isinstance(lit, n.LitDictCall):
            body = [f"{inner}{k}={self.broken_literal(v, col + len(k) + 1, depth + 1)}," for k, v in items]
            return "dict(\n" + "\n".join(body) + f"\n{pad})"
        if isinstance(lit, n.LitDict):
            body = []
            for k, v in items:
                key = self.literal(k)
                body.append(f"{inner}{key}: {self.broken_literal(v, col + len(key) + 2, depth + 1)},")
            return "{\n" + "\n".join(body) + f"\n{pad}}}"
        open_, close = ("[", "]") if isinstance(lit, n.LitList) else ("(", ")")
        return open_ + "\n" + "\n".join(f"{inner}{self.broken_literal(v, col, depth + 1)}," for v in items) \
            + f"\n{pad}{close}"

    def wrap(self, item, flat: str, indent: int) -> list[str]:
        """A setting too long for one line breaks after its commas, aligned under the first value; a long
        override breaks its literal, one item per line."""
        if isinstance(item, n.Override) and len(INDENT * indent + flat) > WIDTH:
            head = ".".join(item.key) + " = "
            return (head + self.broken_literal(item.value, len(INDENT * indent + head), 0)).split("\n")
        if len(INDENT * indent + flat) <= WIDTH or not isinstance(item, n.Setting) or \
                not any(isinstance(a, n.Comma) for a in item.args):
            return [flat]
        groups, current = [], []
        for a in item.args:
            if isinstance(a, n.Comma):
                groups.append(current)
                current = []
            else:
                current.append(a)
        groups.append(current)
        pad = " " * (len(item.key) + 1)
        texts = [self.args(g) for g in groups]
        lines = [f"{item.key} {texts[0]},"] + [f"{pad}{t}," for t in texts[1:]]
        lines[-1] = lines[-1][:-1]
        if len(lines) > 1 and not lines[-1].strip():  # a trailing comma: keep it on the last value
            lines.pop()
        return lines

    # -- layout ------------------------------------------------------------------------------------
    def emit(self, indent: int, text: str) -> None:
        self.out.append((INDENT * indent + text).rstrip())

    def items(self, items: list, indent: int, close_line: int) -> None:
        prev_end = None
        for i, item in enumerate(items):
            # A statement followed by another on the same line leaves that line's comment to the last one.
            self.shares_line = i + 1 < len(items) and items[i + 1].span.line == item.span.end_line
            lead = self.take(0, item.span.line - 1)
            start = lead[0].line if lead else item.span.line
            if prev_end is not None and self.blank_between(prev_end, start):
                self.out.append("")
            for c in lead:
                self.emit(indent, c.text)
            self.item(item, indent)
            prev_end = item.span.end_line
        rest = self.take(0, close_line - 1)
        if rest and prev_end is not None and self.blank_between(prev_end, rest[0].line):
            self.out.append("")
        for c in rest:
            self.emit(indent, c.text)

    def item(self, item, indent: int) -> None:
        first, last = item.span.line, item.span.end_line
        shares_line = self.shares_line
        inner = self.peek(first, last - 1) if last > first else []
        on_last = [] if shares_line else self.peek(last, last)
        flat = self.flat(item)
        one_line_source = first == last
        if not self.has_block(item) or (one_line_source and not inner and len(on_last) <= 1
                                         and len(INDENT * indent + flat) <= WIDTH):
            # Comments inside a statement written over several lines move above it.
            for c in self.take(first, last - 1):
                self.emit(indent, c.text)
            trailing = [] if shares_line else self.take(last, last)
            for c in trailing[:-1]:
                self.emit(indent, c.text)
            lines = self.wrap(item, flat, indent)
            if lines[-1].endswith(","):
                # A trailing comma swallows the line break (COMMA), joining the next statement: end it here.
                lines[-1] += ";"
            lines[-1] += f"  {trailing[-1].text}" if trailing else ""
            for line in lines:
                self.emit(indent, line)
            return
        if isinstance(item, n.Group):
            open_text, close_text = "(", f") x{item.repeat.count}"
        else:
            open_text, close_text = self.header(item) + " {", "}"
        head_comments = self.take(first, first)
        self.emit(indent, open_text + (f"  {head_comments[0].text}" if head_comments else ""))
        for c in head_comments[1:]:
            self.emit(indent + 1, c.text)
        if isinstance(item, n.Schedule) and not self.peek(first, last - 1):
            # A long schedule without comments is packed: `train 5; query; train 3; …` per line.
            for line in self.pack([self.step(s) for s in item.items], WIDTH - len(INDENT) * (indent + 1)):
                self.emit(indent + 1, line)
        else:
            self.items(self.children(item), indent + 1, last)
        trailing = [] if shares_line else self.take(last, last)
        self.emit(indent, close_text + (f"  {trailing[0].text}" if trailing else ""))
        for c in trailing[1:]:
            self.emit(indent, c.text)

    def experiment(self, exp: n.Experiment) -> str:
        for c in self.take(0, exp.span.line - 1):
            self.out.append(c.text)
        if self.out and self.blank_between(self.comments[0].line if self.comments else 0, exp.span.line) \
                and self.out[-1] != "":
            self.out.append("")
        head = self.take(exp.span.line, exp.span.line)
        self.out.append(f"experiment {exp.name} {{" + (f"  {head[0].text}" if head else ""))
        for c in head[1:]:
            self.emit(1, c.text)
        self.items(list(exp.block.items), 1, exp.span.end_line)
        trailing = self.take(exp.span.end_line, exp.span.end_line)
        self.out.append("}" + (f"  {trailing[0].text}" if trailing else ""))
        rest = [c.text for c in trailing[1:]] + [c.text for c in self.take(exp.span.end_line + 1, 10**9)]
        if rest:
            self.out.append("")
            self.out += rest
        return "\n".join(self.out) + "\n"


def format_source(source: Source, diags: Diagnostics) -> str | None:
    """The canonical text of `source`, or None (with SEG1xx diagnostics) when it does not parse."""
    comments: list = []
    tree = parse(source, diags, comments)
    if tree is None:
        return None
    return _Formatter(source, comments).experiment(build(tree, source))
