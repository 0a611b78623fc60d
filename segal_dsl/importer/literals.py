"""`.seg` text for imported values: string, number and literal writers that read back to equal values."""

from __future__ import annotations

import math
import os
import re
from decimal import Decimal
from typing import Any

from segal_dsl.pyconfig.evaluate import is_number
from segal_dsl.pyconfig.layout import break_lines

HELPER_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*\Z")  # upper-case helpers: nothing in the reference reads them

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
KEYWORDS = {"experiment", "schedule", "train", "query", "warmup", "mmseg", "dict"}


class NotExpressible(ValueError):
    """A value that has no `.seg` spelling."""


def seg_string(text: str) -> str:
    """A .seg string literal (docs/language.md escapes) that reads back as `text`."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in "\n\t\r\0":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}[ch])
        elif 0xD800 <= code <= 0xDFFF:
            raise NotExpressible("a lone surrogate cannot be written as UTF-8")
        elif code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def seg_number(value: Any, plain: bool = False) -> str:
    """A number the .seg lexer reads back to an equal value; `plain` avoids exponents (for `N%`)."""
    if not is_number(value):
        raise NotExpressible(f"`{value!r}` is not a number")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise NotExpressible(f"`{value!r}` is not a finite number")
    return format(Decimal(repr(value)), "f") if plain else repr(value)


def seg_literal(value: Any, indent: int = 0) -> str:
    """An mmseg-block literal; long containers are broken over lines (a comma may end a line)."""
    return break_lines(value, indent, _flat_literal, _kwarg_keys, 96)


def _kwarg_keys(d: dict) -> bool:
    return all(isinstance(k, str) and _NAME.match(k) for k in d)


def _flat_literal(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if is_number(value):
        return seg_number(value)
    if isinstance(value, str):
        return seg_string(value)
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise NotExpressible(f"a dict key `{k!r}` is not a string, number, bool or None")
        if _kwarg_keys(value):
            return "dict(" + ", ".join(f"{k}={_flat_literal(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{_flat_literal(k)}: {_flat_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        if len(value) == 1:
            return "(" + _flat_literal(value[0]) + ",)"
        return "(" + ", ".join(_flat_literal(v) for v in value) + ")"
    raise NotExpressible(f"cannot write a {type(value).__name__}")


def experiment_name(path: str, meta: Any) -> str:
    """The experiment's name: `segal_meta.experiment` of a compiled config, else the file's stem."""
    if isinstance(meta, dict):
        name = meta.get("experiment")
        if isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z_][A-Za-z0-9_]*)*", name):
            return name
    stem = os.path.splitext(os.path.basename(path))[0] or "imported"
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    if not re.match(r"[A-Za-z_]", name):
        name = "exp_" + name
    return name + "_exp" if name in KEYWORDS else name
