"""Superpixel sampling (runtime/superpixels.py): SLIC on hand-made images, pooled scores, seeded top-k,
one-click (dominant) labels, the label store's class maps, the GT pipeline, the cache, and toy runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")
pytest.importorskip("skimage")

import numpy as np
from conftest import EXAMPLES
from PIL import Image

from segal_dsl.runtime.labels import LabelState, LabelStateError
from segal_dsl.runtime.superpixels import (
    SuperpixelCache,
    choose,
    dominant_classes,
    label_superpixels,
    pooled_scores,
    slic_segments,
    top_superpixels,
)

ROOT = Path(__file__).resolve().parent.parent
COLOURS = [(220, 30, 30), (30, 200, 40), (20, 40, 210), (240, 240, 240)]


def _quadrants(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image of four flat colour quadrants, and the quadrant id (0..3) of every pixel."""
    h = size // 2
    ids = np.zeros((size, size), np.int32)
    ids[:h, h:], ids[h:, :h], ids[h:, h:] = 1, 2, 3
    img = np.zeros((size, size, 3), np.uint8)
    for q, c in enumerate(COLOURS):
        img[ids == q] = c
    return img, ids


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a.ravel(), b.ravel())}
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


# ---------------------------------------------------------------- SLIC, pooling, selection


def test_slic_finds_the_flat_colour_blocks():
    img, ids = _quadrants()
    seg = slic_segments(img, 4, 10)
    assert seg.dtype == np.int32 and sorted(np.unique(seg).tolist()) == [0, 1, 2, 3]
    assert _same_partition(seg, ids)


def test_pooled_scores_are_means_over_the_eligible_pixels():
    seg = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    scores = np.array([[1.0, 3.0, 0.5, 0.5], [2.0, 6.0, 0.5, 8.0], [9.0, 9.0, 9.0, 9.0]])
    eligible = np.array([[True, True, True, True], [True, False, True, False], [False, False, False, False]])
    ids, means = pooled_scores(scores, seg, eligible)
    assert ids.tolist() == [0, 1]  # superpixel 2 has no eligible pixel: not a candidate
    np.testing.assert_allclose(means, [(1 + 3 + 2) / 3, 0.5])


def test_top_superpixels_breaks_ties_with_the_seed():
    values = np.array([1.0, 3.0, 3.0, 2.0])
    assert sorted(top_superpixels(values, 2, np.random.default_rng(0)).tolist()) == [1, 2]
    assert sorted(top_superpixels(values, 3, np.random.default_rng(0)).tolist()) == [1, 2, 3]
    firsts = {int(top_superpixels(values, 1, np.random.default_rng(s))[0]) for s in range(20)}
    assert firsts == {1, 2}  # either tied superpixel, depending on the seed
    again = [int(top_superpixels(values, 1, np.random.default_rng(7))[0]) for _ in range(3)]
    assert len(set(again)) == 1


def test_choose_takes_each_images_top_quota_or_the_pools_top_total():
    candidates = {0: (np.array([0, 2, 5]), np.array([0.9, 0.1, 0.5])),
                  1: (np.array([1, 3]), np.array([0.8, 0.7])),
                  2: (np.array([4]), np.array([0.05]))}
    even = choose(candidates, [2, 1, 2], True, seed=0, rnd=1)
    assert {i: sorted(v.tolist()) for i, v in even.items()} == {0: [0, 5], 1: [1], 2: [4]}  # 2 has only one
    pool = choose(candidates, [2, 1, 2], False, seed=0, rnd=1)  # top 5 of the pool's 6 scores: all but 0.05
    assert {i: v.tolist() for i, v in pool.items()} == {0: [0, 2, 5], 1: [1, 3]}
    pool = choose(candidates, [1, 1, 1], False, seed=0, rnd=1)  # top 3: 0.9, 0.8, 0.7
    assert {i: v.tolist() for i, v in pool.items()} == {0: [0], 1: [1, 3]}


