"""The typed AST: frozen dataclasses, each with the `.span` of the text it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from segal_dsl.source import Span


# ---- atoms: the words after a setting's key -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Percent:
    value: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Word:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Dims:
    width: int
    height: int
    span: Span


@dataclass(frozen=True, slots=True)
class Comma:
    span: Span


Atom = Union[Number, Percent, String, Word, Dims, Comma]


# ---- statements -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Setting:
    """`key arg* { … }?`: the validator decides what the key and its words mean."""

    key: str
    key_span: Span
    args: tuple[Atom, ...]
    block: "Block | None"
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    count: int
    span: Span


@dataclass(frozen=True, slots=True)
class TrainStep:
    length: Number
    repeat: Repeat | None
    span: Span


@dataclass(frozen=True, slots=True)
class QueryStep:
    span: Span


@dataclass(frozen=True, slots=True)
class WarmupStep:
    length: Number
    span: Span


@dataclass(frozen=True, slots=True)
class Group:
    items: tuple["Step", ...]
    repeat: Repeat
    span: Span


@dataclass(frozen=True, slots=True)
class UnknownStep:
    name: str
    args: tuple[Atom, ...]
    span: Span


Step = Union[TrainStep, QueryStep, WarmupStep, Group, UnknownStep]


@dataclass(frozen=True, slots=True)
class Schedule:
    unit: Word | None
    items: tuple[Step, ...]
    span: Span
    key_span: Span


# ---- the mmseg pass-through block -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LitNumber:
    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class LitString:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class LitConst:
    name: str  # true/false/True/False/None/null, or an unknown bare name (SEG214)
    span: Span


@dataclass(frozen=True, slots=True)
class LitList:
    items: tuple["Literal", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LitTuple:
    items: tuple["Literal", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LitDict:
    pairs: tuple[tuple["Literal", "Literal"], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LitDictCall:
    kwargs: tuple[tuple[str, "Literal"], ...]
    span: Span


Literal = Union[LitNumber, LitString, LitConst, LitList, LitTuple, LitDict, LitDictCall]


@dataclass(frozen=True, slots=True)
class Override:
    key: tuple[str, ...]
    key_span: Span
    value: Literal
    span: Span


@dataclass(frozen=True, slots=True)
class Mmseg:
    overrides: tuple[Override, ...]
    span: Span
    key_span: Span


Statement = Union[Setting, Schedule, Mmseg]


@dataclass(frozen=True, slots=True)
class Block:
    items: tuple[Statement, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    name_span: Span
    block: Block
    span: Span
