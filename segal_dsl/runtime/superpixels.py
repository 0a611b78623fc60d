"""Superpixel sampling (`sample superpixel`): SLIC regions, pooled scores, one-click (dominant) or full labels.

SLIC (scikit-image) runs once per pool image at the label resolution and is cached in the work dir
(`superpixels/slic-n<segments>-c<compactness>/`, each map written atomically), so later queries and a resumed
run read it back. A superpixel's score is the mean of its pixels' scores (Cai et al. 2021, D2ADA); the top
superpixels not yet labelled are bought, per image (`evenly`) or over the pool. `label full` gives their pixels
the ground truth; `label dominant` gives every pixel the superpixel's majority class (the label store keeps
that class map, runtime/labels.py). Formulas, sources and departures: docs/strategies.md, "Superpixels".
"""

from __future__ import annotations

import hashlib
import io
import os.path as osp
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segal_dsl.spec import budget as budget_mod

from .labels import atomic_write_bytes
from .pipelines import resize_nearest
from .selection import rng_for

CACHE_DIR = "superpixels"


def slic_segments(image: np.ndarray, segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixels of an (H, W, 3) RGB (or (H, W) grey) image: an int32 (H, W) map of ids 0..K-1.

    scikit-image's `slic` as Cai et al. call it (sigma 0, connectivity enforced), ids made contiguous."""
    from skimage.segmentation import slic

    img = np.asarray(image)
    seg = slic(img, n_segments=int(segments), compactness=float(compactness), sigma=0, start_label=0,
               channel_axis=-1 if img.ndim == 3 else None)
    _, contiguous = np.unique(seg, return_inverse=True)
    return contiguous.reshape(seg.shape).astype(np.int32)


class SuperpixelCache:
    """The SLIC maps of one pool in the work dir: computed on first use, read back afterwards.

    A map's file name holds its pool index and a digest of the image's file name and label size, so a
    changed pool never reads a stale map. `computed` counts the maps this object had to compute.
    """

    def __init__(self, work_dir: str, segments: int, compactness: float, image_of: Callable[[int, tuple], np.ndarray],
                 names: list[str]):
        self.dir = Path(work_dir) / CACHE_DIR / f"slic-n{int(segments)}-c{float(compactness):g}"
        self.segments, self.compactness = int(segments), float(compactness)
        self.image_of, self.names = image_of, names
        self.computed = 0

    def path(self, index: int, shape: tuple[int, int]) -> Path:
        key = f"{self.names[index]}|{shape[0]}x{shape[1]}".encode()
        return self.dir / f"{index:06d}-{hashlib.sha256(key).hexdigest()[:12]}.npy"

    def get(self, index: int, shape: tuple[int, int]) -> np.ndarray:
        """The (H, W) superpixel map of pool image `index` at the label size `shape`."""
        p = self.path(index, shape)
        if p.is_file():
            try:
                seg = np.load(p, allow_pickle=False)
                if seg.shape == tuple(shape):
                    return seg
            except (OSError, ValueError):
                pass  # unreadable (never half-written: atomic), computed again below
        seg = slic_segments(self.image_of(index, shape), self.segments, self.compactness)
        self.computed += 1
        self.dir.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, seg, allow_pickle=False)
        atomic_write_bytes(p, buf.getvalue())
        return seg


def pool_cache(work_dir: str, dataset, settings) -> SuperpixelCache:
    """The cache of a pool dataset (mmseg: `img_dir` + `img_infos[i]['filename']`), images read with Pillow."""
    from PIL import Image

    def image_of(index: int, shape: tuple[int, int]) -> np.ndarray:
        with Image.open(osp.join(dataset.img_dir, dataset.img_infos[index]["filename"])) as im:
            im = im.convert("RGB")
            if (im.height, im.width) != tuple(shape):  # SLIC at the label resolution (`scale_size`)
                im = im.resize((shape[1], shape[0]), Image.BILINEAR)
            return np.asarray(im)

    names = [info["filename"] for info in dataset.img_infos]
    return SuperpixelCache(work_dir, settings.superpixel_segments, settings.superpixel_compactness, image_of, names)