def test_dominant_labels_give_each_superpixel_its_majority_class():
    _, seg = _quadrants(8)
    gt = np.zeros((8, 8), np.uint8)
    gt[:4, :4] = 2
    gt[0, :3] = 1             # quadrant 0: 13 pixels of 2, 3 of 1 -> 2
    gt[:4, 4:] = 3
    gt[:2, 4:] = 4            # quadrant 1: 8 of 3, 8 of 4 -> a tie: the lower class, 3
    gt[4:, :4] = 255
    gt[4, 0] = 1              # quadrant 2: void except one pixel of 1
    void = gt == 255
    eligible = ~void
    mask, classes = label_superpixels(seg, eligible, np.array([0, 1, 2]), "dominant", gt)
    assert mask.sum() == 16 + 16 + 1 and not (mask & void).any()
    assert set(np.unique(classes[seg == 0])) == {2} and set(np.unique(classes[seg == 1])) == {3}
    assert classes[4, 0] == 1 and (classes[~mask] == -1).all()
    assert dominant_classes(seg, gt, eligible, np.array([0, 1, 2])).tolist() == [2, 3, 1]


def test_full_labels_are_the_eligible_pixels_of_the_bought_superpixels():
    _, seg = _quadrants(8)
    eligible = np.ones((8, 8), bool)
    eligible[7, 7] = False
    mask, classes = label_superpixels(seg, eligible, np.array([3]), "full", None)
    assert classes is None and mask.sum() == 15 and not mask[7, 7] and mask[seg == 3].sum() == 15


# ---------------------------------------------------------------- cache


def test_the_cache_computes_once_and_is_read_back(tmp_path):
    img, ids = _quadrants()
    reads = []

    def image_of(index, shape):
        reads.append((index, shape))
        return img

    first = SuperpixelCache(str(tmp_path), 4, 10, image_of, ["a.png", "b.png"])
    seg = first.get(0, (32, 32))
    assert first.computed == 1 and first.get(0, (32, 32)).tolist() == seg.tolist() and first.computed == 1
    path = first.path(0, (32, 32))
    inode = path.stat().st_ino
    second = SuperpixelCache(str(tmp_path), 4, 10, image_of, ["a.png", "b.png"])  # a resumed run
    assert np.array_equal(second.get(0, (32, 32)), seg) and second.computed == 0 and len(reads) == 1
    assert path.stat().st_ino == inode
    other = SuperpixelCache(str(tmp_path), 8, 10, image_of, ["a.png", "b.png"])  # other SLIC settings
    other.get(0, (32, 32))
    assert other.computed == 1 and other.dir != first.dir
    renamed = SuperpixelCache(str(tmp_path), 4, 10, image_of, ["c.png", "b.png"])  # another image at index 0
    renamed.get(0, (32, 32))
    assert renamed.computed == 1


# ---------------------------------------------------------------- label store and pipeline


def test_label_state_keeps_clicks_and_class_maps_across_save_and_load(tmp_path):
    state = LabelState.for_superpixels([(4, 4), (2, 3)])
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True
    cls = np.full((4, 4), -1, np.int16)
    cls[:2, :2] = 3
    assert state.add_superpixels(0, mask, 1, cls) == 4
    mask2 = np.zeros((4, 4), bool)
    mask2[3, :] = True
    cls2 = np.full((4, 4), -1, np.int16)
    cls2[3, :] = 1
    assert state.add_superpixels(0, mask2, 1, cls2) == 4
    assert state.add_superpixels(1, np.ones((2, 3), bool), 2) == 6
    state.record_round(0, planned=14, added=14, extra={"superpixels": 4})
    state.save(tmp_path)
    back = LabelState.load(tmp_path)
    assert back.superpixels() == 4 and back.clicks.tolist() == [2, 2]
    want = np.full((4, 4), -1)
    want[:2, :2], want[3, :] = 3, 1
    assert back.class_map(0).tolist() == want.tolist() and back.class_map(1) is None
    assert back.records[0]["superpixels"] == 4 and back.total() == 14
    manifest = json.loads((tmp_path / "labels.json").read_text())
    payload = tmp_path / manifest["superpixels"]["classes"]
    payload.write_bytes(payload.read_bytes()[:-1] + b"\0")
    with pytest.raises(LabelStateError, match="assigned-class payload is corrupted"):
        LabelState.load(tmp_path)


def test_pixel_states_have_no_superpixel_entry(tmp_path):
    state = LabelState.for_pixels([(2, 2)])
    state.save(tmp_path)
    assert "superpixels" not in json.loads((tmp_path / "labels.json").read_text())
    assert LabelState.load(tmp_path).superpixels() is None
    with pytest.raises(ValueError, match="superpixel mode"):
        state.add_superpixels(0, np.ones((2, 2), bool), 1)


