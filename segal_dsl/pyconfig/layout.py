"""Line-breaking of nested literals, shared by the config emitter (Python) and `segal import` (.seg)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def break_lines(value: Any, indent: int, flat: Callable[[Any], str], kwarg_keys: Callable[[dict], bool],
                width: int) -> str:
    """`flat(value)` when it fits in `width` columns; otherwise one item per line, recursively, with
    `dict(k=v)` for dicts whose keys `kwarg_keys` accepts and `{k: v}` for the others."""
    text = flat(value)
    if len(text) + indent <= width or not isinstance(value, (dict, list, tuple)) or not value:
        return text
    pad, inner = " " * indent, " " * (indent + 4)

    def sub(v: Any) -> str:
        return break_lines(v, indent + 4, flat, kwarg_keys, width)

    if isinstance(value, dict):
        if kwarg_keys(value):
            return "dict(\n" + "\n".join(f"{inner}{k}={sub(v)}," for k, v in value.items()) + f"\n{pad})"
        return "{\n" + "\n".join(f"{inner}{flat(k)}: {sub(v)}," for k, v in value.items()) + f"\n{pad}}}"
    open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
    return open_ + "\n" + "\n".join(f"{inner}{sub(v)}," for v in value) + f"\n{pad}{close}"
