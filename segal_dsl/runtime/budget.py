"""Resolve a BudgetSpec (docs/compiled-config.md) against the real query pool into per-image quotas.

A spec is an int (total pixels over the pool) or dict(value=<float>, unit=<unit>). Quotas are what a
round *plans* to add; selection clamps an image to its unlabelled pixels and the runner warns.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

UNITS = ("px/img", "%/img", "%", "regions/img")

Size = tuple[int, int]


def _check_sizes(sizes: Sequence[Size]) -> list[Size]:
    out: list[Size] = []
    for i, s in enumerate(sizes):
        try:
            h, w = (int(v) for v in s)
        except (TypeError, ValueError):
            raise ValueError(f"pool image {i}: size must be an (H, W) pair, got {s!r}") from None
        if h <= 0 or w <= 0 or (h, w) != tuple(s):
            raise ValueError(f"pool image {i}: size must be positive integers (H, W), got {s!r}")
        out.append((h, w))
    return out


def _check_int(value: Any, what: str) -> int:
    # bool is an int subclass: `budget_per_round=True` is a typo, not "1 pixel".
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)


def distribute(total: int, n: int) -> list[int]:
    """Split `total` over `n` images exactly: image i gets total//n + (1 if i < total % n else 0).

    The reference floored `total // N` and silently lost the remainder (and labelled nothing when
    total < N).
    """
    total = _check_int(total, "budget total")
    if n == 0:
        if total:
            raise ValueError(f"cannot distribute a budget of {total} pixels over an empty pool")
        return []
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def _parse_spec(spec: Any) -> tuple[float, str]:
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"budget must be an int (total pixels) or dict(value=..., unit=...), got {spec!r}"
        )
    keys = set(spec)
    if keys != {"value", "unit"}:
        missing = sorted({"value", "unit"} - keys)
        extra = sorted(keys - {"value", "unit"})
        parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else ""]
        raise ValueError(f"budget dict needs exactly keys value and unit: {', '.join(p for p in parts if p)}")
    value, unit = spec["value"], spec["unit"]
    if unit not in UNITS:
        raise ValueError(f"unknown budget unit {unit!r}; expected one of: {', '.join(UNITS)}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"budget value must be a number, got {value!r}")
    if not value >= 0 or value == float("inf"):  # also rejects NaN
        raise ValueError(f"budget value must be a finite number >= 0, got {value!r}")
    if unit in ("%/img", "%") and value > 100:
        raise ValueError(f"budget of {value}{unit[0]} exceeds 100%")
    return float(value), unit


def per_image_quotas(spec: int | Mapping[str, Any], sizes: Sequence[Size], radius: int = 1) -> list[int]:
    """Per-image pixel quotas for one round (or the initial labels), in pool order.

    int: a total, distributed exactly. 'px/img': int(value). '%/img': int(H·W·value/100) (floor,
    as the reference's int(1280*640*0.01)). '%': total int(ΣH·W·value/100), then as an int total.
    'regions/img': int(value)·(2r+1)², r = `radius` (the reference ignored the configured radius).
    """
    pool = _check_sizes(sizes)
    if isinstance(spec, numbers.Integral):  # bool included: distribute() rejects it by name
        return distribute(spec, len(pool))
    value, unit = _parse_spec(spec)
    if unit == "px/img":
        return [int(value)] * len(pool)
    if unit == "%/img":
        return [int(h * w * value / 100) for h, w in pool]
    if unit == "%":
        return distribute(int(sum(h * w for h, w in pool) * value / 100), len(pool))
    # regions/img
    r = _check_int(radius, "region radius")
    return [int(value) * (2 * r + 1) ** 2] * len(pool)


def total_budget(spec: int | Mapping[str, Any], sizes: Sequence[Size], radius: int = 1) -> int:
    """Total pixels a round plans to add over the pool: Σ per_image_quotas(spec, sizes, radius)."""
    return sum(per_image_quotas(spec, sizes, radius))


def over_quota(quotas: Sequence[int], sizes: Sequence[Size]) -> list[int]:
    """Indices of images whose quota exceeds their pixel count (the runner warns about them)."""
    return [i for i, (q, (h, w)) in enumerate(zip(quotas, _check_sizes(sizes), strict=True)) if q > h * w]