def test_the_pipeline_trains_on_the_assigned_classes(tmp_path):
    from segal_dsl.runtime.pipelines import CLASS_KEY, MASK_KEY, LoadAnnotationsWithLabels

    gt = np.array([[0, 1, 2], [3, 4, 0]], np.uint8)
    Image.fromarray(gt).save(tmp_path / "a.png")
    mask = np.array([[True, True, False], [True, False, False]])
    classes = np.array([[2, -1, 4], [-1, -1, -1]], np.int16)
    results = {"ann_info": {"seg_map": "a.png"}, "seg_prefix": str(tmp_path), "seg_fields": [],
               MASK_KEY: mask, CLASS_KEY: classes}
    out = LoadAnnotationsWithLabels(ignore_index=255)(results)["gt_semantic_seg"]
    # (0,0) bought with class 2 assigned; (0,1) bought, no class: its GT; (0,2) assigned but not bought: void
    assert out.tolist() == [[2, 1, 255], [3, 255, 255]]


# ---------------------------------------------------------------- toy runs (real mmseg, real SLIC)

SHORT = """experiment toy_sp_short {{
    extends "{example}"
    schedule iters {{ train 2; query; train 2; query; train 1 }}
}}
"""


def _short_seg(tmp_path: Path) -> Path:
    seg = tmp_path / "sp.seg"
    seg.write_text(SHORT.format(example=(EXAMPLES / "toy_superpixel.seg").as_posix()))
    return seg


FULL_POOL = """experiment toy_sp_full {{
    extends "{example}"
    sample superpixel {{ initial 1 sp per image; budget 100 superpixels per round; segments 64; label full; evenly false }}
    schedule iters {{ train 2; query; train 1 }}
}}
"""


def _check_labels_are_whole_superpixels(work_dir: Path, dominant: bool = True) -> LabelState:
    """Every labelled pixel's superpixel is labelled wholly (void pixels aside), with its majority class."""
    from segal_dsl.runtime.toy.generate import ensure

    state = LabelState.load(work_dir / "masks")
    caches = list((work_dir / "superpixels").glob("slic-*"))
    assert len(caches) == 1
    ann = sorted((Path(ensure()) / "ann_dir" / "train").glob("*.png"))
    clicks = 0
    for i in range(len(state)):
        seg = np.load(next(caches[0].glob(f"{i:06d}-*.npy")))
        mask, gt = state.mask(i), np.array(Image.open(ann[i]))
        bought = np.unique(seg[mask])
        clicks += bought.size
        eligible = gt != 255
        assert (mask == (np.isin(seg, bought) & eligible)).all()
        cls = state.class_map(i)
        if not dominant:
            assert cls is None
        elif bought.size:
            want = dominant_classes(seg, gt, mask, bought)
            lut = dict(zip(bought.tolist(), want.tolist()))
            assert (cls[mask] == np.vectorize(lut.get)(seg[mask])).all() and (cls[~mask] == -1).all()
    assert clicks == state.superpixels()
    return state


@pytest.mark.runtime
@pytest.mark.slow
def test_toy_superpixel_run_buys_whole_superpixels_and_counts_clicks(tmp_path, monkeypatch):
    from _runtime_helpers import SHORT_ITERS, toy_env

    from segal_dsl.runtime.train import train_config

    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    work = tmp_path / "run"
    # generated/toy_superpixel.py (make generated) with a few iterations per round and no validation
    assert train_config(str(ROOT / "generated" / "toy_superpixel.py"), work_dir=str(work), validate=False,
                        cfg_options={"workflow": SHORT_ITERS, "runner.schedule_unit": "iters"}) == 0
    state = _check_labels_are_whole_superpixels(work)
    recs = state.records
    assert [r["round"] for r in recs] == [0, 1, 2]
    assert [r["extra"]["superpixels_planned"] for r in recs] == [128, 128, 128]  # 2 per image, 64 images
    assert [r["extra"]["slic_computed"] for r in recs[1:]] == [0, 0]  # both queries read the cache
    assert 0 < recs[1]["extra"]["superpixels"] <= 128 and recs[-1]["superpixels"] == state.superpixels()
    assert all(r["planned"] == r["added"] > 0 for r in recs)
    report = json.loads((work / "report.json").read_text())
    assert [e["superpixels"] for e in report["rounds"]] == [r["superpixels"] for r in recs]
    assert report["rounds"][-1]["labelled"] == state.total()
    assigned = np.zeros(5, np.int64)  # the classes training sees: the one-click classes, not the ground truth
    for i in range(len(state)):
        if state.count(i):
            assigned += np.bincount(state.class_map(i)[state.mask(i)], minlength=5)[:5]
    from segal_dsl.runtime.toy.generate import CLASSES

    assert report["rounds"][-1]["labelled_per_class"] == dict(zip(CLASSES, assigned.tolist()))
    header = (work / "report.csv").read_text().splitlines()[0].split(",")
    assert "superpixels" in header and "superpixels_added" in header


