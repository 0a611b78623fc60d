"""Mask-aware data loading: bought labels are applied to the GT at load time, before any geometry.

Fixes docs/reference.md §3f: the reference carried a separate mask through its own Resize/Flip/Crop copies
(stock transforms silently desynchronised it, `keep_ratio=False` transposed it, and the crop looked at
unlabelled GT). Here `LoadAnnotationsWithLabels` writes `ignore_index` into every unlabelled GT pixel
right after decoding, so every stock mmseg transform afterwards sees one aligned map.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from mmseg.datasets import PIPELINES
from mmseg.datasets.pipelines import LoadAnnotations
from torch.utils.data import ConcatDataset, Dataset, Subset

MASK_KEY = "al_label_mask"
CLASS_KEY = "al_class_map"  # superpixel `label dominant`: int16 classes assigned to bought pixels (-1: the GT)


def resize_nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a bool mask to `shape` (H, W) without cv2's (W, H) order trap."""
    h, w = shape
    ys = (np.arange(h) * mask.shape[0] // h).clip(0, mask.shape[0] - 1)
    xs = (np.arange(w) * mask.shape[1] // w).clip(0, mask.shape[1] - 1)
    return mask[ys[:, None], xs[None, :]]


@PIPELINES.register_module()
class LoadAnnotationsWithLabels(LoadAnnotations):
    """LoadAnnotations, then GT := ignore_index wherever `results['al_label_mask']` is False.

    The mask lives at the label resolution (the GT's own size unless `scale_size` states another);
    at another size it is resized to the GT with nearest neighbour, so each bought pixel covers the
    matching area of the native GT. Without a mask in `results` (a fully labelled source set) the GT
    is left as it is. With `results['al_class_map']` (one-click superpixel labels, runtime/superpixels.py)
    the assigned class replaces the GT wherever it is >= 0, before the mask is applied.
    """

    def __init__(self, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        self.ignore_index = ignore_index

    def __call__(self, results):
        results = super().__call__(results)
        mask = results.pop(MASK_KEY, None)
        classes = results.pop(CLASS_KEY, None)
        if mask is not None:
            gt = results["gt_semantic_seg"]
            if mask.shape != gt.shape:
                mask = resize_nearest(mask, gt.shape)
            gt = gt.copy()
            if classes is not None:
                if classes.shape != gt.shape:
                    classes = resize_nearest(classes, gt.shape)
                given = classes >= 0
                gt[given] = classes[given].astype(gt.dtype)
            gt[~mask] = self.ignore_index
            results["gt_semantic_seg"] = gt
        return results


def masked_pipeline(pipeline: Sequence[dict], ignore_index: int) -> list[dict]:
    """Copy of a pipeline config with `LoadAnnotations` swapped for the label-aware loader.

    Raises ValueError when the pipeline loads no annotations at all (nothing could be masked).
    """
    out, found = [], False
    for step in pipeline:
        step = copy.deepcopy(dict(step))
        if step.get("type") in ("LoadAnnotations", "LoadAnnotationsWithLabels"):
            step["type"] = "LoadAnnotationsWithLabels"
            step["ignore_index"] = ignore_index
            found = True
        out.append(step)
    if not found:
        raise ValueError("the train pipeline has no LoadAnnotations step: unlabelled pixels cannot be masked")
    return out


class LabelMaskedDataset(Dataset):
    """A train dataset whose items carry the current label mask of their pool image.

    `labels` is read at item time, so a loader built after a query sees that query's labels. The
    base dataset's pipeline must contain `LoadAnnotationsWithLabels` (see `masked_pipeline`).
    """

    def __init__(self, base, labels, pool_index: Sequence[int] | None = None):
        self.base = base
        self.labels = labels
        self.pool_index = list(range(len(base))) if pool_index is None else list(pool_index)
        self.CLASSES = getattr(base, "CLASSES", None)
        self.PALETTE = getattr(base, "PALETTE", None)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, idx: int):
        info = self.base.img_infos[idx]
        results = dict(img_info=info, ann_info=self.base.get_ann_info(idx))
        self.base.pre_pipeline(results)
        results[MASK_KEY] = self.labels.mask(self.pool_index[idx])
        classes = self.labels.class_map(self.pool_index[idx])
        if classes is not None:
            results[CLASS_KEY] = classes
        return self.base.pipeline(results)


def image_subset(base, labelled: Sequence[int]) -> Subset:
    """Image mode: the train set is exactly the labelled images (docs/reference.md §3e kept all of them)."""
    sub = Subset(base, sorted(int(i) for i in labelled))
    sub.CLASSES = getattr(base, "CLASSES", None)
    sub.PALETTE = getattr(base, "PALETTE", None)
    return sub


def with_source(source, target):
    """ADA (`source_free=False`): the fully labelled source set plus the label-masked target set."""
    ds = ConcatDataset([source, target])
    ds.CLASSES = getattr(target, "CLASSES", None)
    ds.PALETTE = getattr(target, "PALETTE", None)
    return ds


def pool_order(train_ds, query_ds) -> list[int]:
    """Map each train image to its query-pool index by filename (never by basename: docs/reference.md §3a).

    Raises ValueError naming the first image that is missing from the pool.
    """
    pos = {info["filename"]: i for i, info in enumerate(query_ds.img_infos)}
    out = []
    for info in train_ds.img_infos:
        if info["filename"] not in pos:
            raise ValueError(f"train image {info['filename']!r} is not in the query pool (data.query)")
        out.append(pos[info["filename"]])
    return out


def pool_sizes(query, scale_size) -> list[tuple[int, int]]:
    """Label resolution (H, W) per pool image: `scale_size` (W, H) when stated, else the GT's own size."""
    if scale_size:
        return [(int(scale_size[1]), int(scale_size[0]))] * len(query)
    import os.path as osp

    from PIL import Image

    sizes = []
    for info in query.img_infos:
        if query.ann_dir is not None and "ann" in info:
            path = osp.join(query.ann_dir, info["ann"]["seg_map"])
        else:
            path = osp.join(query.img_dir, info["filename"])
        with Image.open(path) as im:  # the header only: no pixel is decoded
            sizes.append((im.height, im.width))
    return sizes


def target_train_cfg(cfg, contract) -> dict:
    """`data.train`, or its target half in ADA (the contract checked the shapes against `source_free`)."""
    train_cfg = cfg.data.train
    return copy.deepcopy(train_cfg if contract.source_free else train_cfg[1])


def query_cfg_of(cfg, contract) -> dict:
    """The query pool's dataset: `data.query`, else the (target) train images through the test pipeline."""
    query_cfg = cfg.data.get("query")
    if query_cfg is None:
        query_cfg = target_train_cfg(cfg, contract)
        query_cfg["pipeline"] = cfg.data.test.pipeline
    return query_cfg