def gt_reader(dataset) -> Callable[[int, tuple], np.ndarray] | None:
    """index, (H, W) -> the ground truth at the label resolution (nearest), or None without annotations."""
    get = getattr(dataset, "get_gt_seg_map_by_idx", None)
    if get is None or getattr(dataset, "ann_dir", None) is None:
        return None

    def gt(index: int, shape: tuple[int, int]) -> np.ndarray:
        m = np.asarray(get(index))
        return m if m.shape == tuple(shape) else resize_nearest(m, shape)

    return gt


def pooled_scores(scores: np.ndarray, segments: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, means): every superpixel with an eligible pixel, and the mean score over its eligible pixels."""
    seg = segments.ravel()[eligible.ravel()]
    val = np.asarray(scores, dtype=np.float64).ravel()[eligible.ravel()]
    k = int(segments.max()) + 1 if segments.size else 0
    count = np.bincount(seg, minlength=k)
    total = np.bincount(seg, weights=val, minlength=k)
    ids = np.flatnonzero(count)
    return ids, total[ids] / count[ids]


def top_superpixels(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the k largest values, ties broken uniformly at random by `rng` (seeded: replayable)."""
    if k <= 0 or values.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((rng.random(values.size), -np.asarray(values, dtype=np.float64)))
    return order[:k]


