"""Budget units and their arithmetic: the one definition of how many labels an amount buys.

An amount is written in a `.seg` file with a unit (`1% per image`, `8192 px`, `4 regions per image`), is
compiled into a *budget spec* (docs/compiled-config.md), and is resolved against the query pool by the
runtime into per-image pixel quotas. The plan (`segal plan`) resolves the same spec against the pool that
the `.seg` file states, with the same function, so the numbers it prints are the numbers the run buys.

A budget spec is an `int` (a total over the pool: pixels, or images in image mode) or
`dict(value=<number>, unit=<unit>)`, resolved at run time against the real pool. `budget X total` is split
over the queries (`split_total`): one spec per query; a percentage's share is `dict(…, share=[k, n])`, the
k-th of n exact shares of the pixels the percentage resolves to.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Size = tuple[int, int]  # (H, W) of one pool image at the label resolution
BudgetSpec = int | dict


@dataclass(frozen=True)
class Unit:
    """One unit of an amount of labels: how a `.seg` file writes it, which modes take it, how it compiles."""

    key: str            # the validated model's and the compiled spec's spelling, e.g. "%/img"
    text: str           # how a `.seg` file writes it after the number, e.g. "% per image"
    counts: str         # "px", "images", "regions" or "superpixels"
    per_image: bool     # the amount is per pool image (else a total over the pool)
    percent: bool       # the amount is a percentage of pixels
    compiled_as_dict: bool  # the spec keeps value + unit (resolved at run time); else an int total
    modes: tuple[str, ...]  # the sample modes that take it
    words: tuple[str, ...] = ()  # the words a `.seg` file may write for it (before `per image`, if any)


_PX_MODES = ("pixel", "region")
_SP_WORDS = ("superpixel", "superpixels", "sp")
UNITS: dict[str, Unit] = {u.key: u for u in (
    Unit("px", "px", "px", False, False, False, _PX_MODES, ("px", "pixel", "pixels")),
    Unit("px/img", "px per image", "px", True, False, True, _PX_MODES, ("px", "pixel", "pixels")),
    Unit("%/img", "% per image", "px", True, True, True, _PX_MODES),
    Unit("%", "%", "px", False, True, True, _PX_MODES),
    Unit("images", "images", "images", False, False, False, ("image",), ("image", "images")),
    Unit("regions", "regions", "regions", False, False, False, ("region",), ("region", "regions")),
    Unit("regions/img", "regions per image", "regions", True, False, True, ("region",), ("region", "regions")),
    # A superpixel's pixels are known only once SLIC has run on the image: the spec keeps the count (clicks).
    Unit("superpixels", "superpixels", "superpixels", False, False, True, ("superpixel",), _SP_WORDS),
    Unit("superpixels/img", "superpixels per image", "superpixels", True, False, True, ("superpixel",), _SP_WORDS),
)}
UNIT_KEYS: tuple[str, ...] = tuple(UNITS)
RUNTIME_UNITS: tuple[str, ...] = tuple(k for k, u in UNITS.items() if u.compiled_as_dict)
WHOLE_UNITS: tuple[str, ...] = tuple(k for k, u in UNITS.items() if not u.percent)  # counts: whole numbers


def unit_of_words(word: str, per_image: bool) -> str | None:
    """The unit a `.seg` file means by `N <word>` (`per_image`: followed by `per image`); None if none."""
    return next((u.key for u in UNITS.values() if word in u.words and u.per_image == per_image), None)


def percent_unit(per_image: bool) -> str:
    """The unit of `N%` (`per_image`: `N% per image`)."""
    return next(u.key for u in UNITS.values() if u.percent and u.per_image == per_image)


def unit_words() -> tuple[str, ...]:
    """Every unit word a `.seg` file may write, for "did you mean"."""
    return tuple(dict.fromkeys(w for u in UNITS.values() for w in u.words))


def unit_text(unit: str) -> str:
    """How a unit reads in a `.seg` file and in messages (`%/img` -> `% per image`)."""
    return UNITS[unit].text if unit in UNITS else unit


def amount_text(value: float | int, unit: str | None) -> str:
    """An amount as a `.seg` file writes it: `1% per image`, `8192 px`, `0`."""
    if unit is None:
        return "0"
    u = UNITS[unit]
    number = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{number}{u.text}" if u.percent else f"{number} {u.text}"


def is_zero(spec: Any) -> bool:
    """A budget spec that buys nothing (0, or a dict whose value is 0)."""
    return spec["value"] == 0 if isinstance(spec, Mapping) else spec == 0


def region_area(radius: int) -> int:
    """Pixels of one region: a (2r+1)x(2r+1) square (the reference ignored its configured radius)."""
    return (2 * int(radius) + 1) ** 2


def regions_of(px: float, radius: int) -> float:
    """How many regions a pixel quota makes: the runtime buys squares and cuts the last one to the quota."""
    return px / region_area(radius)


def compile_amount(value: float | int, unit: str | None, radius: int = 1) -> BudgetSpec:
    """A `.seg` amount -> its budget spec. Totals in px/images/regions become an int (regions as pixels);
    per-image and percent amounts keep their unit and are resolved against the real pool at run time."""
    if unit is None:
        return 0
    number = int(value) if float(value).is_integer() else float(value)
    u = UNITS[unit]
    if not u.compiled_as_dict:
        return int(number) * (region_area(radius) if u.counts == "regions" else 1)
    if not u.percent:
        number = int(number)
    return {"value": number, "unit": unit}


def split_total(value: float | int, unit: str | None, queries: int, radius: int = 1) -> list[BudgetSpec]:
    """`budget X total` -> one budget spec per query, summing exactly to X, the remainder to the earliest
    queries. Counts are split here, in their own unit (regions before they become pixels); a percentage
    becomes shares resolved against the real pool (`share=[k, n]`), so the pixels it means are split exactly."""
    if unit is None or queries == 0:
        return [compile_amount(value, unit, radius)] * queries
    if UNITS[unit].percent:
        number = int(value) if float(value).is_integer() else float(value)
        return [{"value": number, "unit": unit, "share": [k, queries]} for k in range(1, queries + 1)]
    return [compile_amount(part, unit, radius) for part in distribute(int(value), queries)]


def join_shares(shares: Sequence[Any], radius: int = 1) -> tuple[float | int, str] | None:
    """The `budget X total` (value, unit) whose `split_total` is exactly `shares`; None when there is none.
    Integer shares are pixels (or images), or regions when a split of whole regions gives them."""
    first = shares[0] if shares else None
    if isinstance(first, Mapping) and "share" in first:
        candidates = [(first["value"], first["unit"])]
    elif isinstance(first, Mapping):
        candidates = [(sum(s["value"] for s in shares if isinstance(s, Mapping)), first.get("unit"))]
    elif isinstance(first, numbers.Integral) and not isinstance(first, bool):
        total = sum(int(s) for s in shares if isinstance(s, numbers.Integral))
        area = region_area(radius)
        candidates = [(total, "px")] + ([(total // area, "regions")] if total % area == 0 else [])
    else:
        return None
    for value, unit in candidates:
        try:
            if unit in UNITS and split_total(value, unit, len(shares), radius) == list(shares):
                return value, unit
        except (TypeError, ValueError):
            continue
    return None


def share_of(count: int, share: Sequence[int]) -> int:
    """The k-th (1-based) of n exact shares of `count`: the remainder goes to the earliest shares."""
    k, n = share
    return count // n + (1 if k - 1 < count % n else 0)


def decompile_amount(spec: Any) -> tuple[float | int, str | None]:
    """A budget spec -> (value, unit) as a `.seg` writes it; an int is a pixel (or image) total."""
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        return int(spec), ("px" if spec else None)
    _, unit = parse_spec(spec)
    return spec["value"], unit


# ---- the runtime's arithmetic (also the plan's) --------------------------------------------------------
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


def check_count(value: Any, what: str) -> int:
    """A non-negative int; `True` is a typo, not "1 pixel" (bool is an int subclass)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)


