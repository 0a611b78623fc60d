"""Canonical formatting of `.seg` files (`segal fmt`): every comment kept in its place, idempotent, meaning
unchanged. Emits SEG1xx (the file does not parse, or is nested too deeply) and SEG900 (a formatter bug,
caught by reading its own output back before returning it).

Layout: four-space indentation; one statement per line in multi-line blocks; a block stays on one line
(`{ a 1; b 2 }`) when it was written on one line, holds no comment and fits in 100 columns; schedule steps
are packed into lines (`train 5; query; …`); a literal, or a setting's comma-separated values, that does
not fit or holds a comment breaks one item per line; at most one blank line between items, where the
source had one; strings re-quoted with double quotes.

Comments: a comment on its own line stays on its own line before the same item (statement, step, list or
dict item, value after a setting's comma), or after the last item before the closing bracket; a comment
after code stays at the end of the line of the item it follows (an item broken over lines: its last line).
Line breaks: those of the file's first line (CRLF stays CRLF), and the text always ends with one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend import nodes as n
from segal_dsl.frontend.build import build
from segal_dsl.frontend.parse import parse
from segal_dsl.source import Source, Span
from segal_dsl.values import Value

WIDTH = 100
INDENT = "    "
_QUOTE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
_BLANK = " \t\f\r"  # what the grammar ignores around tokens (and a comment's own trailing blanks)


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


def comment_texts(tokens: list) -> list[str]:
    """The comments of a file, as `parse(…, comments)` collected them, in order and as fmt writes them."""
    return [str(t).rstrip(_BLANK) for t in sorted(tokens, key=lambda t: t.start_pos)]


@dataclass(frozen=True, slots=True)
class _Comment:
    start: int
    line: int
    text: str
    own_line: bool  # nothing but blanks and `;` before it on its line


@dataclass
class _Slots:
    """The comments of one bracketed list by place: after the opener on its line, before and after each
    item, and after the last item (before the closer)."""

    opener: list[_Comment]
    leading: list[list[_Comment]]
    trailing: list[list[_Comment]]
    closing: list[_Comment]


class _Formatter:
    def __init__(self, source: Source, tokens: list):
        self.src = source
        self.comments = []
        for tok in sorted(tokens, key=lambda t: t.start_pos):
            before = source.line(tok.line)[: tok.column - 1]
            self.comments.append(_Comment(tok.start_pos, tok.line, str(tok).rstrip(_BLANK),
                                          not before.strip(_BLANK + ";")))
        self.starts = [c.start for c in self.comments]

    # -- comments ----------------------------------------------------------------------------------
    def has_comment(self, start: int, end: int) -> bool:
        i = bisect_left(self.starts, start)
        return i < len(self.starts) and self.starts[i] < end

    def slots(self, lo: int, hi: int, spans: list[tuple[int, int]]) -> _Slots:
        """Place the comments in [lo, hi) that lie between the items (sorted `(start, end)` offsets);
        those inside an item are placed by that item's own list."""
        ends = [e for _, e in spans]
        s = _Slots([], [[] for _ in spans], [[] for _ in spans], [])
        for c in self.comments[bisect_left(self.starts, lo):bisect_left(self.starts, hi)]:
            k = bisect_right(ends, c.start)  # items ending before the comment
            if k < len(spans) and spans[k][0] <= c.start:
                continue
            before_next = s.leading[k] if k < len(spans) else s.closing
            # After an own-line comment in the same gap, a comment behind a `;` stays below it (order kept).
            if c.own_line or before_next:
                before_next.append(c)
            else:
                (s.trailing[k - 1] if k else s.opener).append(c)
        return s

    def blank_between(self, end_line: int, start_line: int) -> bool:
        return any(not self.src.line(ln).strip() for ln in range(end_line + 1, start_line))

    def _blank(self, out: list[str], prev: int | None, line: int) -> None:
        if prev is not None and self.blank_between(prev, line):
            out.append("")

    def column(self, entries: list[tuple[int, int, list[str]]], slots: _Slots, suffix: str = "") -> list[str]:
        """Items one below the other, indented one level: `entries` holds each item's first and last source
        line and its lines (the first unindented, the others relative to it). `suffix` ends every item."""
        out = [INDENT + c.text for c in slots.opener[1:]]
        prev = slots.opener[-1].line if len(slots.opener) > 1 else None
        for (first, last, lines), lead, trail in zip(entries, slots.leading, slots.trailing):
            for c in lead:
                self._blank(out, prev, c.line)
                out.append(INDENT + c.text)
                prev = c.line
            self._blank(out, prev, first)
            body = [INDENT + line for line in lines]
            body[-1] += suffix + (f"  {trail[0].text}" if trail else "")
            out += body + [INDENT + c.text for c in trail[1:]]
            prev = max(last, trail[-1].line) if trail else last
        for c in slots.closing:
            self._blank(out, prev, c.line)
            out.append(INDENT + c.text)
            prev = c.line
        return out

    @staticmethod
    def opened(line: str, slots: _Slots) -> str:
        return line + (f"  {slots.opener[0].text}" if slots.opener else "")

    def after(self, char: str, offset: int) -> int:
        """The offset just after the next `char` from `offset` (an opening bracket the AST has no span for)."""
        return self.src.text.index(char, offset) + 1

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
        """The one-line form. Loops, not generators: one stack frame per nesting level, as in build."""
        if isinstance(lit, n.LitNumber):
            return self.text(lit.span)
        if isinstance(lit, n.LitString):
            return quote(lit.value)
        if isinstance(lit, n.LitConst):
            return lit.name
        parts = []
        if isinstance(lit, (n.LitList, n.LitTuple)):
            for item in lit.items:
                parts.append(self.literal(item))
            if isinstance(lit, n.LitList):
                return "[" + ", ".join(parts) + "]"
            return f"({parts[0]},)" if len(parts) == 1 else "(" + ", ".join(parts) + ")"
        if isinstance(lit, n.LitDict):
            for k, v in lit.pairs:
                parts.append(f"{self.literal(k)}: {self.literal(v)}")
            return "{" + ", ".join(parts) + "}"
        for k, v in lit.kwargs:
            parts.append(f"{k}={self.literal(v)}")
        return "dict(" + ", ".join(parts) + ")"

    def value(self, lit, column: int, base: int) -> list[str]:
        """A literal starting at `column` of a line indented `base`: one line when it fits and holds no
        comment, else one item per line, recursively (the layout of `segal import` and of the compiled config,
        pyconfig/layout.py). Lines after the first are indented relative to `base`."""
        commented = self.has_comment(lit.span.start, lit.span.end)
        if isinstance(lit, n.LitDictCall):
            entries = [(v.span.start, v.span.end, f"{k}=", v) for k, v in lit.kwargs]
            open_, close = "dict(", ")"
        elif isinstance(lit, n.LitDict):
            entries = [(k.span.start, v.span.end, k, v) for k, v in lit.pairs]
            open_, close = "{", "}"
        elif isinstance(lit, (n.LitList, n.LitTuple)):
            entries = [(v.span.start, v.span.end, "", v) for v in lit.items]
            open_, close = ("[", "]") if isinstance(lit, n.LitList) else ("(", ")")
        else:
            return [self.literal(lit)]
        if not commented:
            flat = self.literal(lit)
            if column + len(flat) <= WIDTH or not entries:
                return [flat]
        slots = self.slots(lit.span.start + len(open_), lit.span.end - 1, [(s, e) for s, e, _, _ in entries])
        inner = base + len(INDENT)
        rows = []
        for start, end, key, v in entries:
            if isinstance(key, str):
                lines = self.value(v, inner + len(key), inner)
                lines[0] = key + lines[0]
            else:  # a dict's key is a literal too
                lines = self.value(key, inner, inner)
                tail = self.value(v, inner + len(lines[-1]) + 2, inner)
                lines[-1] += ": " + tail[0]
                lines += tail[1:]
            rows.append((self.src.position(start)[0], self.src.position(end)[0], lines))
        return [self.opened(open_, slots), *self.column(rows, slots, ","), close]

    # -- flat (one-line) forms ---------------------------------------------------------------------
    def step(self, s) -> str:
        if isinstance(s, n.TrainStep):
            return f"train {s.length.text}" + (f" x{s.repeat.count}" if s.repeat else "")
        if isinstance(s, n.QueryStep):
            return "query" + (" at " + ", ".join(p.text for p in s.at) if s.at else "")
        if isinstance(s, n.WarmupStep):
            return f"warmup {s.length.text}"
        if isinstance(s, n.Group):
            parts = []
            for i in s.items:
                parts.append(self.step(i))
            return "(" + "; ".join(parts) + f") x{s.repeat.count}"
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
        return list(item.block.items) if getattr(item, "block", None) is not None else []

    def flat(self, item) -> str:
        if isinstance(item, n.Override):
            return ".".join(item.key) + " = " + self.literal(item.value)
        if isinstance(item, (n.TrainStep, n.QueryStep, n.WarmupStep, n.Group, n.UnknownStep)):
            return self.step(item)
        head = self.header(item)
        if not isinstance(item, (n.Schedule, n.Mmseg)) and item.block is None:
            return head
        parts = []
        for c in self.children(item):
            parts.append(self.flat(c))
        return f"{head} {{ {'; '.join(parts)} }}" if parts else f"{head} {{ }}"

    # -- statements --------------------------------------------------------------------------------
    def words(self, key: str, args, lo: int, hi: int, base: int, then_block: bool) -> tuple[list[str], bool]:
        """`key value…` on one line; too long, or holding comments (they can only follow a comma), broken
        after its commas with each group aligned under the first value. Returns the lines and whether the
        last one ends in a comment."""
        flat = " ".join(p for p in (key, self.args(args)) if p)
        commas = [a.span.start for a in args if isinstance(a, n.Comma)]
        groups: list[list] = [[]]
        for a in args:
            if isinstance(a, n.Comma):
                groups.append([])
            else:
                groups[-1].append(a)
        lead: list[list[_Comment]] = [[] for _ in groups]
        trail: list[list[_Comment]] = [[] for _ in groups]
        for c in self.comments[bisect_left(self.starts, lo):bisect_left(self.starts, hi)]:
            k = bisect_left(commas, c.start)  # commas before it: it lies in the COMMA token of the k-th
            (lead[k] if c.own_line or not k or lead[k] else trail[k - 1]).append(c)
        # A trailing comma swallows the line break (COMMA), joining the next statement: `,;` ends it on the
        # last value's line, and the comments after the comma, then after the `;`, are the enclosing block's.
        open_end = not then_block and len(groups) > 1 and not groups[-1]
        outside: list[_Comment] = []
        if open_end:
            outside, trail[-2], lead[-1] = trail[-2] + lead[-1], [], []
        if not commas or (not any(lead) and not any(trail) and base + len(flat) <= WIDTH):
            rows: list[tuple[str | None, str | None]] = [(flat, None)]
        else:
            pad = " " * (len(key) + 1)
            rows = []  # (code, the comment at its end); code None: a comment on its own line
            for i, group in enumerate(groups):
                final = i == len(groups) - 1
                rows += [(None, c.text) for c in lead[i]]
                if final and not group and i:
                    break  # the trailing comma ends the previous row
                code = (key + " " if i == 0 else pad) + self.args(group) + ("" if final else ",")
                rows.append((code.rstrip(), trail[i][0].text if trail[i] else None))
                rows += [(None, c.text) for c in trail[i][1:]]
        if open_end:
            at = max(j for j, (code, _) in enumerate(rows) if code is not None)
            rows[at] = (rows[at][0] + ";", outside.pop(0).text if outside and not outside[0].own_line
                        else rows[at][1])
            return self._rows(rows, key) + [c.text for c in outside], False
        return self._rows(rows, key), rows[-1][0] is None or rows[-1][1] is not None

    @staticmethod
    def _rows(rows, key: str) -> list[str]:
        pad = " " * (len(key) + 1)
        return [pad + comment if code is None else code + (f"  {comment}" if comment else "")
                for code, comment in rows]

    def statement(self, item, base: int) -> list[str]:
        """One statement at column `base`: its lines, the first unindented, the others relative to it."""
        if isinstance(item, n.Override):
            head = ".".join(item.key) + " = "
            lines = self.value(item.value, base + len(head), base)
            return [head + lines[0], *lines[1:]]
        if isinstance(item, n.Schedule):
            lo = self.after("{", item.unit.span.end if item.unit else item.key_span.end)
            return self.braced(item, [self.header(item)], lo, base)
        if isinstance(item, n.Mmseg):
            return self.braced(item, ["mmseg"], self.after("{", item.key_span.end), base)
        end = item.block.span.start if item.block is not None else item.span.end
        head, head_comment = self.words(item.key, item.args, item.key_span.end, end, base, item.block is not None)
        if item.block is None:
            return head
        # After a comment the opening brace goes below it, still among the values (the comma before it
        # takes the line break).
        brace = " " * (len(item.key) + 1) + "{" if head_comment else None
        return self.braced(item, head, item.block.span.start + 1, base, brace)

    def braced(self, item, head: list[str], lo: int, base: int, brace: str | None = None) -> list[str]:
        """A statement with a `{ … }` block (a setting's, a schedule, `mmseg`): on one line when written on
        one line, without comments and short enough; else its items one per line (steps packed)."""
        kids = self.children(item)
        if (len(head) == 1 and item.span.line == item.span.end_line
                and not self.has_comment(item.span.start, item.span.end)):
            flat = self.flat(item)
            if base + len(flat) <= WIDTH:
                return [flat]
        slots = self.slots(lo, item.span.end - 1, [(k.span.start, k.span.end) for k in kids])
        lines = [*head, self.opened(brace, slots)] if brace else head[:-1] + [self.opened(head[-1] + " {", slots)]
        if isinstance(item, n.Schedule):
            lines += self.steps(kids, slots, base)
        else:
            entries = []
            for k in kids:
                entries.append((k.span.line, k.span.end_line, self.statement(k, base + len(INDENT))))
            lines += self.column(entries, slots)
        return [*lines, "}"]

    # -- schedules ---------------------------------------------------------------------------------
    def step_lines(self, s, base: int) -> list[str]:
        """A step that holds a comment, over several lines; any other step as `step` writes it."""
        if not self.has_comment(s.span.start, s.span.end):
            return [self.step(s)]
        if isinstance(s, n.Group):
            close = self.src.text.rindex(")", s.span.start, s.repeat.span.start)
            slots = self.slots(s.span.start + 1, close, [(i.span.start, i.span.end) for i in s.items])
            return [self.opened("(", slots), *self.steps(list(s.items), slots, base), f") x{s.repeat.count}"]
        if isinstance(s, n.UnknownStep):
            return self.words(s.name, s.args, s.span.start + len(s.name), s.span.end, base, False)[0]
        if isinstance(s, n.QueryStep) and s.at:  # `query at 10k,  # note` ⏎ `12k`: the positions as values
            args = [s.at[0]]
            for before, after in zip(s.at, s.at[1:]):
                comma = self.src.text.index(",", before.span.end)
                args += [n.Comma(self.src.span(comma, comma + 1)), after]
            return self.words("query at", args, s.at[0].span.end, s.span.end, base, False)[0]
        return [self.step(s)]

    def steps(self, items: list, slots: _Slots, base: int) -> list[str]:
        """Steps one level in, packed `train 5; query; train 3; …` up to the width; a comment ends a line."""
        width = WIDTH - base - len(INDENT)
        out = [INDENT + c.text for c in slots.opener[1:]]
        prev = slots.opener[-1].line if len(slots.opener) > 1 else None
        line = ""
        for s, lead, trail in zip(items, slots.leading, slots.trailing):
            if lead and line:
                out.append(INDENT + _ended(line))
                line = ""
            for c in lead:
                self._blank(out, prev, c.line)
                out.append(INDENT + c.text)
                prev = c.line
            lines = self.step_lines(s, base + len(INDENT))
            if len(lines) > 1:  # on lines of its own (its last may be a comment: nothing is appended to it)
                if line:
                    out.append(INDENT + _ended(line))
                    line = ""
                self._blank(out, prev, s.span.line)
                body = [INDENT + x for x in lines]
                body[-1] += f"  {trail[0].text}" if trail else ""
                out += body + [INDENT + c.text for c in trail[1:]]
                prev = max(s.span.end_line, trail[-1].line) if trail else s.span.end_line
                continue
            if not line:
                self._blank(out, prev, s.span.line)
                line = lines[0]
            elif len(line) + 2 + len(lines[0]) > width:
                out.append(INDENT + line + ";")
                line = lines[0]
            else:
                line = f"{line}; {lines[0]}"
            prev = s.span.end_line
            if trail:
                out.append(INDENT + _ended(line) + f"  {trail[0].text}")
                out += [INDENT + c.text for c in trail[1:]]
                line, prev = "", trail[-1].line
        if line:
            out.append(INDENT + _ended(line))
        for c in slots.closing:
            self._blank(out, prev, c.line)
            out.append(INDENT + c.text)
            prev = c.line
        return out

    # -- the file ----------------------------------------------------------------------------------
    def experiment(self, exp: n.Experiment) -> list[str]:
        top = self.slots(0, len(self.src.text) + 1, [(exp.span.start, exp.span.end)])
        out: list[str] = []
        prev = None
        for c in sorted(top.opener + top.leading[0], key=lambda c: c.start):
            self._blank(out, prev, c.line)
            out.append(c.text)
            prev = c.line
        self._blank(out, prev, exp.span.line)
        items = list(exp.block.items)
        slots = self.slots(exp.block.span.start + 1, exp.block.span.end - 1,
                           [(i.span.start, i.span.end) for i in items])
        out.append(self.opened(f"experiment {exp.name} {{", slots))
        out += self.column([(i.span.line, i.span.end_line, self.statement(i, len(INDENT))) for i in items], slots)
        after = top.trailing[0]
        out.append("}" + (f"  {after[0].text}" if after else ""))
        rest = [c.text for c in after[1:] + top.closing]
        if rest:
            out += ["", *rest]
        return out


