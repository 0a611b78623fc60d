"""The batched query (runtime/query.py, loaders.query_loader, ranking.DeviceRanked) buys exactly the labels of
the per-image numpy path for every batch size, on the real toy model and pool; its host memory stays flat in
the pool size."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.runtime

CONFIGS = Path(__file__).parent / "runtime_configs"
N = 12  # pool images per query: batches of 5 leave a partial last batch


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    pytest.importorskip("mmseg")
    import torch
    from _runtime_helpers import toy_env
    from mmseg.datasets import build_dataset
    from mmseg.models import build_segmentor

    import segal_dsl.runtime  # noqa: F401  (registers the toy dataset)

    toy_env(tmp_path_factory.getbasetemp())
    import mmcv

    cfg = mmcv.Config.fromfile(str(CONFIGS / "toy_pixel.py"))
    torch.manual_seed(0)
    model = build_segmentor(cfg.model)
    model.init_weights()
    model.eval()
    return SimpleNamespace(model=model, query=build_dataset(cfg.data.query))


def _contract(heuristic: str, mode: str, batch: int, **settings):
    import mmcv

    from segal_dsl.spec.config import read_config

    base = {"image": "toy_image.py", "region": "toy_region.py"}.get(mode, "toy_pixel.py")
    cfg = mmcv.Config.fromfile(str(CONFIGS / base))
    kind = "pixel" if mode == "global" else mode
    al = cfg.active_learning
    if kind != "image":
        s = al.settings[kind]
        s.initial_label_pixels = dict(value=1.0, unit="%/img")
        s.budget_per_round = dict(value=3 if kind == "region" else 2.0, unit="regions/img" if kind == "region" else "%/img")
        s.sample_evenly = mode != "global"
        s.update(settings)
    else:
        al.settings.image.update(initial_pool=4, budget_per_round=3)
    al.heuristic = heuristic
    al.heuristic_cfg = dict(k=1, use_entropy=True, categories=5) if heuristic == "ripu" else {}
    if heuristic == "ripu" and settings.get("suppress_radius"):
        al.heuristic_cfg["form"] = "pixel"
    cfg.data.query_dataloader = dict(samples_per_gpu=batch)
    return cfg, read_config(cfg)


def _state(toy, contract, n=N):
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.query import initial_labels, void_reader

    sizes = [(64, 64)] * n
    labels = LabelState.for_images(n) if contract.mode == "image" else LabelState.for_pixels(sizes)
    void_of = None if contract.mode == "image" else void_reader(toy.query, contract.ignore_index)
    initial_labels(labels, contract, 0, void_of)
    return labels


def _batched(toy, cfg, contract, labels, dataset=None, n=N):
    from segal_dsl.runtime.loaders import batches, query_loader
    from segal_dsl.runtime.query import run_query

    ds = dataset if dataset is not None else toy.query
    runner = SimpleNamespace(model=toy.model, data=SimpleNamespace(query=ds, cfg=cfg))
    loader = query_loader(ds, range(n), labels.sizes, cfg.data, "cpu", batched=batches(contract))
    return run_query(runner, 1, loader, labels, contract, 7, set()), loader


def _per_image(toy, contract, labels, dataset=None, n=N):
    """The query as it ran before batching: one image per forward, its numpy map, the dense selectors."""
    import torch
    from mmcv.parallel import collate, scatter

    from segal_dsl.runtime import selection as sel
    from segal_dsl.runtime.heuristics import get_heuristic, image_scores
    from segal_dsl.runtime.query import void_reader
    from segal_dsl.spec import budget as budget_mod
    from segal_dsl.spec import heuristics as heuristics_spec

    ds = dataset if dataset is not None else toy.query
    mode, h = contract.mode, contract.heuristic
    params = dict(contract.score_params())
    if "form" in params:
        params["form"] = heuristics_spec.score_form(h, params, mode)
    void_of = None if mode == "image" else void_reader(ds, contract.ignore_index)
    spec, t, sizes = contract.query_budget(1), contract.sample_threshold, labels.sizes
    quotas = None if mode == "image" else budget_mod.per_image_quotas(spec, sizes, contract.radius)
    maps, img = {}, np.full(n, -np.inf)
    for i in range(n):
        data = scatter(collate([ds[i]], samples_per_gpu=1), [-1])[0]
        with torch.no_grad():
            probs = toy.model.inference(data["img"][0], data["img_metas"][0], rescale=True)
            if h == "random":
                g = torch.Generator().manual_seed(int(sel.rng_for(7, 1, i).integers(2**62)))
                scores = get_heuristic(h)(probs, generator=g)
            else:
                scores = get_heuristic(h)(probs, **params)
        if mode == "image":
            img[i] = float(image_scores(scores)[0])
            continue
        lab = labels.mask(i) | void_of(i, sizes[i])
        s, rng = scores[0].numpy(), sel.rng_for(7, 1, i)
        if not contract.sample_evenly:
            maps[i] = (s, lab)
        elif mode == "region":
            labels.add(i, sel.select_regions(s, lab, quotas[i], contract.radius, t, rng))
        elif getattr(contract.settings, "suppress_radius", None) is not None:
            labels.add(i, sel.select_suppressed(s, lab, quotas[i], contract.settings.suppress_radius, None, t, rng))
        else:
            labels.add(i, sel.select_pixels(s, lab, quotas[i], t, rng))
    if mode == "image":
        picked = sel.select_images(img, labels.images(), spec, sel.rng_for(7, 1), t)
        labels.add_images(picked.tolist())
    elif not contract.sample_evenly:
        total = sum(hh * ww for hh, ww in sizes)
        picked = sel.select_global(((i, *maps[i]) for i in sorted(maps)), sum(quotas), t, sel.rng_for(7, 1),
                                   total_pixels=total)
        for i in picked:
            labels.add(i, picked[i])
    return labels


def _masks(labels):
    return labels.images() if labels.mode == "image" else np.stack([labels.mask(i) for i in range(len(labels))])


CASES = [(h, m, {}) for m in ("pixel", "region", "global") for h in ("entropy", "margin", "ripu", "random")] + [
    ("entropy", "pixel", {"sample_threshold": 10}),
    ("margin", "global", {"sample_threshold": 5}),
    ("entropy", "region", {"sample_threshold": 10}),
    ("ripu", "pixel", {"suppress_radius": 2}),
    ("entropy", "image", {}),
    ("margin", "image", {}),
]


@pytest.mark.parametrize("heuristic,mode,settings", CASES,
                         ids=[f"{h}-{m}{'-' + '-'.join(s) if s else ''}" for h, m, s in CASES])
def test_batched_query_buys_the_per_image_labels(toy, heuristic, mode, settings):
    cfg, contract = _contract(heuristic, mode, 1, **settings)
    want = _masks(_per_image(toy, contract, _state(toy, contract)))
    before = _masks(_state(toy, contract))
    for batch in (1, 5):
        cfg, contract = _contract(heuristic, mode, batch, **settings)
        labels = _state(toy, contract)
        result, loader = _batched(toy, cfg, contract, labels)
        assert loader.batch_sampler == [list(range(k, min(k + batch, N))) for k in range(0, N, batch)]
        got = _masks(labels)
        assert np.array_equal(got, want), f"batch {batch}: labels differ from the per-image path"
        assert result.added == int(got.sum() - before.sum()) == result.planned > 0


def test_scores_of_a_batch_equal_each_images_own(toy):
    import torch
    from mmcv.parallel import collate

    from segal_dsl.runtime.heuristics import get_heuristic
    from segal_dsl.runtime.query import posteriors

    batch = posteriors(toy.model, collate([toy.query[i] for i in range(4)], samples_per_gpu=4), (64, 64))
    for i in range(4):
        one = posteriors(toy.model, collate([toy.query[i]], samples_per_gpu=1), (64, 64))
        assert torch.equal(batch[i:i + 1], one)
    for name, params in [("entropy", {}), ("margin", {}), ("least_confidence", {}),
                         ("ripu", dict(k=1, categories=5)), ("ripu", dict(k=2, categories=5, form="pixel"))]:
        s = get_heuristic(name)(batch, **params)
        for i in range(4):
            assert torch.equal(s[i:i + 1], get_heuristic(name)(batch[i:i + 1], **params)), name


def test_device_ranking_equals_numpy_on_ties_nan_and_labels():
    import torch

    from segal_dsl.runtime import selection as sel
    from segal_dsl.runtime.ranking import DeviceRanked, exact_top

    g = np.random.default_rng(3)
    for trial in range(60):
        h, w = (int(v) for v in g.integers(2, 25, 2))
        s = (g.integers(0, int(g.integers(2, 30)), (h, w)) / 7).astype(np.float32)
        s[g.random((h, w)) < 0.05] = np.nan
        lab = g.random((h, w)) < 0.4
        dense, dev = sel.DenseRanked(s, lab), DeviceRanked(torch.from_numpy(s), lab)
        assert dev.n_unlabelled == dense.n_unlabelled
        for k in (0, 1, 3, h * w // 3, h * w):
            assert np.array_equal(dev.pool(k), dense.pool(k)) and np.array_equal(dev.order(k), dense.order(k))
        pos = np.arange(h * w)
        assert np.array_equal(dev.values(pos), dense.values(pos))
        for k in (1, h * w // 4):
            assert all(np.array_equal(a, b) for a, b in zip(dev.candidates(k), dense.candidates(k)))
        q, rng = int(g.integers(0, h * w)), trial
        assert np.array_equal(sel.pick_regions(dev, q, 1, None, None), sel.select_regions(s, lab, q, 1))
        assert np.array_equal(sel.pick_suppressed(dev, q, 1, None, 20, np.random.default_rng(rng)),
                              sel.select_suppressed(s, lab, q, 1, None, 20, np.random.default_rng(rng)))
        assert np.array_equal(sel.pick_pixels(dev, q, 10, np.random.default_rng(rng)),
                              sel.select_pixels(s, lab, q, 10, np.random.default_rng(rng)))
        assert np.array_equal(sel.pick_regions(dev, q, 1, 30, np.random.default_rng(rng)),
                              sel.select_regions(s, lab, q, 1, 30, np.random.default_rng(rng)))
    v = torch.tensor([1.0, 5.0, 3.0, 5.0, 3.0, 3.0])
    assert exact_top(v, 3).tolist() == sel.top_k(v.numpy(), 3).tolist() == [1, 2, 3]


def _mixed_pool(toy, root: Path, n: int):
    """The first n toy images and maps, every third one cropped to 48x64: a pool of two sizes."""
    from mmseg.datasets import build_dataset
    from PIL import Image

    src = Path(toy.query.img_dir).parent.parent
    for kind in ("img_dir", "ann_dir"):
        (root / kind).mkdir(parents=True, exist_ok=True)
        for k, path in enumerate(sorted((src / kind / "train").glob("*.png"))[:n]):
            if k % 3 == 1:
                with Image.open(path) as im:
                    im.crop((0, 0, 64, 48)).save(root / kind / path.name)
            else:
                shutil.copy(path, root / kind / path.name)
    return build_dataset(dict(type="CustomDataset", data_root=str(root), img_dir="img_dir", ann_dir="ann_dir",
                              img_suffix=".png", seg_map_suffix=".png", classes=toy.query.CLASSES,
                              palette=toy.query.PALETTE, pipeline=_test_pipeline(), test_mode=True))


def _test_pipeline():
    import mmcv

    return mmcv.Config.fromfile(str(CONFIGS / "toy_pixel.py")).data.query.pipeline


@pytest.mark.parametrize("mode", ["pixel", "region"])
def test_a_pool_of_two_sizes_batches_by_size(toy, tmp_path, mode):
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.pipelines import pool_sizes
    from segal_dsl.runtime.query import initial_labels

    ds = _mixed_pool(toy, tmp_path, 10)
    sizes = pool_sizes(ds, None)
    assert sorted(set(sizes)) == [(48, 64), (64, 64)]
    masks = []
    for batch in (1, 4):
        cfg, contract = _contract("entropy", mode, batch)
        labels = LabelState.for_pixels(sizes)
        initial_labels(labels, contract, 0, None)
        ref = LabelState.for_pixels(sizes)
        initial_labels(ref, contract, 0, None)
        _, loader = _batched(toy, cfg, contract, labels, ds, n=10)
        assert all(len({sizes[k] for k in b}) == 1 for b in loader.batch_sampler)
        if batch == 4:
            assert loader.batch_sampler == [[0, 2, 3, 5], [1, 4, 7], [6, 8, 9]]
        masks.append([labels.mask(i) for i in range(10)])
    want = _per_image(toy, contract, ref, ds, n=10)
    for a, b, i in zip(masks[0], masks[1], range(10)):
        assert np.array_equal(a, b) and np.array_equal(a, want.mask(i))


def test_size_batches_and_settings():
    from segal_dsl.runtime.loaders import size_batches
    from segal_dsl.spec.config import ConfigError, query_loader_settings

    assert size_batches([(2, 2)] * 5, 2) == [[0, 1], [2, 3], [4]]
    assert size_batches([(1, 1), (2, 2), (1, 1), (2, 2), (1, 1)], 2) == [[0, 2], [1, 3], [4]]
    assert query_loader_settings({"workers_per_gpu": 2}) == {"samples_per_gpu": 1, "workers_per_gpu": 2, "pin_memory": None}
    got = query_loader_settings({"workers_per_gpu": 2, "query_dataloader": {"samples_per_gpu": 8, "workers_per_gpu": 4}})
    assert got == {"samples_per_gpu": 8, "workers_per_gpu": 4, "pin_memory": None}
    with pytest.raises(ConfigError, match="must be an int >= 1, got 0") as e:
        query_loader_settings({"query_dataloader": {"samples_per_gpu": 0}})
    assert e.value.path == ("data", "query_dataloader", "samples_per_gpu")
    with pytest.raises(ConfigError, match="unknown key"):
        query_loader_settings({"query_dataloader": {"batch_size": 4}})


def test_the_contract_refuses_a_bad_query_loader_before_the_run():
    import mmcv

    from segal_dsl.spec.config import ConfigError, read_config

    cfg = mmcv.Config.fromfile(str(CONFIGS / "toy_pixel.py"))
    cfg.data.query_dataloader = dict(samples_per_gpu="4")
    with pytest.raises(ConfigError, match="must be an int >= 1"):
        read_config(cfg)


def test_host_memory_of_a_global_query_is_flat_in_the_pool(toy):
    """A fixed global budget (100 px over the pool): what the query allocates through numpy on the host is the
    same whether the pool has 8 or 32 images (one image's float64 map is 32 KiB; 24 more maps: 768 KiB)."""
    peaks = {}
    for n in (8, 32):
        cfg, contract = _contract("entropy", "global", 4, budget_per_round=100)
        labels = _state(toy, contract, n)
        tracemalloc.start()
        result, _ = _batched(toy, cfg, contract, labels, n=n)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.added == 100
    assert peaks[32] - peaks[8] < 96 * 1024, peaks


@pytest.mark.slow
def test_a_run_buys_the_same_labels_with_batches_of_three(tmp_path, tmp_path_factory):
    """The runner's own query loader (runner._query): `data.query_dataloader.samples_per_gpu=3` against the
    default of one image per batch, two queries of a real toy run."""
    from _runtime_helpers import label_digest, records, run, toy_env

    toy_env(tmp_path_factory.getbasetemp())
    assert run("toy_region.py", tmp_path / "one") == 0
    assert run("toy_region.py", tmp_path / "three", **{"data.query_dataloader.samples_per_gpu": 3}) == 0
    assert label_digest(tmp_path / "one") == label_digest(tmp_path / "three")
    assert [r["added"] for r in records(tmp_path / "three")][1:] == [r["planned"] for r in records(tmp_path / "three")][1:]


def test_void_masks_read_by_the_loader_buy_the_per_image_labels(toy):
    """The hard toy pool has void ground truth: the loader's items carry each image's void mask (read in its
    workers) and the labels equal the per-image path, which reads the ground truth itself."""
    import mmcv
    from mmseg.datasets import build_dataset

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.loaders import query_loader
    from segal_dsl.runtime.query import initial_labels, query_void_reader, run_query
    from segal_dsl.runtime.toy.dataset import config_path

    hard = build_dataset(mmcv.Config.fromfile(str(Path(config_path()).with_name("toy_hard_unet.py"))).data.query)
    cfg, contract = _contract("entropy", "pixel", 4)
    void_of = query_void_reader(hard, contract)
    sizes = [(64, 64)] * N

    def state():
        labels = LabelState.for_pixels(sizes)
        initial_labels(labels, contract, 0, void_of)
        return labels

    labels = state()
    loader = query_loader(hard, range(N), sizes, cfg.data, "cpu", void=lambda i: void_of(i, sizes[i]))
    assert "void" in next(iter(loader))
    result = run_query(SimpleNamespace(model=toy.model, data=SimpleNamespace(query=hard, cfg=cfg)), 1, loader, labels,
                       contract, 7, set())
    want = _per_image(toy, contract, state(), hard)
    assert result.void > 0 and result.added == result.planned
    assert all(np.array_equal(labels.mask(i), want.mask(i)) for i in range(N))