def dominant_classes(segments: np.ndarray, gt: np.ndarray, pixels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The majority ground-truth class of each superpixel in `ids` over its `pixels` (ties: the lowest class)."""
    seg, lab = segments[pixels], gt[pixels].astype(np.int64)
    out = np.empty(ids.size, dtype=np.int64)
    for j, s in enumerate(ids.tolist()):
        out[j] = int(np.argmax(np.bincount(lab[seg == s])))
    return out


def label_superpixels(segments: np.ndarray, eligible: np.ndarray, ids: np.ndarray, how: str,
                      gt: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(mask, class map) of buying superpixels `ids`: their eligible pixels, and for `dominant` an int16 map
    holding each bought pixel's assigned class (-1 elsewhere); `full` has no map (the ground truth is used)."""
    mask = np.isin(segments, ids) & eligible
    if how == "full":
        return mask, None
    if gt is None:
        raise RuntimeError("`label dominant` needs the pool's ground truth (data.query with ann_dir)")
    classes = np.full(segments.shape, -1, dtype=np.int16)
    if mask.any():
        ids = np.unique(segments[mask])
        major = dominant_classes(segments, gt, mask, ids)
        lut = np.full(int(segments.max()) + 1, -1, dtype=np.int16)
        lut[ids] = major
        classes[mask] = lut[segments[mask]]
    return mask, classes


class SuperpixelQuery:
    """One superpixel query, fed image by image by runtime/query.py (`add`), then `finish`ed on every rank."""

    def __init__(self, runner, contract, labels, spec: Any, seed: int, rnd: int, void_of=None):
        dataset = runner.data.query
        self.cache = pool_cache(runner.work_dir, dataset, contract.settings)
        self.gt_of = gt_reader(dataset)
        self.labels, self.void_of, self.seed, self.rnd = labels, void_of, seed, rnd
        self.how = contract.settings.superpixel_label
        self.evenly = contract.sample_evenly
        self.quotas = budget_mod.superpixel_quotas(spec, len(labels))
        self.local: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # image -> (candidate ids, pooled scores)

    def add(self, index: int, scores: np.ndarray, labelled: np.ndarray) -> None:
        """Pool one image's pixel scores over its superpixels (`labelled` also holds the void pixels)."""
        seg = self.cache.get(index, self.labels.sizes[index])
        self.local[index] = pooled_scores(scores, seg, ~labelled)

    def _eligible(self, index: int) -> np.ndarray:
        shape = self.labels.sizes[index]
        free = ~self.labels.mask(index)
        return free if self.void_of is None else free & ~self.void_of(index, shape)

    def picks(self, candidates: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[int, np.ndarray]:
        return choose(candidates, self.quotas, self.evenly, self.seed, self.rnd)

    def finish(self, result, gather: Callable[[Any], list]):
        """Gather every rank's candidates, choose, label the own images, gather and apply the labels everywhere."""
        candidates: dict = {}
        for part in gather(self.local):
            candidates.update(part)
        local_new = {}
        for i, ids in self.picks(candidates).items():
            if i not in self.local or not ids.size:
                continue
            shape = self.labels.sizes[i]
            mask, classes = label_superpixels(self.cache.get(i, shape), self._eligible(i), ids, self.how,
                                              self.gt_of(i, shape) if self.how == "dominant" else None)
            flat = np.flatnonzero(mask.ravel())
            local_new[i] = (int(ids.size), flat, None if classes is None else classes.ravel()[flat])
        planned = sum(self.quotas)
        bought = 0
        for part in gather(local_new):
            for i, (clicks, flat, cls) in part.items():
                result.per_image[i] = apply(self.labels, i, clicks, flat, cls)
                bought += clicks
        result.planned = result.added = sum(result.per_image.values())  # pixels: a superpixel is bought whole
        # slic_computed: SLIC maps the ranks computed in this query (0 once the cache holds the pool); summed, so
        # every rank records the same (runner._check_ranks_agree compares the records)
        computed = sum(gather(self.cache.computed))
        result.extra = {"superpixels_planned": planned, "superpixels": bought, "slic_computed": computed}
        result.short = [i for i, q in enumerate(self.quotas) if self.evenly and q and i in candidates
                        and len(candidates[i][0]) < q]
        if bought < planned:
            warnings.warn(f"query {self.rnd}: only {bought} superpixels were left to buy of the {planned} planned; "
                          "took all that was left", stacklevel=2)
        return result


def choose(candidates: dict[int, tuple[np.ndarray, np.ndarray]], quotas: list[int], evenly: bool, seed: int,
           rnd: int) -> dict[int, np.ndarray]:
    """image -> superpixel ids bought, from each image's (candidate ids, pooled scores): each image's top quota
    (`evenly`, ties from rng_for(seed, rnd, image)), else the pool's top sum(quotas) (ties from rng_for(seed, rnd))."""
    if evenly:
        return {i: ids[top_superpixels(means, quotas[i], rng_for(seed, rnd, i))] for i, (ids, means) in candidates.items()}
    order = sorted(candidates)
    if not order:
        return {}
    img = np.concatenate([np.full(candidates[i][0].size, i, np.int64) for i in order])
    ids = np.concatenate([candidates[i][0] for i in order])
    means = np.concatenate([candidates[i][1] for i in order])
    chosen = top_superpixels(means, sum(quotas), rng_for(seed, rnd))
    return {i: np.sort(ids[chosen][img[chosen] == i]) for i in order if (img[chosen] == i).any()}


def apply(labels, index: int, clicks: int, flat: np.ndarray, classes: np.ndarray | None) -> int:
    """Label the pixels `flat` of image `index` as `clicks` superpixels (with their assigned `classes`)."""
    h, w = labels.sizes[index]
    mask = np.zeros(h * w, bool)
    mask[flat] = True
    class_map = None
    if classes is not None:
        class_map = np.full(h * w, -1, np.int16)
        class_map[flat] = classes
        class_map = class_map.reshape(h, w)
    return labels.add_superpixels(index, mask.reshape(h, w), clicks, class_map)


def initial_labels(labels, contract, seed: int, void_of, work_dir: str, dataset) -> tuple[int, int]:
    """Round 0: superpixels drawn uniformly at random (rng_for(seed, 0, image)); returns (pixels, superpixels)."""
    settings = contract.settings
    quotas = budget_mod.superpixel_quotas(settings.initial_label_pixels, len(labels))
    if not any(quotas):
        return 0, 0
    cache, gt_of = pool_cache(work_dir, dataset, settings), gt_reader(dataset)
    pixels = clicks = 0
    for i, q in enumerate(quotas):
        if not q:
            continue
        shape = labels.sizes[i]
        eligible = np.ones(shape, bool) if void_of is None else ~void_of(i, shape)
        seg = cache.get(i, shape)
        ids = np.unique(seg[eligible])
        ids = ids[top_superpixels(np.zeros(ids.size), q, rng_for(seed, 0, i))]
        mask, classes = label_superpixels(seg, eligible, ids, settings.superpixel_label,
                                          gt_of(i, shape) if settings.superpixel_label == "dominant" else None)
        flat = np.flatnonzero(mask.ravel())
        pixels += apply(labels, i, int(ids.size), flat, None if classes is None else classes.ravel()[flat])
        clicks += int(ids.size)
    return pixels, clicks
