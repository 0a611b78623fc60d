"""Statistics of learning curves over seeds: bootstrap intervals, area under the curve, labels to a target.

Pure Python with a seeded generator, so the report's numbers are the same on every machine (golden JSON).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

BOOTSTRAP = 2000     # resamples per interval
LEVEL = 0.95


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def bootstrap(xs: Sequence[float], seed: int = 0) -> dict[str, float | int]:
    """Mean and a percentile bootstrap 95% interval of the mean; one value gives a zero-width interval."""
    xs = [float(x) for x in xs]
    m = mean(xs)
    if len(xs) < 2:
        return {"mean": round(m, 6), "lo": round(m, 6), "hi": round(m, 6), "n": len(xs)}
    rng = random.Random(seed)
    n = len(xs)
    means = sorted(sum(xs[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP))
    lo = means[int((1 - LEVEL) / 2 * BOOTSTRAP)]
    hi = means[min(int((1 + LEVEL) / 2 * BOOTSTRAP), BOOTSTRAP - 1)]
    return {"mean": round(m, 6), "lo": round(lo, 6), "hi": round(hi, 6), "n": n}


def bootstrap_difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> dict[str, float | int]:
    """mean(a) - mean(b) with a 95% interval, each side resampled on its own (seeds need not pair)."""
    rng = random.Random(seed)
    a, b = [float(x) for x in a], [float(x) for x in b]
    d = mean(a) - mean(b)
    if len(a) < 2 and len(b) < 2:
        return {"mean": round(d, 6), "lo": round(d, 6), "hi": round(d, 6), "n": min(len(a), len(b))}
    diffs = sorted(mean([a[rng.randrange(len(a))] for _ in a]) - mean([b[rng.randrange(len(b))] for _ in b])
                   for _ in range(BOOTSTRAP))
    return {"mean": round(d, 6), "lo": round(diffs[int((1 - LEVEL) / 2 * BOOTSTRAP)], 6),
            "hi": round(diffs[min(int((1 + LEVEL) / 2 * BOOTSTRAP), BOOTSTRAP - 1)], 6),
            "n": min(len(a), len(b))}


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> dict[str, float | int]:
    """mean(a[i] - b[i]) with a 95% interval, the pairs resampled together (a[i] and b[i] share a seed).

    The bootstrap of the per-pair differences: what the seeds share (initial labels, model init) cancels,
    so the interval is narrower than `bootstrap_difference`'s when the seeds differ more than the
    strategies. With 3 pairs it is the range of the 3 differences (each pair is drawn 3 times in a
    resample with probability 1/27 > 2.5%)."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference: {len(a)} and {len(b)} values do not pair")
    return bootstrap([float(x) - float(y) for x, y in zip(a, b)], seed)


def aulc(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Area under the learning curve divided by its label range: the mean mIoU over the budget (trapezoids).

    One point: its mIoU. The normalisation keeps runs with the same budgets comparable in mIoU units."""
    pts = sorted(zip(xs, ys))
    if not pts:
        return None
    if len(pts) == 1 or pts[-1][0] == pts[0][0]:
        return float(pts[-1][1])
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))
    return area / (pts[-1][0] - pts[0][0])


def labels_to_reach(xs: Sequence[float], ys: Sequence[float], target: float) -> float | None:
    """The fewest labels at which the curve reaches `target` (linear between rounds), None if never."""
    pts = sorted(zip(xs, ys))
    for i, (x, y) in enumerate(pts):
        if y >= target:
            if i == 0:
                return float(x)
            x0, y0 = pts[i - 1]
            return float(x0 + (x - x0) * (target - y0) / (y - y0))
    return None