def _ended(line: str) -> str:
    # A trailing comma swallows the line break (COMMA), joining the next step: end the step here.
    return line + ";" if line.endswith(",") else line


def _shape(node) -> list:
    """The AST without positions, flattened (iteratively: deep nesting must not overflow the stack here)."""
    out: list = []
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            out.append(("tuple", len(x)))
            stack.extend(reversed(x))
        elif isinstance(x, Value) and not isinstance(x, Span):
            out.append(type(x).__name__)
            stack.extend(reversed(x.values()))
        elif not isinstance(x, Span):
            out.append(x)
    return out


def _line_break(text: str) -> str:
    i = text.find("\n")
    return "\r\n" if i > 0 and text[i - 1] == "\r" else "\n"


def format_source(source: Source, diags: Diagnostics) -> str | None:
    """The canonical text of `source`, or None (with diagnostics) when it cannot be formatted: SEG1xx when
    it does not parse or is nested too deeply. The text is read back before it is returned; should it not
    parse to the same tree with the same comments (a bug), fmt reports SEG900 rather than return it."""
    comments: list = []
    tree = parse(source, diags, comments)
    if tree is None:
        return None
    try:
        exp = build(tree, source)
        lines = _Formatter(source, comments).experiment(exp)
        newline = _line_break(source.text)
        text = newline.join(line.rstrip(" \t") for line in lines) + newline
        again: list = []
        reread = parse(Source(source.path, text), Diagnostics(), again)
        if reread is None:
            problem = "write text that does not parse"
        elif _shape(build(reread, Source(source.path, text))) != _shape(exp):
            problem = "change what the file says"
        elif comment_texts(again) != comment_texts(comments):
            problem = "lose or reorder a comment"
        else:
            return text
    except RecursionError:
        diags.add("SEG100", "the file is nested too deeply to format", source.whole(),
                  help="flatten the nesting of groups, blocks and literals")
        return None
    diags.add("SEG900", f"internal error: fmt would {problem}", source.whole(),
              help="this is a bug in segal-dsl (frontend/fmt.py); the file is left as it is; please report it "
                   "with the input file")
    return None
