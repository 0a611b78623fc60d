"""Seeded, deterministic selection of new labels with exact budgets (numpy only).

Scores are "higher = more informative" maps from `heuristics`. Every function returns only NEW
labels and takes exactly min(quota, #unlabelled) of them: already-labelled pixels never count.

RNG policy: the caller derives one generator per (seed, round, image index) with `rng_for`, never
one stream shared across images. A pick then depends only on (seed, round, index, scores, labels),
not on iteration order, sharding or the number of ranks; the reference drew from the global numpy
RNG, so forked workers replayed one stream and turning visualisation on changed later draws.
Ties in scores are broken towards the lower (image index, flat pixel index), also order-free.

The per-image pickers (`pick_*`) read scores through `Ranked`: the unlabelled pixels in (score desc,
position asc) order, a prefix at a time. `select_*` hand them a numpy map (`DenseRanked`); the query hands
them maps kept on the scores' device (runtime/ranking.py), so only the prefixes a pick reads reach the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from segal_dsl.spec.budget import region_area

Rng = np.random.Generator


def rng_for(seed: int, round: int, index: int | None = None) -> Rng:
    """The generator for one (seed, round, image) — or for a whole-pool pick when index is None."""
    key = [seed, round] if index is None else [seed, round, index]
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in key):
        raise ValueError(f"rng_for needs non-negative ints, got seed={seed!r} round={round!r} index={index!r}")
    return np.random.default_rng([int(v) for v in key])


# The run's random streams and what seeds each; a sweep point's initial labels use the point's seed.
STREAMS = {
    "initial_labels": "rng_for(s, 0, image): the round-0 labels",
    "selection": "rng_for(s, query, image): random scores, tie breaks, threshold pools",
    "model_init": "mmseg set_random_seed(s) before the model is built",
    "data_order": "torch.Generator(s * 1000003 + global epoch): the sampler's shuffle",
    "augmentation": "random/numpy/torch reseeded with s * 1009 + step before every train step",
    "dropout": "training: the augmentation stream; MC-dropout queries: torch.Generator from rng_for(s, query, image)",
}


def stream_seeds(seed: int, initial_seed: int | None = None) -> dict[str, int]:
    """The seed of each random stream of one run (recorded in labels.json `meta.seeds`)."""
    out = dict.fromkeys(STREAMS, int(seed))
    if initial_seed is not None:
        out["initial_labels"] = int(initial_seed)
    return out


# --------------------------------------------------------------------------- helpers


def _as_numpy(x: Any) -> np.ndarray:
    # Accept torch tensors without importing torch here.
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _prepare(scores: Any, labelled: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Flat float64 scores (NaN -> -inf: never preferred, still selectable), flat labelled mask, (H, W)."""
    s = _as_numpy(scores)
    lab = _as_numpy(labelled)
    if s.ndim != 2:
        raise ValueError(f"scores must be shaped (H, W), got {s.shape}")
    if lab.shape != s.shape:
        raise ValueError(f"labelled mask {lab.shape} does not match scores {s.shape}")
    flat = s.astype(np.float64).ravel()
    flat[np.isnan(flat)] = -np.inf
    return flat, lab.astype(bool, copy=False).ravel(), (int(s.shape[0]), int(s.shape[1]))


def _check_quota(quota: Any, what: str = "quota") -> int:
    if isinstance(quota, bool) or not isinstance(quota, (int, np.integer)) or quota < 0:
        raise ValueError(f"{what} must be an int >= 0, got {quota!r}")
    return int(quota)


def _check_threshold(threshold_pct: float | None) -> float | None:
    # docs/reference.md §1a: `sample_threshold=False` asserted; None is the only "off" here.
    if threshold_pct is None:
        return None
    if isinstance(threshold_pct, bool) or not 0 < threshold_pct <= 100:
        raise ValueError(f"threshold must be a percentage in (0, 100], got {threshold_pct!r}")
    return float(threshold_pct)


def pool_size(threshold_pct: float, n_pixels: int) -> int:
    """The top-t% candidate pool: int(t/100 · n), as PixelPick and the reference (docs/reference.md §3c)
    floor it; docs/strategies.md."""
    return int(threshold_pct / 100 * n_pixels)


