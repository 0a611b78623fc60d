"""Source text and spans: every diagnostic points at `path:line:col` through a `Span`."""

from __future__ import annotations

import bisect
from functools import cached_property

from segal_dsl.values import Value, assign

BOM = "\ufeff"


def decode(data: bytes) -> str:
    """A `.seg` file's bytes as its text: UTF-8, a leading byte-order mark dropped (editors on Windows
    write one). UnicodeDecodeError propagates: the caller reports the file as unreadable (SEG001)."""
    return data.decode("utf-8").removeprefix(BOM)


class Span(Value):
    """A region of one source file; lines and columns are 1-based, the end is exclusive.

    path, line, column, end_line, end_column; start and end are character offsets into the text."""

    __slots__ = ("path", "line", "column", "end_line", "end_column", "start", "end")
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def __init__(self, path: str, line: int, column: int, end_line: int, end_column: int, start: int, end: int):
        # written out (not Value's generic __init__): every token and node of a parse makes one
        assign(self, "path", path)
        assign(self, "line", line)
        assign(self, "column", column)
        assign(self, "end_line", end_line)
        assign(self, "end_column", end_column)
        assign(self, "start", start)
        assign(self, "end", end)

    def sort_key(self) -> tuple[str, int, int]:
        return (self.path, self.line, self.column)


class Source(Value):
    """A `.seg` file's text (`text`) and the path as the user typed it (`path`)."""

    FIELDS = ("path", "text")  # not __slots__: `line_starts` is cached in the instance's __dict__
    path: str
    text: str

    @cached_property
    def line_starts(self) -> tuple[int, ...]:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        return tuple(starts)

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def line(self, number: int) -> str:
        """The text of 1-based line `number`, without its line break."""
        starts = self.line_starts
        if not 1 <= number <= len(starts):
            return ""
        begin = starts[number - 1]
        end = starts[number] - 1 if number < len(starts) else len(self.text)
        return self.text[begin:end].rstrip("\r")

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        starts = self.line_starts
        index = bisect.bisect_right(starts, offset) - 1
        return index + 1, offset - starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(max(start, end))
        return Span(self.path, line, column, end_line, end_column, start, max(start, end))

    def whole(self) -> Span:
        return self.span(0, 0)
