"""Mask-aware loading: the loss sees only bought labels, and masks stay aligned through augmentation."""

from __future__ import annotations

import copy
import shutil

import pytest

pytest.importorskip("mmseg")

import numpy as np
import torch
from _runtime_helpers import CONFIGS, toy_env
from PIL import Image

pytestmark = pytest.mark.runtime


@pytest.fixture(autouse=True)
def _toy(tmp_path_factory):
    toy_env(tmp_path_factory.getbasetemp())


def _setup(root, labels):
    import mmcv
    from mmcv.parallel import collate
    from mmseg.datasets import build_dataset

    import segal_dsl.runtime  # noqa: F401
    from segal_dsl.runtime.pipelines import LabelMaskedDataset, masked_pipeline

    cfg = mmcv.Config.fromfile(str(CONFIGS / "toy_pixel.py"))
    ds_cfg = copy.deepcopy(cfg.data.train)
    ds_cfg.data_root = str(root)
    # deterministic pipeline (flip always) so two datasets give the same geometry
    pipe = [dict(t) for t in ds_cfg.pipeline]
    for t in pipe:
        if t["type"] == "RandomFlip":
            t["prob"] = 1.0
    ds_cfg.pipeline = masked_pipeline(pipe, 255)
    ds = LabelMaskedDataset(build_dataset(ds_cfg), labels)
    return cfg, collate([ds[0], ds[1]], samples_per_gpu=2)


def _loss(cfg, batch):
    from mmseg.models import build_segmentor

    from segal_dsl.runtime.train import inject_ignore_index

    torch.manual_seed(0)
    model_cfg = copy.deepcopy(cfg.model)
    inject_ignore_index(model_cfg, 255)
    model = build_segmentor(model_cfg)
    model.init_weights()
    model.train()
    losses = model(img=batch["img"].data[0], img_metas=batch["img_metas"].data[0],
                   gt_semantic_seg=batch["gt_semantic_seg"].data[0])
    return float(losses["decode.loss_ce"].detach())


def test_loss_ignores_unlabelled_pixels(tmp_path):
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.toy.generate import ensure

    src = ensure()
    labels = LabelState.for_pixels([(64, 64)] * 64)
    rng = np.random.default_rng(0)
    for i in (0, 1):
        m = np.zeros((64, 64), bool)
        m.ravel()[rng.choice(64 * 64, 200, replace=False)] = True
        labels.add(i, m)

    altered = tmp_path / "altered"
    shutil.copytree(src, altered)
    for i in (0, 1):
        p = altered / "ann_dir" / "train" / f"toy_{i:04d}.png"
        gt = np.array(Image.open(p))
        noise = rng.integers(0, 5, gt.shape).astype(np.uint8)
        gt[~labels.mask(i)] = noise[~labels.mask(i)]  # change only unlabelled GT pixels
        Image.fromarray(gt).save(p)

    cfg, batch_a = _setup(src, labels)
    _, batch_b = _setup(altered, labels)
    gt = batch_a["gt_semantic_seg"].data[0]
    assert int((gt != 255).sum()) == 400, "exactly the bought pixels reach the loss"
    assert torch.equal(gt, batch_b["gt_semantic_seg"].data[0])
    assert _loss(cfg, batch_a) == pytest.approx(_loss(cfg, batch_b), abs=0, rel=0)

    # sanity: altering a labelled pixel does change the supervision
    p = altered / "ann_dir" / "train" / "toy_0000.png"
    gt0 = np.array(Image.open(p))
    ys, xs = np.nonzero(labels.mask(0))
    gt0[ys, xs] = (gt0[ys, xs] + 1) % 5
    Image.fromarray(gt0).save(p)
    _, batch_c = _setup(altered, labels)
    assert _loss(cfg, batch_a) != _loss(cfg, batch_c)


def test_mask_applied_before_geometry_stays_aligned(tmp_path):
    """Flip after masking: the ignore pattern is the flipped label mask (docs/reference.md §3f desync)."""
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.toy.generate import ensure

    labels = LabelState.for_pixels([(64, 64)] * 64)
    m = np.zeros((64, 64), bool)
    m[:, :10] = True  # left band labelled
    labels.add(0, m)
    _, batch = _setup(ensure(), labels)
    gt = batch["gt_semantic_seg"].data[0][0, 0].numpy()
    assert (gt[:, -10:] != 255).all() and (gt[:, :-10] == 255).all()


def test_masked_pipeline_needs_load_annotations():
    from segal_dsl.runtime.pipelines import masked_pipeline

    with pytest.raises(ValueError, match="LoadAnnotations"):
        masked_pipeline([dict(type="LoadImageFromFile")], 255)
    out = masked_pipeline([dict(type="LoadAnnotations", reduce_zero_label=True)], 255)
    assert out == [dict(type="LoadAnnotationsWithLabels", reduce_zero_label=True, ignore_index=255)]


def test_inject_ignore_index_reaches_nested_and_list_losses():
    from segal_dsl.runtime.train import inject_ignore_index

    model = dict(decode_head=[dict(loss_decode=[dict(type="CrossEntropyLoss"), dict(type="LovaszLoss")]),
                              dict(loss_decode=dict(type="CrossEntropyLoss"))],
                 auxiliary_head=dict(inner=dict(loss_decode=dict(type="CrossEntropyLoss"))))
    assert inject_ignore_index(model, 255) == 3
    assert model["decode_head"][0]["ignore_index"] == 255
    assert model["decode_head"][0]["loss_decode"][0]["avg_non_ignore"] is True
    assert "avg_non_ignore" not in model["decode_head"][0]["loss_decode"][1]
    assert model["auxiliary_head"]["inner"]["ignore_index"] == 255
