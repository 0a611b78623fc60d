"""Acquisition heuristics: per-pixel class posteriors (N, C, H, W) -> informativeness (N, H, W).

Pure torch (no mmcv/mmseg) so the formulas are testable alone. Every heuristic returns scores where
HIGHER = MORE INFORMATIVE; selection always takes the largest scores. Scores are float32, or float64 where
float32 would merge distinct values (`margin`). Formulas, sources and departures: docs/strategies.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Heuristic = Callable[..., torch.Tensor]

# Registry consumed by the runner: HEURISTICS[name](probs, **heuristic_cfg) -> (N, H, W) float32.
HEURISTICS: dict[str, Heuristic] = {}

# Smallest probability fed to log(): keeps 0·log 0 = 0 without NaN, and stays a normal float32.
_EPS = 1e-12


def register(name: str, *aliases: str) -> Callable[[Heuristic], Heuristic]:
    """Register a heuristic under `name` (and aliases); duplicate names are a programming error."""

    def deco(fn: Heuristic) -> Heuristic:
        for key in (name, *aliases):
            if key in HEURISTICS:
                raise ValueError(f"heuristic `{key}` is already registered")
            HEURISTICS[key] = fn
        return fn

    return deco


def get_heuristic(name: str) -> Heuristic:
    """Look a heuristic up by name with a message listing the valid names (the reference raised KeyError)."""
    try:
        return HEURISTICS[name]
    except KeyError:
        valid = ", ".join(sorted(HEURISTICS))
        raise ValueError(f"unknown heuristic `{name}`; expected one of: {valid}") from None


def to_probs(logits: torch.Tensor) -> torch.Tensor:
    """Logits (N, C, H, W) -> per-pixel class posteriors: softmax over dim=1, the class axis.

    The one conversion helper. docs/reference.md §4: its `to_prob` normalised over the flattened *spatial*
    axis per class, so every heuristic scored per-class spatial maps instead of pixel posteriors.
    """
    check_4d(logits, "logits")
    return torch.softmax(logits.float(), dim=1)


def check_4d(x: torch.Tensor, what: str = "probs") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{what} must be a tensor shaped (N, C, H, W), got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{what} must be a floating-point tensor, got {x.dtype}")


def _pixel_entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) = −Σ_c p_c log p_c over dim 1 (natural log), float32, shape (N, H, W)."""
    p = p.float()
    return -(p * p.clamp_min(_EPS).log()).sum(dim=1)


@register("random")
def random_scores(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """s = U(0, 1) per pixel, drawn from `generator` so a seed reproduces the draw.

    Reference: float16 draws from the unseeded global RNG; float32 avoids ties of float16's 11-bit mantissa.
    """
    check_4d(probs)
    n, _, h, w = probs.shape
    device = generator.device if generator is not None else probs.device
    scores = torch.rand((n, h, w), generator=generator, device=device, dtype=torch.float32)
    return scores.to(probs.device)


@register("entropy")
def entropy(probs: torch.Tensor) -> torch.Tensor:
    """s = −Σ_c p_c log p_c (natural log; maximal, log C, at the uniform posterior)."""
    check_4d(probs)
    return _pixel_entropy(probs)


@register("margin")
def margin(probs: torch.Tensor) -> torch.Tensor:
    """s = 1 − (p₍₁₎ − p₍₂₎) in float64: the smallest gap between the two most likely classes scores highest.

    float64 because near 1 float32 steps by 6e-8, which merged distinct gaps (the difference of two
    float32 posteriors is exact in float64, and so is 1 minus it). docs/reference.md §4: it scored
    |p₁ − p₂| and took the largest, i.e. picked the most confident pixels.
    """
    check_4d(probs)
    if probs.shape[1] < 2:
        raise ValueError("margin needs at least 2 classes")
    top2 = probs.topk(2, dim=1).values.double()
    return 1.0 - (top2[:, 0] - top2[:, 1])


@register("least_confidence", "least-confidence")
def least_confidence(probs: torch.Tensor) -> torch.Tensor:
    """s = 1 − max_c p_c: the flattest posterior scores highest (absent from the reference)."""
    check_4d(probs)
    return 1.0 - probs.float().amax(dim=1)


def _box_sum(x: torch.Tensor, k: int) -> torch.Tensor:
    """Sum of x over the (2k+1)² window around each pixel, zero padded, for x shaped (N, C, H, W).

    Integral image (two cumsums) instead of a (2k+1)² conv, so the cost does not grow with k
    (real configs use k = 32: a 65×65 depthwise conv over 1280×640×19 would dominate the query).
    """
    for dim in (2, 3):
        length = x.shape[dim]
        # dtype kept: int32 stays exact (sums <= W·(2k+1)) at half the memory of torch's int64 default
        c = torch.cumsum(x, dim=dim, dtype=x.dtype)
        c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim=dim)
        pos = torch.arange(length, device=x.device)
        hi = (pos + k + 1).clamp(max=length)
        lo = (pos - k).clamp(min=0)
        x = c.index_select(dim, hi) - c.index_select(dim, lo)
    return x