@pytest.mark.runtime
@pytest.mark.slow
def test_toy_superpixel_resume_reuses_the_cache_and_restores_the_class_maps(tmp_path):
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT),
               SEGAL_TOY_DIR=str(tmp_path / "toy"))
    cmd = [sys.executable, "-m", "segal_dsl.cli", "run", str(_short_seg(tmp_path))]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    assert subprocess.run([*cmd, "--work-dir", str(ref)], env=env, capture_output=True).returncode == 0
    # 64 images in query 1: the 70th scored image is in query 2, after query 1's labels were saved
    killed = subprocess.run([*cmd, "--work-dir", str(cut)], env=dict(env, SEGAL_TEST_KILL_AT="query_image:70"),
                            capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    cached = {p.name: p.stat().st_ino for p in (cut / "superpixels").rglob("*.npy")}
    assert len(cached) == 64
    resumed = subprocess.run([*cmd, "--work-dir", str(cut), "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert {p.name: p.stat().st_ino for p in (cut / "superpixels").rglob("*.npy")} == cached  # none recomputed
    assert json.loads((cut / "masks" / "labels.json").read_text())["records"][2]["extra"]["slic_computed"] == 0
    a, b = (json.loads((d / "masks" / "labels.json").read_text()) for d in (ref, cut))
    assert a["sha256"] == b["sha256"] and a["superpixels"] == b["superpixels"] and a["records"] == b["records"]
    _check_labels_are_whole_superpixels(cut)


@pytest.mark.runtime
@pytest.mark.slow
def test_toy_superpixel_full_labels_over_the_pool(tmp_path, monkeypatch):
    from _runtime_helpers import toy_env

    from segal_dsl.runtime.launch import run_experiment

    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    seg = tmp_path / "full.seg"
    seg.write_text(FULL_POOL.format(example=(EXAMPLES / "toy_superpixel.seg").as_posix()))
    assert run_experiment(str(seg), work_dir=str(tmp_path / "run")) == 0
    state = _check_labels_are_whole_superpixels(tmp_path / "run", dominant=False)
    assert [(r["extra"]["superpixels_planned"], r["extra"]["superpixels"]) for r in state.records] == [(64, 64), (100, 100)]
    assert state.superpixels() == 164


@pytest.mark.runtime
@pytest.mark.slow
def test_toy_superpixel_two_ranks_agree(tmp_path):
    """gloo, 2 ranks: each scores its shard, the candidates and new labels are gathered, both hold the same state."""
    import shutil
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    cmd = ([run] if run else [sys.executable, "-m", "torch.distributed.run"]) + [
        "--nproc_per_node=2", f"--master_port={port}", "-m", "segal_dsl.runtime.train",
        str(ROOT / "generated" / "toy_superpixel.py"), "--work-dir", str(tmp_path / "ddp"), "--launcher", "pytorch",
        "--no-validate", "--cfg-options", "runner.schedule_unit=iters",
        "workflow=[(('train',2),('query',1)),(('train',2),('query',1)),(('train',1),)]"]
    trace = tmp_path / "trace"
    trace.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled", SEGAL_TOY_DIR=str(tmp_path / "toy"),
               SEGAL_TEST_TRACE_DIR=str(trace), PYTHONPATH=str(ROOT))
    env.pop("SEGAL_TEST_KILL_AT", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = [{e["round"]: e["digest"] for e in map(json.loads, (trace / f"rank{r}.jsonl").read_text().splitlines())}
               for r in (0, 1)]
    assert sorted(digests[0]) == [0, 1, 2] and digests[0] == digests[1]
    state = _check_labels_are_whole_superpixels(tmp_path / "ddp")
    bought = [r["extra"]["superpixels"] for r in state.records]
    assert bought[0] == 128 and all(0 < b <= 128 for b in bought[1:])  # an image may have fewer than 2 left