def _pool_size(threshold_pct: float, n_pixels: int, need: int, available: int) -> int:
    """pool_size, widened to `need` and capped at what is available.

    docs/reference.md §1a: a pool smaller than the quota raised ValueError mid-run; we widen it instead.
    """
    return min(max(pool_size(threshold_pct, n_pixels), need), available)


def dilate(mask: Any, radius: int) -> np.ndarray:
    """Every pixel within the (2r+1)² square of a True pixel (clipped at the borders), as a bool (H, W) mask.

    The suppression zone that RIPU's `PixelSelection` keeps in its `active` indicator across queries.
    """
    m = _as_numpy(mask).astype(bool)
    r = _check_quota(radius, "radius")
    if m.ndim != 2:
        raise ValueError(f"mask must be shaped (H, W), got {m.shape}")
    x = m.astype(np.int64)
    for axis in (0, 1):
        n = x.shape[axis]
        c = np.concatenate([np.zeros_like(x.take([0], axis=axis)), np.cumsum(x, axis=axis)], axis=axis)
        pos = np.arange(n)
        x = c.take(np.minimum(pos + r + 1, n), axis=axis) - c.take(np.maximum(pos - r, 0), axis=axis)
    return x > 0


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest values, ties -> lower position first; returned sorted ascending.

    O(n) with np.partition; the boundary value's ties are resolved by position, which a bare
    argpartition leaves arbitrary.
    """
    n = values.size
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    v = np.partition(values, n - k)[n - k]
    above = np.flatnonzero(values > v)
    ties = np.flatnonzero(values == v)[: k - above.size]
    return np.sort(np.concatenate([above, ties]))


def _ranked(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`positions` ordered by value descending, then position ascending."""
    return positions[np.lexsort((positions, -values[positions]))]


class Ranked(Protocol):
    """One image's scores as the pickers read them (NaN scores rank as -inf: never preferred, still selectable).

    `pool(k)`: the k best unlabelled pixels (score desc, then position asc), as ascending flat positions;
    `order(k)`: the same k in rank order; both return fewer when fewer are unlabelled. `values`: float64
    scores at flat positions. A prefix of `order(k')` is `order(k)` for k < k', so pickers may ask in chunks.
    """

    shape: tuple[int, int]
    labelled: np.ndarray   # flat bool (H·W,)
    n_unlabelled: int

    def pool(self, k: int) -> np.ndarray: ...

    def order(self, k: int) -> np.ndarray: ...

    def values(self, positions: np.ndarray) -> np.ndarray: ...