def _window_pixel_counts(h: int, w: int, k: int, device: torch.device) -> torch.Tensor:
    """Number of in-image pixels of each pixel's (2k+1)² window, shape (H, W)."""

    def span(length: int) -> torch.Tensor:
        pos = torch.arange(length, device=device)
        return ((pos + k).clamp(max=length - 1) - (pos - k).clamp(min=0) + 1).float()

    return span(h)[:, None] * span(w)[None, :]


def _impurity(probs: torch.Tensor, k: int, log_c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(impurity of each pixel's (2k+1)² window / log C, in-image pixels of each window), both (N, H, W)."""
    n, c, h, w = probs.shape
    # Integer one-hot histogram: cumsum differences stay exact however large the image or window.
    onehot = torch.zeros((n, c, h, w), dtype=torch.int32, device=probs.device)
    onehot.scatter_(1, probs.argmax(dim=1, keepdim=True), 1)
    n_w = _window_pixel_counts(h, w, k, probs.device)
    hist = _box_sum(onehot, k).float() / n_w
    del onehot
    return -torch.xlogy(hist, hist).sum(dim=1) / log_c, n_w


@register("ripu")
def ripu(
    probs: torch.Tensor, k: int = 1, use_entropy: bool = True, categories: int | None = None,
    form: str | None = None,
) -> torch.Tensor:
    """RIPU (Xie et al., CVPR'22): region impurity × prediction uncertainty.

    ŷ = argmax_c p (pseudo-label). For each pixel's (2k+1)² window W (zero padded, so only the
    n_W in-image pixels count), with h_c = |{q ∈ W : ŷ_q = c}| / n_W:
        impurity    = −Σ_c h_c log h_c / log(categories)
        region form (RA, RIPU's region score; docs/strategies.md):
            uncertainty = (Σ_{q ∈ W} H(p_q) / n_W) / log(categories)      (H = pixel entropy)
        pixel form (PA, RIPU's pixel score):
            uncertainty = H(p) / log(categories)                           (the pixel's own entropy)
        s = impurity × uncertainty   if use_entropy   else   impurity
    categories defaults to C; form None is the region form. docs/reference.md §4: a variable reassigned
    inside the batch loop broke N > 1.
    """
    check_4d(probs)
    c = probs.shape[1]
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"ripu: k must be an int >= 0, got {k!r}")
    cats = c if categories is None else categories
    if isinstance(cats, bool) or not isinstance(cats, int) or cats < 2:
        raise ValueError(f"ripu: categories must be an int >= 2, got {categories!r}")
    if form not in (None, "pixel", "region"):
        raise ValueError(f"ripu: form must be `pixel` or `region`, got {form!r}")
    log_c = math.log(cats)
    impurity, n_w = _impurity(probs, k, log_c)
    if not use_entropy:
        return impurity.float()
    if form == "pixel":
        return (impurity * _pixel_entropy(probs) / log_c).float()
    # float64 cumsum: float32 running sums of real-valued entropies lose the small windows' digits.
    ent = _pixel_entropy(probs).unsqueeze(1).double()
    mean_ent = (_box_sum(ent, k)[:, 0] / n_w.double()).float()
    return (impurity * mean_ent / log_c).float()


def check_samples(samples: torch.Tensor) -> None:
    """MC-dropout posteriors: (T, N, C, H, W), T >= 2 passes."""
    if not isinstance(samples, torch.Tensor) or samples.dim() != 5 or samples.shape[0] < 2:
        shape = tuple(samples.shape) if hasattr(samples, "shape") else type(samples).__name__
        raise ValueError(f"MC-dropout samples must be shaped (T, N, C, H, W) with T >= 2, got {shape}")


def _mc(fn: Heuristic) -> Heuristic:
    # query.py runs the passes (runtime needs the model) and hands the stacked posteriors to fn
    fn.mc_dropout = True  # type: ignore[attr-defined]
    return fn


@register("bald")
@_mc
def bald(samples: torch.Tensor) -> torch.Tensor:
    """s = H(p̄) − (1/T) Σ_t H(p_t), p̄ = (1/T) Σ_t p_t: the mutual information between the label and the
    weights under MC dropout (BALD; Houlsby et al. 2011, Gal et al. 2017). float64: the difference of two
    close entropies loses float32's digits. ≥ 0 by Jensen; 0 when every pass agrees."""
    check_samples(samples)
    p = samples.double()
    mean = p.mean(dim=0)
    h_mean = -torch.xlogy(mean, mean).sum(dim=1)
    mean_h = -torch.xlogy(p, p).sum(dim=2).mean(dim=0)
    return (h_mean - mean_h).clamp_min(0.0)


@register("variation_ratio")
@_mc
def variation_ratio(samples: torch.Tensor) -> torch.Tensor:
    """s = 1 − f_m / T, f_m = the number of passes whose argmax is the modal class (Freeman 1965; Gal et al.
    2017). 0 when all passes vote alike, at most 1 − 1/C."""
    check_samples(samples)
    t, _, c = samples.shape[:3]
    votes = samples.argmax(dim=2)  # (T, N, H, W)
    counts = torch.zeros((c, *votes.shape[1:]), dtype=torch.int64, device=samples.device)
    counts.scatter_add_(0, votes, torch.ones_like(votes))
    return 1.0 - counts.amax(dim=0).float() / t


@register("kcenter")
def kcenter(features, labelled, budget: int):
    """Image sampling, batch-aware: k-center greedy over pooled decoder features (selection.k_center_greedy;
    query.py hands it every image's features, labelled ones included, as the centres)."""
    from segal_dsl.runtime.selection import k_center_greedy

    return k_center_greedy(features, labelled, budget)


kcenter.image_batch = True  # type: ignore[attr-defined]


@register("badge")
def badge(embeddings, labelled, budget: int, rng):
    """Image sampling, batch-aware: k-means++ seeding (D² sampling) over the gradient embeddings of the
    unlabelled images (selection.kmeanspp_seeding; query.grad_embedding computes them)."""
    from segal_dsl.runtime.selection import kmeanspp_seeding

    return kmeanspp_seeding(embeddings, labelled, budget, rng)


badge.image_batch = True  # type: ignore[attr-defined]
badge.grad_embedding = True  # type: ignore[attr-defined]  # query.py: embeddings of the unlabelled only, an rng


def image_scores(scores: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image score for image mode: the mean pixel score over `valid` pixels, shape (N,).

    A mean, not the reference's entropy total over C·H·W entries, so image size does not bias
    the ranking. An image with no valid pixel scores 0 (least informative: scores are ≥ 0).
    """
    if scores.dim() != 3:
        raise ValueError(f"scores must be shaped (N, H, W), got {tuple(scores.shape)}")
    s = scores.float()
    if valid is None:
        return s.mean(dim=(1, 2))
    if valid.shape != scores.shape:
        raise ValueError(f"valid mask {tuple(valid.shape)} does not match scores {tuple(scores.shape)}")
    v = valid.to(dtype=torch.bool, device=s.device)
    total = torch.where(v, s, torch.zeros_like(s)).sum(dim=(1, 2))
    count = v.sum(dim=(1, 2))
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))
