"""The typed AST: frozen dataclasses, each with the `.span` of the text it came from."""

from __future__ import annotations

from dataclasses import dataclass

from segal_dsl.source import Span


# ---- atoms: the words after a setting's key -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Number:
    """A number as written (`2975`, `24_371_200`, `1e-4`, `10k`); `text` keeps the spelling for fmt."""

    value: int | float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Percent:
    """A number directly followed by `%` (`1%`); `value` is the number of percent."""

    value: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    """A quoted string, escapes resolved."""

    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Word:
    """A bare name (`pixel`, `true`, `per`, `least-confidence`)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Dims:
    """A size `WIDTHxHEIGHT` (`1280x640`), or a pair such as `crop_size 384x384`."""

    width: int
    height: int
    span: Span


@dataclass(frozen=True, slots=True)
class Comma:
    """A `,` between list items (`base "a.py", "b.py"`)."""

    span: Span


Atom = Number | Percent | String | Word | Dims | Comma


# ---- statements -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Setting:
    """`key arg* { … }?`: the validator decides what the key and its words mean."""

    key: str
    key_span: Span
    args: tuple[Atom, ...]
    block: Block | None
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    """The `xK` of `train N xK` or `( … ) xK`."""

    count: int
    span: Span


@dataclass(frozen=True, slots=True)
class TrainStep:
    """`train N` (or `train N xK`: K times train N then query)."""

    length: Number
    repeat: Repeat | None
    span: Span


@dataclass(frozen=True, slots=True)
class QueryStep:
    """`query`: one query with the round's budget; `query at 10k, 12k`: one at each absolute position."""

    span: Span
    at: tuple[Number, ...] = ()


@dataclass(frozen=True, slots=True)
class WarmupStep:
    """`warmup N`: MAE-only training before the first round (multitask runner)."""

    length: Number
    span: Span


@dataclass(frozen=True, slots=True)
class Group:
    """`( steps ) xK`: the steps repeated K times."""

    items: tuple[Step, ...]
    repeat: Repeat
    span: Span


@dataclass(frozen=True, slots=True)
class UnknownStep:
    """A schedule step that is none of the above (SEG308), kept for its span."""

    name: str
    args: tuple[Atom, ...]
    span: Span


Step = TrainStep | QueryStep | WarmupStep | Group | UnknownStep


@dataclass(frozen=True, slots=True)
class Schedule:
    """`schedule epochs|iters { steps }`."""

    unit: Word | None
    items: tuple[Step, ...]
    span: Span
    key_span: Span


# ---- the mmseg pass-through block -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LitNumber:
    """A number inside an `mmseg { … }` literal; `text` as written (a `10k` suffix is not Python: SEG213)."""

    value: int | float
    span: Span
    text: str = ""


@dataclass(frozen=True, slots=True)
class LitString:
    """A string inside an `mmseg { … }` literal."""

    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class LitConst:
    """A bare constant inside an `mmseg { … }` literal (`True`, `None`, …)."""

    name: str  # true/false/True/False/None/null, or an unknown bare name (SEG214)
    span: Span


@dataclass(frozen=True, slots=True)
class LitList:
    """A `[ … ]` list literal."""

    items: tuple[Literal, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LitTuple:
    """A `( … )` tuple literal (a one-element tuple keeps its trailing comma)."""

    items: tuple[Literal, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LitDict:
    """A `{ key: value }` dict literal."""

    pairs: tuple[tuple[Literal, Literal], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LitDictCall:
    """A `dict(k=v, …)` literal."""

    kwargs: tuple[tuple[str, Literal], ...]
    span: Span


Literal = LitNumber | LitString | LitConst | LitList | LitTuple | LitDict | LitDictCall


@dataclass(frozen=True, slots=True)
class Override:
    """One `mmseg` pass-through: `a.b.c = literal`."""

    key: tuple[str, ...]
    key_span: Span
    value: Literal
    span: Span


@dataclass(frozen=True, slots=True)
class Mmseg:
    """The `mmseg { overrides }` block."""

    overrides: tuple[Override, ...]
    span: Span
    key_span: Span


Statement = Setting | Schedule | Mmseg


@dataclass(frozen=True, slots=True)
class Block:
    """A `{ … }` block of statements."""

    items: tuple[Statement, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Experiment:
    """The whole file: `experiment NAME { … }`."""

    name: str
    name_span: Span
    block: Block
    span: Span