class DenseRanked:
    """`Ranked` over a numpy score map (H, W) and its labelled mask, ranked lazily (top_k, then a sort of the
    prefix asked for): region selection reads a few thousand of ~10⁶ pixels, so a query stays close to O(H·W)
    instead of a full O(H·W log H·W) sort per image."""

    def __init__(self, scores: Any, labelled: Any) -> None:
        self._flat, self.labelled, self.shape = _prepare(scores, labelled)
        self._unl = np.flatnonzero(~self.labelled)
        self.n_unlabelled = int(self._unl.size)
        self._order = np.empty(0, dtype=np.int64)

    def pool(self, k: int) -> np.ndarray:
        return self._unl[top_k(self._flat[self._unl], k)]

    def order(self, k: int) -> np.ndarray:
        k = min(max(k, 0), self.n_unlabelled)
        if k > self._order.size:
            self._order = _ranked(self._flat, self.pool(k))
        return self._order[:k]

    def values(self, positions: np.ndarray) -> np.ndarray:
        return self._flat[positions]

    def candidates(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(float64 scores, ascending flat positions) of the k best unlabelled pixels: an image's share of a
        global pick."""
        p = self.pool(k)
        return self._flat[p], p


def _descending(ranked: Ranked, first: int) -> Iterator[np.ndarray]:
    """Yield the unlabelled pixels in (score desc, position asc) order, in chunks growing 4x from `first`."""
    done, k = 0, max(first, 1)
    while done < ranked.n_unlabelled:
        chunk = ranked.order(k)
        yield chunk[done:]
        done, k = chunk.size, k * 4


def _best_unpicked(ranked: Ranked, picked: np.ndarray, k: int) -> np.ndarray:
    """The k best unlabelled pixels not in `picked` (a flat bool mask of unlabelled pixels): all of them lie in
    the first k + |picked| of the order."""
    head = ranked.order(k + int(picked.sum()))
    return head[~picked[head]][:k]


# --------------------------------------------------------------------------- pixels


def random_pixels(labelled: Any, quota: int, rng: Rng) -> np.ndarray:
    """Uniform random new labels among the unlabelled pixels of one image, exactly min(quota, #unlabelled)."""
    lab = _as_numpy(labelled).astype(bool, copy=False)
    unl = np.flatnonzero(~lab.ravel())
    k = min(_check_quota(quota), unl.size)
    out = np.zeros(lab.size, dtype=bool)
    out[unl[rng.choice(unl.size, size=k, replace=False)]] = True
    return out.reshape(lab.shape)


def select_pixels(
    scores: Any,
    labelled: Any,
    quota: int,
    threshold_pct: float | None = None,
    rng: Rng | None = None,
    *,
    top_prop: float | None = None,
) -> np.ndarray:
    """New labels for one image: a bool (H, W) mask of exactly min(quota, #unlabelled) pixels.

    No threshold: the top-`quota` scores among unlabelled pixels. Threshold t: a uniform random pick
    of `quota` (with `rng`) from the top int(t/100·H·W) unlabelled pixels (PixelPick). top_prop p
    (the config's `entropy_prop`): int(p·quota) top pixels, the rest uniform among the remaining
    unlabelled ones (the reference's random part could re-pick labelled pixels).
    """
    return pick_pixels(DenseRanked(scores, labelled), quota, threshold_pct, rng, top_prop=top_prop)


def pick_pixels(ranked: Ranked, quota: int, threshold_pct: float | None = None, rng: Rng | None = None, *,
                top_prop: float | None = None) -> np.ndarray:
    """`select_pixels` over a `Ranked` image."""
    lab = ranked.labelled
    t = _check_threshold(threshold_pct)
    k = min(_check_quota(quota), ranked.n_unlabelled)
    out = np.zeros(lab.size, dtype=bool)
    if t is not None and top_prop is not None:
        raise ValueError("threshold_pct and top_prop are exclusive ways to add randomness")
    if (t is not None or top_prop is not None) and rng is None:
        raise ValueError("a threshold or top_prop selection needs rng (see rng_for)")
    if top_prop is not None:
        if not 0 <= top_prop <= 1:
            raise ValueError(f"top_prop must be in [0, 1], got {top_prop!r}")
        n_top = int(top_prop * k)
        out[ranked.pool(n_top)] = True
        rest = np.flatnonzero(~lab & ~out)
        out[rest[rng.choice(rest.size, size=k - n_top, replace=False)]] = True
    elif t is None:
        out[ranked.pool(k)] = True
    else:
        pool = ranked.pool(_pool_size(t, lab.size, k, ranked.n_unlabelled))
        out[pool[rng.choice(pool.size, size=k, replace=False)]] = True
    return out.reshape(ranked.shape)


def select_suppressed(
    scores: Any,
    labelled: Any,
    quota: int,
    radius: int,
    suppressed: Any = None,
    threshold_pct: float | None = None,
    rng: Rng | None = None,
) -> np.ndarray:
    """New single-pixel labels for one image with neighbourhood suppression (RIPU's pixel selection, PA).

    Greedy as RIPU's `PixelSelection` (docs/strategies.md): take the best candidate, then no pixel of
    its (2r+1)² square (clipped at the borders) is a candidate for the rest of this query. `suppressed`
    (bool (H, W)) is suppressed from the start: the zones of earlier queries when they are kept. Threshold
    t: the candidates are the top int(t% of H·W) in a random order from `rng`. Exactly min(quota,
    #unlabelled) new pixels: when suppression leaves too few candidates, the rest are the best
    unlabelled pixels regardless of it (RIPU then re-picked suppressed pixels; docs/strategies.md).
    """
    return pick_suppressed(DenseRanked(scores, labelled), quota, radius, suppressed, threshold_pct, rng)


def pick_suppressed(ranked: Ranked, quota: int, radius: int, suppressed: Any = None,
                    threshold_pct: float | None = None, rng: Rng | None = None) -> np.ndarray:
    """`select_suppressed` over a `Ranked` image."""
    lab, (h, w) = ranked.labelled, ranked.shape
    r = _check_quota(radius, "radius")
    t = _check_threshold(threshold_pct)
    if t is not None and rng is None:
        raise ValueError("a threshold selection needs rng (see rng_for)")
    remaining = min(_check_quota(quota), ranked.n_unlabelled)
    picked = np.zeros(h * w, dtype=bool)
    blocked = lab.reshape(h, w).copy()
    if suppressed is not None:
        sup = _as_numpy(suppressed).astype(bool)
        if sup.shape != (h, w):
            raise ValueError(f"suppressed mask {sup.shape} does not match scores {(h, w)}")
        blocked |= sup
    if t is None:
        first: Iterable[np.ndarray] = _descending(ranked, 4 * max(remaining, 1))
    else:
        pool = ranked.pool(_pool_size(t, h * w, remaining, ranked.n_unlabelled))
        first = [pool[rng.permutation(pool.size)]]
    for chunk in first:
        for c in chunk.tolist():
            if remaining == 0:
                return picked.reshape(h, w)
            y, x = divmod(c, w)
            if blocked[y, x]:
                continue
            picked[c] = True
            remaining -= 1
            blocked[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1] = True
    if remaining:
        picked[_best_unpicked(ranked, picked, remaining)] = True
    return picked.reshape(h, w)


# --------------------------------------------------------------------------- regions


def select_regions(
    scores: Any,
    labelled: Any,
    quota_px: int,
    radius: int = 1,
    threshold_pct: float | None = None,
    rng: Rng | None = None,
) -> np.ndarray:
    """New labels for one image as (2r+1)² squares (clipped at borders): exactly min(quota_px, #unlabelled).

    Greedy over unlabelled centres by score (threshold t: the top int(t% of H·W) centres in a random
    order from `rng`, so regions stay contiguous; the reference then picked single pixels). Only new
    pixels count, and a square that would exceed the quota is cut to its highest-scoring new pixels,
    so the sum is exact (the reference counted ⌊q/9⌋ whole squares, labelled or not). First pass:
    squares that do not touch this query's earlier squares; if the image runs out of such centres,
    later passes allow overlap (never double-counting) and, with a threshold, widen to all centres.
    """
    return pick_regions(DenseRanked(scores, labelled), quota_px, radius, threshold_pct, rng)


def pick_regions(ranked: Ranked, quota_px: int, radius: int = 1, threshold_pct: float | None = None,
                 rng: Rng | None = None) -> np.ndarray:
    """`select_regions` over a `Ranked` image."""
    (h, w) = ranked.shape
    r = _check_quota(radius, "radius")
    t = _check_threshold(threshold_pct)
    if t is not None and rng is None:
        raise ValueError("a threshold selection needs rng (see rng_for)")
    lab2 = ranked.labelled.reshape(h, w)
    remaining = min(_check_quota(quota_px, "quota_px"), ranked.n_unlabelled)
    picked = np.zeros((h, w), dtype=bool)
    # blocked: centres whose square would overlap labelled-this-query pixels (pass 1) or a labelled centre.
    blocked = lab2.copy()
    side = region_area(r)
    n_regions = -(-remaining // side)

    def passes() -> Iterator[tuple[Iterable[np.ndarray], bool]]:
        if t is None:
            yield _descending(ranked, 4 * n_regions * side), True
            yield _descending(ranked, 4 * n_regions * side), False
            return
        pool = ranked.pool(_pool_size(t, h * w, n_regions, ranked.n_unlabelled))
        order = pool[rng.permutation(pool.size)]
        yield [order], True
        yield [order], False
        yield _descending(ranked, 4 * n_regions * side), False

    for chunks, strict in passes():
        for chunk in chunks:
            for c in chunk.tolist():
                if remaining == 0:
                    return picked
                y, x = divmod(c, w)
                if blocked[y, x] if strict else (lab2[y, x] or picked[y, x]):
                    continue
                y0, y1, x0, x1 = max(y - r, 0), min(y + r + 1, h), max(x - r, 0), min(x + r + 1, w)
                new = ~(lab2[y0:y1, x0:x1] | picked[y0:y1, x0:x1])
                n_new = int(new.sum())
                if n_new > remaining:
                    # Partial last region: its best new pixels, ties -> lower flat index.
                    ys, xs = np.nonzero(new)
                    pos = (ys + y0) * w + (xs + x0)
                    keep = top_k(ranked.values(pos), remaining)
                    new = np.zeros_like(new)
                    new[ys[keep], xs[keep]] = True
                    n_new = remaining
                picked[y0:y1, x0:x1] |= new
                remaining -= n_new
                # Centres within 2r of this square's centre would overlap it.
                blocked[max(y - 2 * r, 0) : y + 2 * r + 1, max(x - 2 * r, 0) : x + 2 * r + 1] = True
        if remaining == 0:
            break
    return picked


# --------------------------------------------------------------------------- whole pool


class Selection(Mapping[int, np.ndarray]):
    """image index -> new bool (H, W) mask, for images with at least one new label.

    Holds only the selected flat indices (O(budget)); masks are built on access, so a pool-wide
    result never materialises N·H·W booleans.
    """

    def __init__(self, flat: dict[int, np.ndarray], shapes: dict[int, tuple[int, int]]) -> None:
        self._flat = flat
        self._shapes = shapes

    def __getitem__(self, index: int) -> np.ndarray:
        out = np.zeros(self._shapes[index], dtype=bool)
        out.ravel()[self._flat[index]] = True
        return out

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._flat))

    def __len__(self) -> int:
        return len(self._flat)

    def flat(self, index: int) -> np.ndarray:
        """Sorted flat pixel indices selected in image `index`."""
        return self._flat[index]

    def count(self, index: int) -> int:
        return int(self._flat[index].size) if index in self._flat else 0

    def total(self) -> int:
        return sum(int(v.size) for v in self._flat.values())


def _top_keys(score: np.ndarray, img: np.ndarray, pos: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best (score desc, image asc, position asc) entries, order-independent."""
    n = score.size
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    v = np.partition(score, n - k)[n - k]
    above = np.flatnonzero(score > v)
    ties = np.flatnonzero(score == v)
    ties = ties[np.lexsort((pos[ties], img[ties]))][: k - above.size]
    return np.concatenate([above, ties])


def select_global(
    items: Iterable[tuple[int, Any, Any]],
    budget: int,
    threshold_pct: float | None = None,
    rng: Rng | None = None,
    *,
    total_pixels: int | None = None,
) -> Selection:
    """One global top-`budget` over the whole pool (`sample_evenly=False`), streamed image by image.

    `items` yields (index, scores (H, W), labelled (H, W)). A running best of (score, image, pixel)
    is merged with each image's own top candidates, so peak memory is O(budget) whatever the pool
    (the reference stacked N·H·W scores on one GPU). With a threshold t the pool is the top
    int(t% of total_pixels) (the caller knows the pool sizes) and memory is O(that pool); then a
    uniform pick of `budget` with `rng` (use rng_for(seed, round)).
    """
    budget, keep = _global_keep(budget, threshold_pct, rng, total_pixels)
    best_s = np.empty(0, dtype=np.float64)
    best_i = np.empty(0, dtype=np.int64)
    best_p = np.empty(0, dtype=np.int64)
    shapes: dict[int, tuple[int, int]] = {}
    for index, scores, labelled in items:
        index = _check_quota(index, "image index")
        if index in shapes:
            raise ValueError(f"image index {index} appears twice in the pool")
        flat, lab, shapes[index] = _prepare(scores, labelled)
        unl = np.flatnonzero(~lab)
        cand = unl[top_k(flat[unl], keep)]
        s = np.concatenate([best_s, flat[cand]])
        i = np.concatenate([best_i, np.full(cand.size, index, dtype=np.int64)])
        p = np.concatenate([best_p, cand.astype(np.int64)])
        sel = _top_keys(s, i, p, keep)
        best_s, best_i, best_p = s[sel], i[sel], p[sel]
    return _global_pick(best_i, best_p, budget, threshold_pct is not None, rng, shapes)


def select_global_candidates(
    score: np.ndarray, image: np.ndarray, pos: np.ndarray, shapes: dict[int, tuple[int, int]], budget: int,
    threshold_pct: float | None = None, rng: Rng | None = None, *, total_pixels: int | None = None,
) -> Selection:
    """`select_global` over candidates already cut per image: (score, image, flat position) of each image's
    best unlabelled pixels, at least the top `keep` of every image (keep = budget, or the threshold pool) or
    all of them (ties at a cut may add more). The same labels as `select_global` over the full maps: a
    pixel outside its image's top-`keep` cannot be in the pool-wide top-`keep`. NaN scores must be -inf."""
    budget, keep = _global_keep(budget, threshold_pct, rng, total_pixels)
    score = np.asarray(score, dtype=np.float64)
    image, pos = np.asarray(image, dtype=np.int64), np.asarray(pos, dtype=np.int64)
    sel = _top_keys(score, image, pos, keep)
    return _global_pick(image[sel], pos[sel], budget, threshold_pct is not None, rng, shapes)


def _global_keep(budget: int, threshold_pct: float | None, rng: Rng | None, total_pixels: int | None):
    """(budget, how many pool-wide candidates a global selection keeps)."""
    budget = _check_quota(budget, "budget")
    t = _check_threshold(threshold_pct)
    if t is None:
        return budget, budget
    if rng is None or total_pixels is None:
        raise ValueError("a global threshold selection needs rng and total_pixels")
    return budget, max(pool_size(t, _check_quota(total_pixels, "total_pixels")), budget)


def _global_pick(best_i: np.ndarray, best_p: np.ndarray, budget: int, threshold: bool, rng: Rng | None,
                 shapes: dict[int, tuple[int, int]]) -> Selection:
    if threshold and best_i.size > budget:
        # Canonical order first, so the random pick does not depend on the streaming order.
        order = np.lexsort((best_p, best_i))
        pick = order[rng.choice(order.size, size=budget, replace=False)]
        best_i, best_p = best_i[pick], best_p[pick]
    result: dict[int, np.ndarray] = {}
    for index in np.unique(best_i).tolist():
        result[index] = np.sort(best_p[best_i == index])
    return Selection(result, shapes)


# --------------------------------------------------------------------------- images


def select_images(
    image_scores: Any,
    labelled: Any,
    budget: int,
    rng: Rng | None = None,
    threshold_pct: float | None = None,
) -> np.ndarray:
    """Indices (ascending) of min(budget, #unlabelled) unlabelled images with the highest scores.

    docs/reference.md §3e: per-image scores were cast to bool before ranking, so the order was arbitrary.
    Threshold t: a uniform pick (with `rng`) from the top int(t% of N) unlabelled images.
    """
    s = _as_numpy(image_scores).astype(np.float64).ravel()
    lab = _as_numpy(labelled).astype(bool).ravel()
    if s.shape != lab.shape:
        raise ValueError(f"{s.size} image scores but {lab.size} labelled flags")
    s[np.isnan(s)] = -np.inf
    t = _check_threshold(threshold_pct)
    unl = np.flatnonzero(~lab)
    k = min(_check_quota(budget, "budget"), unl.size)
    if t is None:
        return np.sort(unl[top_k(s[unl], k)])
    if rng is None:
        raise ValueError("a threshold selection needs rng (see rng_for)")
    pool = unl[top_k(s[unl], _pool_size(t, s.size, k, unl.size))]
    return np.sort(pool[rng.choice(pool.size, size=k, replace=False)])


def k_center_greedy(features: Any, labelled: Any, budget: int) -> np.ndarray:
    """Indices, in pick order, of min(budget, #unlabelled) unlabelled images chosen by k-center greedy
    (Sener & Savarese, ICLR 2018, Algorithm 1): each pick is the image farthest (Euclidean) from its
    nearest centre, the centres being the labelled images and the picks so far; with no labelled image the
    first pick is the one farthest from the mean. Ties go to the lower index. A whole batch at once, so
    near-duplicates are not bought together, which a per-image score cannot see."""
    f = _as_numpy(features).astype(np.float64)
    lab = _as_numpy(labelled).astype(bool).ravel()
    if f.ndim != 2 or f.shape[0] != lab.size:
        raise ValueError(f"features {f.shape} do not match {lab.size} labelled flags")
    k = min(_check_quota(budget, "budget"), int((~lab).sum()))
    d = np.full(lab.size, np.inf)  # with no labelled image the mean chooses the first pick; it is no centre
    for c in np.flatnonzero(lab):  # one centre at a time: O(n·D) memory, not n·|labelled|·D
        d = np.minimum(d, ((f - f[c]) ** 2).sum(-1))
    picks: list[int] = []
    for step in range(k):
        far = ((f - f.mean(0)) ** 2).sum(-1) if step == 0 and not lab.any() else d
        far = np.where(lab | np.isin(np.arange(lab.size), picks), -np.inf, far)
        i = int(np.argmax(far))  # first maximum: the lower index on ties
        picks.append(i)
        d = np.minimum(d, ((f - f[i]) ** 2).sum(-1))
    return np.asarray(picks, dtype=np.int64)


def gradient_embedding(features: Any, probs: Any) -> np.ndarray:
    """BADGE's embedding of one image, flat (C·D,): the gradient of the mean per-pixel cross-entropy with the
    argmax pseudo-label w.r.t. the weights W (C, D) of the 1x1 classifier, at the classifier's own resolution:
    (1/n) Σ_x (p_x − e_{ŷ_x}) f_xᵀ, for features (D, n) and their posteriors (C, n) (ŷ ties to the lower class)."""
    f = _as_numpy(features).astype(np.float64)
    p = _as_numpy(probs).astype(np.float64)
    if f.ndim != 2 or p.ndim != 2 or f.shape[1] != p.shape[1] or f.shape[1] == 0:
        raise ValueError(f"features (D, n) and probs (C, n) with n > 0 expected, got {f.shape} and {p.shape}")
    g = p.copy()
    g[np.argmax(p, axis=0), np.arange(p.shape[1])] -= 1.0
    return (g @ f.T / p.shape[1]).ravel()


def kmeanspp_seeding(embeddings: Any, labelled: Any, budget: int, rng: Rng) -> np.ndarray:
    """Indices, in pick order, of min(budget, #unlabelled) unlabelled images chosen as BADGE does (Ash et al.,
    ICLR 2020, `init_centers`): k-means++ seeding over the unlabelled images only, the first the one of largest
    embedding norm (ties: lower index), each next one drawn with probability ∝ D(x)², D the Euclidean distance to
    the nearest pick so far (`rng.choice` with those weights). When every unpicked image sits on a pick (all D = 0,
    where BADGE stops in a debugger), the pick is uniform among the unpicked ones."""
    x = _as_numpy(embeddings).astype(np.float64)
    lab = _as_numpy(labelled).astype(bool).ravel()
    if x.ndim != 2 or x.shape[0] != lab.size:
        raise ValueError(f"embeddings {x.shape} do not match {lab.size} labelled flags")
    cand = np.flatnonzero(~lab)
    k = min(_check_quota(budget, "budget"), cand.size)
    if k == 0:
        return np.empty(0, np.int64)
    xc = x[cand]
    first = int(np.argmax((xc ** 2).sum(1)))
    picks = [first]
    d2 = ((xc - xc[first]) ** 2).sum(1)
    while len(picks) < k:
        w = d2.copy()
        w[picks] = 0.0
        if w.sum() > 0:
            j = int(rng.choice(w.size, p=w / w.sum()))
        else:
            rest = np.setdiff1d(np.arange(w.size), picks)
            j = int(rest[rng.integers(rest.size)])
        picks.append(j)
        d2 = np.minimum(d2, ((xc - xc[j]) ** 2).sum(1))
    return cand[np.asarray(picks, dtype=np.int64)]


def class_balanced_quotas(counts: Any, quota: int, next_best: Callable[[int, int], float]) -> np.ndarray:
    """How many of `quota` picks each predicted class gets: as equal as the classes' unlabelled pixels
    `counts` allow (a class that runs out passes its share on), i.e. the largest level t with
    Σ_c min(n_c, t) ≤ quota, then one more for the classes with pixels left whose (t+1)-th best score,
    `next_best(c, t)`, is highest (ties: the lower class). Sums to min(quota, Σ n_c)."""
    n = _as_numpy(counts).astype(np.int64).ravel()
    k = min(_check_quota(quota), int(n.sum()))
    lo, hi = 0, int(n.max(initial=0))
    while lo < hi:  # the largest t with Σ min(n, t) ≤ k
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if int(np.minimum(n, mid).sum()) <= k else (lo, mid - 1)
    out = np.minimum(n, lo)
    rest = k - int(out.sum())
    if rest:
        open_ = [c for c in range(n.size) if n[c] > lo]
        best = sorted(open_, key=lambda c: (-next_best(c, lo), c))[:rest]
        out[best] += 1
    return out


def select_class_balanced(scores: Any, labelled: Any, quota: int, classes: Any) -> np.ndarray:
    """New labels for one image, exactly min(quota, #unlabelled), spread over the *predicted* classes
    (`classes`: the argmax map, (H, W) ints) instead of the image's top scores: each class gets its
    class_balanced_quotas share of the quota and buys its own top-scored unlabelled pixels (ties: the lower
    flat index). Among the selections with those per-class counts this one has the largest total score.
    The balance objective is CBAL's (Bengar et al., WACV 2022; docs/strategies.md)."""
    flat, lab, shape = _prepare(scores, labelled)
    cls = _as_numpy(classes).astype(np.int64).ravel()
    if cls.size != flat.size:
        raise ValueError(f"classes {np.shape(classes)} do not match scores {shape}")
    unl = np.flatnonzero(~lab)
    out = np.zeros(flat.size, dtype=bool)
    if unl.size == 0 or quota == 0:
        _check_quota(quota)
        return out.reshape(shape)
    present = np.unique(cls[unl])
    members = {int(c): unl[cls[unl] == c] for c in present}
    ordered = {c: _ranked(flat, m) for c, m in members.items()}  # each class best-first
    names = [int(c) for c in present]
    counts = [members[c].size for c in names]
    shares = class_balanced_quotas(counts, quota, lambda j, t: float(flat[ordered[names[j]][t]]))
    for j, c in enumerate(names):
        out[ordered[c][: shares[j]]] = True
    return out.reshape(shape)


# --------------------------------------------------------------------------- initial labels


def initial_pixels(
    pool: Sequence[tuple[int, int] | np.ndarray],
    quotas: Sequence[int],
    rng: Rng | Callable[[int], Rng],
) -> list[np.ndarray]:
    """Uniform random initial labels per image: exactly min(quota, #unlabelled) new pixels each.

    `pool` items are (H, W) sizes (nothing labelled yet) or current labelled masks. Pass
    `rng=lambda i: rng_for(seed, 0, i)` for the order-free policy; a single Generator is used in
    pool order.
    """
    if len(pool) != len(quotas):
        raise ValueError(f"{len(pool)} pool images but {len(quotas)} quotas")
    out = []
    for i, (item, q) in enumerate(zip(pool, quotas)):
        lab = item if isinstance(item, np.ndarray) else np.zeros(tuple(int(v) for v in item), dtype=bool)
        g = rng if isinstance(rng, np.random.Generator) else rng(i)
        out.append(random_pixels(lab, q, g))
    return out


def initial_images(n: int, k: int, rng: Rng) -> np.ndarray:
    """`k` distinct images out of `n`, uniformly at random, ascending (the image-mode initial pool)."""
    n, k = _check_quota(n, "pool size"), _check_quota(k, "initial_pool")
    if k > n:
        raise ValueError(f"initial_pool of {k} images exceeds the pool of {n} images")
    return np.sort(rng.choice(n, size=k, replace=False))
