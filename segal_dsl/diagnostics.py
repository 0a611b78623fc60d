"""Diagnostics as data: what every stage reports, collected rather than raised."""

from __future__ import annotations

from segal_dsl.codes import CODES, Severity
from segal_dsl.source import Span
from segal_dsl.values import Value

__all__ = ["Diagnostic", "Diagnostics", "SegalError", "Severity"]

MAX_MESSAGE = 300


class Diagnostic(Value):
    """One finding of a stage, located in the source: data first, rendered by render.py."""

    __slots__ = ("code", "severity", "message", "span", "label", "help", "notes")
    DEFAULTS = {"label": None, "help": None, "notes": ()}
    code: str  # "SEG304"; slug and docs come from codes.py
    severity: Severity
    message: str  # one phrase; offending value in backticks; no trailing period
    span: Span | None
    label: str | None  # printed under the caret (default None)
    help: str | None  # what to do about it (default None)
    notes: tuple[tuple[Span, str], ...]  # (default ())

    @property
    def name(self) -> str:
        return CODES[self.code].name

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code)
        return (*self.span.sort_key(), self.code)


class Diagnostics:
    """An ordered collection that stages append to and keep going (`items`, in the order added)."""

    def __init__(self, items: list[Diagnostic] | None = None):
        self.items: list[Diagnostic] = [] if items is None else items

    def __eq__(self, other: object) -> bool:
        return self.items == other.items if isinstance(other, Diagnostics) else NotImplemented

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"Diagnostics(items={self.items!r})"

    def add(
        self,
        code: str,
        message: str,
        span: Span | None,
        *,
        label: str | None = None,
        help: str | None = None,
        severity: Severity | None = None,
        notes: tuple[tuple[Span, str], ...] = (),
    ) -> Diagnostic:
        if len(message) > MAX_MESSAGE:  # a message quotes the input, and an input can be a megabyte long
            message = message[:MAX_MESSAGE - 1] + "…"
        diag = Diagnostic(code, severity or CODES[code].severity, message, span, label, help, notes)
        self.items.append(diag)
        return diag

    def extend(self, other: Diagnostics | list[Diagnostic]) -> None:
        self.items.extend(other.items if isinstance(other, Diagnostics) else other)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class SegalError(Exception):
    """Raised by the Python API when a file has errors; holds every diagnostic of the run."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        first = errors[0] if errors else (diagnostics[0] if diagnostics else None)
        summary = f"{first.code}: {first.message}" if first else "failed"
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        super().__init__(summary + more)
