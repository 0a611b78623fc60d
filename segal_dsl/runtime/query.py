"""One query step: posteriors over the pool -> heuristic scores -> seeded selection -> new labels.

Posteriors are the model's `inference(..., rescale=True)` output: logits resized to the image's own
size, softmax over classes (docs/reference.md §4 took a *spatial* softmax), under the config's `test_cfg`
(the reference always ran `whole` inference at `scale_size`, §10). The pool streams in batches of equal-size
images (`data.query_dataloader`, runtime/loaders.py), under fp16 autocast on CUDA when the config sets `fp16`;
each batch is scored on the model's device and, on CUDA, each image's map is ranked there (runtime/ranking.py), so
only its candidates reach the host. MC-dropout (`bald`, `variation_ratio`), model-scored (`mps`) and batch-aware
(`kcenter`, `badge`) heuristics keep one image per batch (loaders.batches). Only new-label bits (or, in global mode,
each rank's top candidates) cross ranks. Every rank applies the same gathered result, and rank 0 alone writes;
no sleeps (docs/reference.md §3c step 6).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmcv.parallel import scatter
from mmcv.runner import get_dist_info

from segal_dsl.spec import budget as budget_mod
from segal_dsl.spec import heuristics as heuristics_spec
from segal_dsl.spec.config import Contract

from . import selection as sel
from .heuristics import get_heuristic, image_scores
from .pipelines import resize_nearest
from .ranking import DeviceRanked
from .superpixels import SuperpixelQuery
from .testhooks import kill_point


@dataclass
class QueryResult:
    """What one query bought: planned vs added (new labels only), per image for visualisation."""

    round: int
    planned: int
    added: int
    per_image: dict[int, int] = field(default_factory=dict)
    viz_scores: dict[int, np.ndarray] = field(default_factory=dict)
    short: list[int] = field(default_factory=list)
    void: int = 0   # unlabelled void pixels (ground truth = ignore_index) kept out of the ranking
    extra: dict = field(default_factory=dict)  # superpixel mode: superpixels planned and bought (label records)


def all_gather(obj: Any) -> list[Any]:
    rank, world = get_dist_info()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


def posteriors(model, data: dict, label_shape: tuple[int, int] | None) -> torch.Tensor:
    """Class posteriors (B, C, H, W), float32, at the label resolution (None: the image's) for a collated batch of
    test-pipeline items of one size (mmseg's `inference` rescales a batch to its first image's `ori_shape`).

    On CUDA the batch runs as one forward. On the CPU each image runs alone: oneDNN's convolutions round
    differently with the batch size, and an image's posteriors, hence its labels, must not depend on its batch
    mates (labels equal for every batch size and world size on CPU; tests/test_runtime_query_batched.py)."""
    module = getattr(model, "module", model)
    dev = _device_of(module)
    data = scatter(data, [dev.index if dev.type == "cuda" else -1])[0]
    img, metas = data["img"][0], data["img_metas"][0]
    if dev.type == "cuda":
        probs = module.inference(img, metas, rescale=True)  # softmax over classes at ori_shape
    else:
        probs = torch.cat([module.inference(img[j:j + 1], metas[j:j + 1], rescale=True) for j in range(len(metas))])
    probs = probs.float()  # autocast: fp16 logits, float32 posteriors
    if label_shape is not None and tuple(probs.shape[-2:]) != tuple(label_shape):
        probs = F.interpolate(probs, size=label_shape, mode="bilinear", align_corners=False)
    return probs


def _autocast(model, fp16: bool):
    """fp16 autocast for the forward when the config sets `fp16` (mmcv's key, the one training reads) and the
    model is on CUDA; a no-op on the CPU, where mmcv's fp16 training does not run either."""
    dev = _device_of(getattr(model, "module", model))
    return torch.autocast("cuda", dtype=torch.float16) if fp16 and dev.type == "cuda" else contextlib.nullcontext()


_DROPOUT = (torch.nn.Dropout, torch.nn.Dropout2d, torch.nn.Dropout3d, torch.nn.AlphaDropout)


def mc_posteriors(model, data: dict, label_shape: tuple[int, int], passes: int, seed: int) -> torch.Tensor:
    """(T, 1, C, H, W) posteriors of `passes` forward passes over the same item with only the dropout layers
    in train mode (batch norm keeps its running statistics), the dropout masks drawn from `seed`, so a query
    replays exactly (the global RNG is restored afterwards)."""
    module = getattr(model, "module", model)
    drops = [m for m in module.modules() if isinstance(m, _DROPOUT) and m.p > 0]
    if not drops:
        raise RuntimeError("MC-dropout scoring needs a dropout layer with p > 0 in the model: none found "
                           "(e.g. `mmseg { model.decode_head.dropout_ratio = 0.1 }`)")
    dev = _device_of(module)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for m in drops:
            m.train()
        try:
            return torch.stack([posteriors(model, data, label_shape) for _ in range(passes)])
        finally:
            for m in drops:
                m.eval()


def pooled_features(model, data: dict, label_shape: tuple[int, int]) -> np.ndarray:
    """The decode head's features (the input of its classifier `conv_seg`), averaged over the image: (D,)."""
    module = getattr(model, "module", model)
    conv = getattr(getattr(module, "decode_head", None), "conv_seg", None)
    if conv is None:
        raise RuntimeError("`kcenter` needs an mmseg decode head with a `conv_seg` classifier")
    got: list[torch.Tensor] = []
    hook = conv.register_forward_hook(lambda _m, inputs, _out: got.append(inputs[0].detach()))
    try:
        posteriors(model, data, label_shape)
    finally:
        hook.remove()
    return got[-1].double().mean(dim=(2, 3))[0].cpu().numpy()


def grad_embedding(model, data: dict, label_shape: tuple[int, int]) -> np.ndarray:
    """BADGE's gradient embedding of one image (C·D,): sel.gradient_embedding of the input and the softmax of the
    output of the decode head's classifier `conv_seg`, over the pixels of every call inference makes."""
    module = getattr(model, "module", model)
    conv = getattr(getattr(module, "decode_head", None), "conv_seg", None)
    if conv is None:
        raise RuntimeError("`badge` needs an mmseg decode head with a `conv_seg` classifier")
    got: list[tuple[torch.Tensor, torch.Tensor]] = []
    hook = conv.register_forward_hook(lambda _m, inputs, out: got.append((inputs[0].detach(), out.detach())))
    try:
        posteriors(model, data, label_shape)
    finally:
        hook.remove()
    f = torch.cat([x.double().flatten(2)[0] for x, _ in got], dim=1)
    p = torch.cat([torch.softmax(z.double(), dim=1).flatten(2)[0] for _, z in got], dim=1)
    return sel.gradient_embedding(f.cpu().numpy(), p.cpu().numpy())


def void_reader(dataset, ignore_index: int):
    """index, (H, W) -> bool mask of the void pixels (GT == ignore_index) at the label resolution, or None
    when the pool has no ground truth to read (then nothing is excluded)."""
    get = getattr(dataset, "get_gt_seg_map_by_idx", None)
    if get is None or getattr(dataset, "ann_dir", None) is None:
        return None

    def void(index: int, shape: tuple[int, int]) -> np.ndarray:
        m = np.asarray(get(index)) == ignore_index
        return m if m.shape == tuple(shape) else resize_nearest(m, shape)

    return void


def query_void_reader(dataset, contract: Contract):
    """The query's `void_reader`, or None: image mode, `exclude_void` off, or a pool without ground truth."""
    if contract.mode == "image" or not getattr(contract.settings, "exclude_void", True):
        return None
    return void_reader(dataset, contract.ignore_index)


def _scores(probs: torch.Tensor, heuristic: str, params: dict, seed: int, rnd: int, index: int,
            model=None, data: dict | None = None, queries: int = 1) -> torch.Tensor:
    fn = get_heuristic(heuristic)
    if heuristic == "random":
        g = torch.Generator().manual_seed(int(sel.rng_for(seed, rnd, index).integers(2**62)))
        return fn(probs, generator=g)
    if getattr(fn, "mc_dropout", False):  # `bald`, `variation_ratio`: N passes over the same data, dropout on
        rest = {k: v for k, v in params.items() if k != "passes"}
        seed_t = int(sel.rng_for(seed, rnd, index).integers(2**62))
        return fn(mc_posteriors(model, data, tuple(probs.shape[-2:]), int(params.get("passes", 10)), seed_t), **rest)
    if getattr(fn, "needs_model", False):  # e.g. `mps` (runtime/multitask): scores from the model itself
        g = torch.Generator().manual_seed(int(sel.rng_for(seed, rnd, index).integers(2**62)))
        return fn(probs, model=model, data=data, generator=g, query=(rnd - 1, queries), **params)
    return fn(probs, **params)


def _ranked(scores: torch.Tensor, lab: np.ndarray):
    """One image's map as the pickers read it (selection.Ranked): on CUDA it stays there and only the prefixes a
    pick reads come to the host (ranking.DeviceRanked); on the CPU numpy ranks it (selection.DenseRanked: cheaper
    than torch's per-call overhead on small maps). Both rank exactly alike (tests/test_runtime_query_batched.py)."""
    if scores.device.type == "cpu":
        return sel.DenseRanked(scores.numpy(), lab)
    return DeviceRanked(scores, lab)


def _batch_scores(probs: torch.Tensor, heuristic: str, params: dict, seed: int, rnd: int, indices: list[int],
                  model=None, data: dict | None = None, queries: int = 1) -> torch.Tensor:
    """(B, H, W) scores of a batch: one call on the batch, `random` from each image's own stream, and the
    per-image heuristics (loaders.batches) on their batch of one."""
    fn = get_heuristic(heuristic)
    if heuristic == "random" or len(indices) == 1:
        return torch.cat([_scores(probs[j:j + 1], heuristic, params, seed, rnd, index, model, data, queries)
                          for j, index in enumerate(indices)])
    if any(getattr(fn, flag, False) for flag in ("mc_dropout", "needs_model")):
        raise RuntimeError(f"`{heuristic}` scores one image at a time; its query loader must have batches of one")
    return fn(probs, **params)


class _TopCandidates:
    """A rank's running top-`keep` (score, image, pixel) entries, for global selection under DDP."""

    def __init__(self, keep: int):
        self.keep = keep
        self.s = np.empty(0, np.float64)
        self.i = np.empty(0, np.int64)
        self.p = np.empty(0, np.int64)

    def add(self, index: int, ranked) -> None:
        s, p = ranked.candidates(self.keep)
        s = np.concatenate([self.s, s])
        i = np.concatenate([self.i, np.full(p.size, index, np.int64)])
        p = np.concatenate([self.p, p.astype(np.int64)])
        if s.size > self.keep:  # exact: keep more only on ties, which select_global_candidates resolves
            cut = np.partition(s, s.size - self.keep)[s.size - self.keep]
            m = s >= cut
            s, i, p = s[m], i[m], p[m]
        self.s, self.i, self.p = s, i, p


def run_query(runner, rnd: int, loader, labels, contract: Contract, seed: int,
              viz_indices: set[int], progress=None) -> QueryResult:
    """Score the pool shard of this rank, select, gather, and apply new labels on every rank.

    `rnd` is the 1-based query number (rng streams: rng_for(seed, rnd, image)). The caller saves
    `labels` (rank 0) and barriers afterwards.
    """
    mode = contract.mode
    heuristic, params = contract.heuristic, contract.score_params()
    threshold = contract.sample_threshold
    model = runner.model
    model.eval()
    sizes = labels.sizes
    result = QueryResult(round=rnd, planned=0, added=0)
    evenly = contract.sample_evenly
    radius = contract.radius
    params = dict(params)
    if "form" in params:  # `ripu`: the region form unless `form pixel` (RIPU's PA score) is stated
        params["form"] = heuristics_spec.score_form(heuristic, params, mode)
    suppress = getattr(contract.settings, "suppress_radius", None)
    keep_suppressed = getattr(contract.settings, "suppress_across_rounds", False)
    balanced = getattr(contract.settings, "sample_class_balanced", False)  # quotas over the predicted classes
    void_of = query_void_reader(getattr(getattr(runner, "data", None), "query", None), contract)

    spec = contract.query_budget(rnd)  # this query's share of a `budget X total`, else budget_per_round
    if mode == "superpixel":  # SLIC regions ranked by their mean score (runtime/superpixels.py)
        sp = SuperpixelQuery(runner, contract, labels, spec, seed, rnd, void_of)
        return _query_superpixels(sp, result, loader, model, (heuristic, params, seed, rnd, contract.schedule.queries),
                                  viz_indices, progress)
    if mode == "image":
        planned = min(spec, len(labels) - labels.total())
        result.planned = spec
    elif evenly:
        quotas = budget_mod.per_image_quotas(spec, sizes, radius)
        result.planned = sum(quotas)
    else:
        total = budget_mod.total_budget(spec, sizes, radius)
        result.planned = total
        keep = total if threshold is None else max(sel.pool_size(threshold, sum(h * w for h, w in sizes)), total)
        top = _TopCandidates(keep)

    local_new: dict[int, np.ndarray] = {}   # image -> flat indices of new pixels (evenly mode)
    local_img: dict[int, float] = {}        # image mode: image -> score
    if getattr(get_heuristic(heuristic), "image_batch", False):  # `kcenter`: one pick over every image
        return _query_batch(result, model, loader, labels, planned, get_heuristic(heuristic), progress, seed)
    fp16 = bool((getattr(getattr(runner, "data", None), "cfg", None) or {}).get("fp16"))
    for data in loader:
        indices = [int(i) for i in data.pop("pool_index")]
        voids = data.pop("void", None)  # read in the loader's workers (loaders.query_loader), else here
        with torch.no_grad(), _autocast(model, fp16):  # image mode: scored at the image's own size
            probs = posteriors(model, data, None if mode == "image" else sizes[indices[0]])
        with torch.no_grad():
            scores = _batch_scores(probs, heuristic, params, seed, rnd, indices, model, data, contract.schedule.queries)
        if mode == "image":  # one transfer per batch: the images' mean scores
            means = torch.cat([image_scores(scores[j:j + 1]) for j in range(len(indices))]).tolist()
            local_img.update((i, float(v)) for i, v in zip(indices, means) if not labels.count(i))
        for j, index in enumerate(indices):
            if mode != "image":
                lab = labels.mask(index)
                if void_of is not None:
                    void = voids[j].numpy() if voids is not None else void_of(index, sizes[index])
                    result.void += int((void & ~lab).sum())
                    lab = lab | void  # never ranked, never bought
                if index in viz_indices:
                    result.viz_scores[index] = scores[j].cpu().numpy()  # float64 stays float64 (`margin`)
                ranked = _ranked(scores[j], lab)
                if not evenly:
                    top.add(index, ranked)
                else:
                    zone = sel.dilate(labels.mask(index), suppress) if suppress is not None and keep_suppressed else None
                    new = (_select_balanced(probs[j], scores[j], lab, quotas[index]) if balanced else
                           _select_one(contract, ranked, quotas[index], sel.rng_for(seed, rnd, index), zone))
                    local_new[index] = np.flatnonzero(new.ravel()).astype(np.int64)
            kill_point("query_image")
            if progress:
                progress()

    # ---- gather + apply identically on every rank
    if mode == "image":
        _apply_images(result, labels, local_img, planned, sel.rng_for(seed, rnd), threshold)
    elif evenly:
        for part in all_gather(local_new):
            for i, flat in part.items():
                m = np.zeros(sizes[i][0] * sizes[i][1], bool)
                m[flat] = True
                result.per_image[i] = labels.add(i, m.reshape(sizes[i]))
        result.short = [i for i, q in enumerate(quotas) if result.per_image.get(i, 0) < q]
    else:
        parts = all_gather((top.s, top.i, top.p))
        shapes = {i: sizes[i] for i in range(len(sizes))}
        s, i, p = (np.concatenate([part[k] for part in parts]) for k in range(3))
        picked = sel.select_global_candidates(s, i, p, shapes, result.planned, threshold, sel.rng_for(seed, rnd),
                                              total_pixels=sum(h * w for h, w in sizes))
        for i in picked:
            result.per_image[i] = labels.add(i, picked[i])
    result.added = sum(result.per_image.values())
    if result.added < result.planned:
        warnings.warn(f"query {rnd}: only {result.added} new labels were left to buy of the "
                      f"{result.planned} planned; took all that was left", stacklevel=2)
    return result


def _query_superpixels(sp: SuperpixelQuery, result: QueryResult, loader, model, scoring: tuple, viz_indices: set[int],
                       progress) -> QueryResult:
    """Superpixel mode: each image's pixel scores (void and labelled pixels out) pooled over its superpixels;
    `sp.finish` chooses and labels them identically on every rank. `scoring`: heuristic, params, seed, rnd, queries."""
    heuristic, params, seed, rnd, queries = scoring
    labels = sp.labels
    for data in loader:
        indices = [int(i) for i in data.pop("pool_index")]
        voids = data.pop("void", None)  # read in the loader's workers (loaders.query_loader), else here
        with torch.no_grad():
            probs = posteriors(model, data, labels.sizes[indices[0]])
        for j, index in enumerate(indices):
            with torch.no_grad():
                scores = _scores(probs[j:j + 1], heuristic, params, seed, rnd, index, model, data, queries)
            lab = labels.mask(index)
            if sp.void_of is not None:
                void = voids[j].numpy() if voids is not None else sp.void_of(index, labels.sizes[index])
                result.void += int((void & ~lab).sum())
                lab = lab | void  # never ranked, never bought
            s = scores[0].cpu().numpy()
            if index in viz_indices:
                result.viz_scores[index] = s
            sp.add(index, s, lab)
            kill_point("query_image")
        if progress:
            progress()
    return sp.finish(result, all_gather)


def _select_one(contract: Contract, ranked, quota: int, rng, zone) -> np.ndarray:
    """One image's new labels under the mode's per-image selection (regions, suppression, threshold, prop)."""
    threshold, suppress = contract.sample_threshold, getattr(contract.settings, "suppress_radius", None)
    if contract.mode == "region":
        return sel.pick_regions(ranked, quota, contract.radius, threshold, rng)
    if suppress is not None:
        return sel.pick_suppressed(ranked, quota, suppress, zone, threshold, rng)
    entropy_prop = contract.params.get("prop") if contract.heuristic == "entropy" else None
    if entropy_prop is not None:
        return sel.pick_pixels(ranked, quota, None, rng, top_prop=entropy_prop)
    return sel.pick_pixels(ranked, quota, threshold, rng)


def _select_balanced(probs: torch.Tensor, scores, lab: np.ndarray, quota: int) -> np.ndarray:
    """`class_balanced`: one image's quota spread over its predicted classes, argmax of probs (C, H, W)
    (sel.select_class_balanced)."""
    s = scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else scores
    return sel.select_class_balanced(s, lab, quota, probs.argmax(dim=0).cpu().numpy())


def _apply_images(result: QueryResult, labels, local_img: dict, planned: int, rng, threshold) -> None:
    """Image mode: every rank's image scores gathered, the same top images labelled on every rank."""
    scores_all: dict = {}
    for part in all_gather(local_img):
        scores_all.update(part)
    vec = np.full(len(labels), -np.inf)
    for i, v in scores_all.items():
        vec[i] = v
    for i in sel.select_images(vec, labels.images(), planned, rng, threshold).tolist():
        result.per_image[i] = labels.add(i, True)


def _query_batch(result: QueryResult, model, loader, labels, planned: int, fn, progress, seed: int) -> QueryResult:
    """Image mode, batch-aware selector: the pooled features of every image (the labelled ones are the
    centres), gathered from every rank; the same picks are labelled on every rank. `badge`: the gradient
    embeddings of the unlabelled images (labelled rows stay 0 and are never picked), the draws from
    rng_for(seed, query)."""
    grads = getattr(fn, "grad_embedding", False)
    local_feat: dict[int, np.ndarray] = {}
    for data in loader:
        index = int(data.pop("pool_index")[0])
        if not (grads and labels.count(index)):
            with torch.no_grad():
                embed = grad_embedding if grads else pooled_features
                local_feat[index] = embed(model, data, labels.sizes[index])
        if progress:
            progress()
    feats: dict = {}
    for part in all_gather(local_feat):
        feats.update(part)
    lab = labels.images()
    missing = sorted(i for i in range(len(labels)) if i not in feats and not (grads and lab[i]))
    if missing:
        raise RuntimeError(f"{'badge' if grads else 'k-center'} needs the features of every pool image; "
                           f"{len(missing)} missing")
    width = len(next(iter(feats.values()))) if feats else 0
    matrix = np.stack([feats.get(i, np.zeros(width)) for i in range(len(labels))])
    extra = {"rng": sel.rng_for(seed, result.round)} if grads else {}
    for i in fn(matrix, lab, planned, **extra).tolist():
        result.per_image[int(i)] = labels.add(int(i), True)
    result.added = sum(result.per_image.values())
    return result


def initial_labels(labels, contract: Contract, seed: int, void_of=None) -> int:
    """Round-0 labels, uniformly at random with the rng_for(seed, 0, …) streams; returns how many.

    `void_of` (see void_reader): void pixels are never drawn (a region loses its void pixels).
    """
    mode, settings = contract.mode, contract.settings
    if mode == "image":
        k = settings.initial_pool
        return labels.add_images(sel.initial_images(len(labels), k, sel.rng_for(seed, 0)).tolist())
    radius = contract.radius
    quotas = budget_mod.per_image_quotas(settings.initial_label_pixels, labels.sizes, radius)
    added = 0
    for i, q in enumerate(quotas):
        if not q:
            continue
        rng = sel.rng_for(seed, 0, i)
        void = np.zeros(labels.sizes[i], bool) if void_of is None else void_of(i, labels.sizes[i])
        if mode == "region":  # random whole regions, not scattered pixels (docs/reference.md §3b FIXME)
            new = sel.select_regions(rng.random(labels.sizes[i]), void, q, radius, None, None)
        else:
            new = sel.random_pixels(void, q, rng)
        added += labels.add(i, new)
    return added