def distribute(total: int, n: int) -> list[int]:
    """Split `total` over `n` images exactly: image i gets total//n + (1 if i < total % n else 0).

    The reference floored `total // N` and silently lost the remainder (and labelled nothing when
    total < N): docs/reference.md §3.
    """
    total = check_count(total, "budget total")
    if n == 0:
        if total:
            raise ValueError(f"cannot distribute a budget of {total} pixels over an empty pool")
        return []
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def parse_spec(spec: Any) -> tuple[float, str]:
    """Check a dict budget spec; returns (value, unit). Raises ValueError naming what is wrong."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"budget must be an int (total pixels) or dict(value=..., unit=...), got {spec!r}")
    keys = set(spec)
    if keys - {"share"} != {"value", "unit"}:
        missing = sorted({"value", "unit"} - keys)
        extra = sorted(keys - {"value", "unit", "share"})
        parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else ""]
        raise ValueError(f"budget dict needs exactly keys value and unit: {', '.join(p for p in parts if p)}")
    value, unit = spec["value"], spec["unit"]
    if unit not in RUNTIME_UNITS:
        raise ValueError(f"unknown budget unit {unit!r}; expected one of: {', '.join(RUNTIME_UNITS)}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"budget value must be a number, got {value!r}")
    if not value >= 0 or value == float("inf"):  # also rejects NaN
        raise ValueError(f"budget value must be a finite number >= 0, got {value!r}")
    if UNITS[unit].percent and value > 100:
        raise ValueError(f"budget of {value}% exceeds 100%")
    if "share" in spec:
        _check_share(spec["share"])
    return float(value), unit


def _check_share(share: Any) -> None:
    ok = (isinstance(share, (list, tuple)) and len(share) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in share) and 1 <= share[0] <= share[1])
    if not ok:
        raise ValueError(f"budget share must be [k, n] with 1 <= k <= n (the k-th of n shares), got {share!r}")


def per_image_quotas(spec: BudgetSpec | Mapping[str, Any], sizes: Sequence[Size], radius: int = 1) -> list[int]:
    """Per-image pixel quotas for one round (or the initial labels), in pool order.

    int: a total, distributed exactly. 'px/img': int(value). '%/img': int(H·W·value/100) (floor, as the
    reference's int(1280*640*0.01)). '%': total int(ΣH·W·value/100), then as an int total.
    'regions/img': int(value)·(2r+1)². With `share=[k, n]`: the k-th of n exact shares of that count (per image,
    or of the pool's total for '%'; regions are split before they become pixels).
    """
    pool = _check_sizes(sizes)
    if isinstance(spec, numbers.Integral):  # bool included: distribute() rejects it by name
        return distribute(spec, len(pool))
    value, unit = parse_spec(spec)
    if UNITS[unit].counts == "superpixels":
        raise ValueError(f"a budget of {unit_text(unit)} counts superpixels, not pixels: see superpixel_quotas")
    share = spec.get("share")

    def part(count: int) -> int:
        return share_of(count, share) if share else count

    if unit == "px/img":
        return [part(int(value))] * len(pool)
    if unit == "%/img":
        return [part(int(h * w * value / 100)) for h, w in pool]
    if unit == "%":
        return distribute(part(int(sum(h * w for h, w in pool) * value / 100)), len(pool))
    r = check_count(radius, "region radius")  # regions/img
    return [part(int(value)) * region_area(r)] * len(pool)


def is_superpixel_spec(spec: Any) -> bool:
    """A budget spec that counts superpixels (`sample superpixel`)."""
    return isinstance(spec, Mapping) and UNITS.get(spec.get("unit"), UNITS["px"]).counts == "superpixels"


def superpixel_quotas(spec: BudgetSpec | Mapping[str, Any], images: int) -> list[int]:
    """Superpixels (clicks) each of `images` pool images buys in one round: 'superpixels/img': int(value) each;
    'superpixels': a total, distributed exactly (`distribute`); 0 buys nothing."""
    if isinstance(spec, numbers.Integral):
        if check_count(spec, "superpixel budget"):
            raise ValueError(f"a superpixel budget needs a unit (superpixels), got the pixel total {spec}")
        return [0] * images
    value, unit = parse_spec(spec)
    if UNITS[unit].counts != "superpixels":
        raise ValueError(f"`sample superpixel` counts superpixels, not {unit_text(unit)}")
    return [int(value)] * images if UNITS[unit].per_image else distribute(int(value), images)


def total_budget(spec: BudgetSpec | Mapping[str, Any], sizes: Sequence[Size], radius: int = 1) -> int:
    """Total pixels a round plans to add over the pool: Σ per_image_quotas(spec, sizes, radius)."""
    return sum(per_image_quotas(spec, sizes, radius))


def over_quota(quotas: Sequence[int], sizes: Sequence[Size]) -> list[int]:
    """Indices of images whose quota exceeds their pixel count (the runner warns about them)."""
    return [i for i, (q, (h, w)) in enumerate(zip(quotas, _check_sizes(sizes), strict=True)) if q > h * w]


@dataclass(frozen=True)
class Estimate:
    """What a budget spec buys on a pool known only as far as the `.seg` file (or the run) states it.

    `per_image` is pixels per image (the mean when a total is split), `per_image_percent` its share of an
    image, `total` the sum over the pool; each is None when the pool does not determine it.
    """

    unit: str                       # "px", "images" or "superpixels" (then per_image/total count superpixels)
    per_image: float | None = None
    per_image_percent: float | None = None
    total: int | None = None

    def plus(self, other: Estimate, times: int = 1) -> Estimate:
        def add(a, b):
            return None if a is None or b is None else a + b * times
        return Estimate(self.unit, add(self.per_image, other.per_image),
                        add(self.per_image_percent, other.per_image_percent), add(self.total, other.total))

    def as_dict(self) -> dict:
        return {"unit": self.unit, "per_image": self.per_image, "per_image_percent": self.per_image_percent,
                "total": self.total}


def estimate(spec: BudgetSpec, mode: str, images: int | None, resolution: tuple[int, int] | None,
             radius: int = 1, sizes: Sequence[Size] | None = None) -> Estimate:
    """Resolve a budget spec against a pool of `images` images of `resolution` (W, H), either unknown, or
    against the (H, W) `sizes` of a pool found on disk.

    With the pool known this is exactly `per_image_quotas` over it, so the plan's totals are the run's.
    """
    if mode == "image":
        return Estimate("images", total=check_count(spec, "image budget"))
    if mode == "superpixel":  # counts of superpixels; their pixels are known once SLIC has run
        n = len(sizes) if sizes else images
        if n:
            total = sum(superpixel_quotas(spec, n))
            return Estimate("superpixels", _mean(total, n), None, total)
        if is_zero(spec):
            return Estimate("superpixels", 0, None, 0)
        value, unit = parse_spec(spec)
        per_image = UNITS[unit].per_image
        return Estimate("superpixels", int(value) if per_image else None, None, None if per_image else int(value))
    if sizes:
        total = sum(per_image_quotas(spec, sizes, radius))
        per_image = _mean(total, len(sizes))
        mean_hw = sum(h * w for h, w in sizes) / len(sizes)
        return Estimate("px", per_image, _percent_of(spec, per_image, mean_hw), total)
    hw = resolution[0] * resolution[1] if resolution else None
    if images and hw:
        total = _uniform_total(spec, images, (resolution[1], resolution[0]), radius)
        per_image = _mean(total, images)
        return Estimate("px", per_image, _percent_of(spec, per_image, hw), total)
    if isinstance(spec, numbers.Integral):
        if spec == 0:
            return Estimate("px", 0, 0, 0)
        per_image = _mean(spec, images) if images else None
        return Estimate("px", per_image, 100 * per_image / hw if per_image is not None and hw else None, int(spec))
    value, unit = parse_spec(spec)
    if "share" in spec:  # a share of a percentage on a pool of unknown size: its mean, 1/n of the amount
        n = spec["share"][1]
        return Estimate("px", None, value / n, None)
    per_image = {"px/img": int(value), "regions/img": int(value) * region_area(radius),
                 "%/img": int(hw * value / 100) if hw else None}.get(unit)
    percent = value if UNITS[unit].percent else (100 * per_image / hw if per_image is not None and hw else None)
    total = per_image * images if per_image is not None and images else None
    return Estimate("px", per_image, percent, total)


def _uniform_total(spec: BudgetSpec, n: int, size: Size, radius: int) -> int:
    """Σ per_image_quotas(spec, [size] * n): totals are split exactly, per-image quotas are all alike."""
    if isinstance(spec, numbers.Integral):
        return check_count(spec, "budget total")
    _, unit = parse_spec(spec)
    if unit == "%":
        return sum(per_image_quotas(spec, [(size[0] * n, size[1])], radius))  # one image of n·H·W pixels
    return per_image_quotas(spec, [size], radius)[0] * n


def _percent_of(spec: BudgetSpec, per_image: float, hw: float) -> float:
    """The percentage a `%` spec states (exactly), else the pixels' share of an image."""
    if isinstance(spec, Mapping) and UNITS[spec["unit"]].percent and "share" not in spec:
        return float(spec["value"])
    return 100 * per_image / hw if per_image else 0


def _mean(total: int, n: int) -> float:
    """total / n, an int when it divides exactly (the plan shows whole pixels as whole numbers)."""
    return total // n if total % n == 0 else total / n
