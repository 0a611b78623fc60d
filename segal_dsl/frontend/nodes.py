"""The typed AST: frozen records (values.Value: cheaper to define than dataclasses, which a cold `segal check`
would pay for at every start), each with the `.span` of the text it came from."""

from __future__ import annotations

from segal_dsl.source import Span
from segal_dsl.values import Value


# ---- atoms: the words after a setting's key -------------------------------------------------------
class Number(Value):
    """A number as written (`2975`, `24_371_200`, `1e-4`, `10k`); `text` keeps the spelling for fmt."""

    __slots__ = ("value", "text", "span")
    value: int | float
    text: str
    span: Span


class Percent(Value):
    """A number directly followed by `%` (`1%`); `value` is the number of percent."""

    __slots__ = ("value", "text", "span")
    value: float
    text: str
    span: Span


class String(Value):
    """A quoted string, escapes resolved."""

    __slots__ = ("value", "span")
    value: str
    span: Span


class Word(Value):
    """A bare name (`pixel`, `true`, `per`, `least-confidence`)."""

    __slots__ = ("name", "span")
    name: str
    span: Span


class Dims(Value):
    """A size `WIDTHxHEIGHT` (`1280x640`), or a pair such as `crop_size 384x384`."""

    __slots__ = ("width", "height", "span")
    width: int
    height: int
    span: Span


class Comma(Value):
    """A `,` between list items (`base "a.py", "b.py"`)."""

    __slots__ = ("span",)
    span: Span


Atom = Number | Percent | String | Word | Dims | Comma


# ---- statements -------------------------------------------------------------------------------------
class Setting(Value):
    """`key arg* { … }?`: the validator decides what the key and its words mean."""

    __slots__ = ("key", "key_span", "args", "block", "span")
    key: str
    key_span: Span
    args: tuple[Atom, ...]
    block: Block | None
    span: Span


class Repeat(Value):
    """The `xK` of `train N xK` or `( … ) xK`."""

    __slots__ = ("count", "span")
    count: int
    span: Span


class TrainStep(Value):
    """`train N` (or `train N xK`: K times train N then query)."""

    __slots__ = ("length", "repeat", "span")
    length: Number
    repeat: Repeat | None
    span: Span


class QueryStep(Value):
    """`query`: one query with the round's budget; `query at 10k, 12k`: one at each absolute position."""

    __slots__ = ("span", "at")
    DEFAULTS = {"at": ()}
    span: Span
    at: tuple[Number, ...]


class WarmupStep(Value):
    """`warmup N`: MAE-only training before the first round (multitask runner)."""

    __slots__ = ("length", "span")
    length: Number
    span: Span


class Group(Value):
    """`( steps ) xK`: the steps repeated K times."""

    __slots__ = ("items", "repeat", "span")
    items: tuple[Step, ...]
    repeat: Repeat
    span: Span


class UnknownStep(Value):
    """A schedule step that is none of the above (SEG308), kept for its span."""

    __slots__ = ("name", "args", "span")
    name: str
    args: tuple[Atom, ...]
    span: Span


Step = TrainStep | QueryStep | WarmupStep | Group | UnknownStep


class Schedule(Value):
    """`schedule epochs|iters { steps }`."""

    __slots__ = ("unit", "items", "span", "key_span")
    unit: Word | None
    items: tuple[Step, ...]
    span: Span
    key_span: Span


# ---- the mmseg pass-through block -------------------------------------------------------------------
class LitNumber(Value):
    """A number inside an `mmseg { … }` literal; `text` as written (a `10k` suffix is not Python: SEG213)."""

    __slots__ = ("value", "span", "text")
    DEFAULTS = {"text": ""}
    value: int | float
    span: Span
    text: str


class LitString(Value):
    """A string inside an `mmseg { … }` literal."""

    __slots__ = ("value", "span")
    value: str
    span: Span


class LitConst(Value):
    """A bare constant inside an `mmseg { … }` literal (`True`, `None`, …)."""

    __slots__ = ("name", "span")
    name: str  # true/false/True/False/None/null, or an unknown bare name (SEG214)
    span: Span


class LitList(Value):
    """A `[ … ]` list literal."""

    __slots__ = ("items", "span")
    items: tuple[Literal, ...]
    span: Span


class LitTuple(Value):
    """A `( … )` tuple literal (a one-element tuple keeps its trailing comma)."""

    __slots__ = ("items", "span")
    items: tuple[Literal, ...]
    span: Span


class LitDict(Value):
    """A `{ key: value }` dict literal."""

    __slots__ = ("pairs", "span")
    pairs: tuple[tuple[Literal, Literal], ...]
    span: Span


class LitDictCall(Value):
    """A `dict(k=v, …)` literal."""

    __slots__ = ("kwargs", "span")
    kwargs: tuple[tuple[str, Literal], ...]
    span: Span


Literal = LitNumber | LitString | LitConst | LitList | LitTuple | LitDict | LitDictCall


class Override(Value):
    """One `mmseg` pass-through: `a.b.c = literal`."""

    __slots__ = ("key", "key_span", "value", "span")
    key: tuple[str, ...]
    key_span: Span
    value: Literal
    span: Span


class Mmseg(Value):
    """The `mmseg { overrides }` block."""

    __slots__ = ("overrides", "span", "key_span")
    overrides: tuple[Override, ...]
    span: Span
    key_span: Span


Statement = Setting | Schedule | Mmseg


class Block(Value):
    """A `{ … }` block of statements."""

    __slots__ = ("items", "span")
    items: tuple[Statement, ...]
    span: Span


class Experiment(Value):
    """The whole file: `experiment NAME { … }`."""

    __slots__ = ("name", "name_span", "block", "span")
    name: str
    name_span: Span
    block: Block
    span: Span
