"""ActiveLearningRunner on real mmseg + the toy data: budgets, reset, seeds, resume, schedules."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mmseg")

import numpy as np
from _runtime_helpers import label_digest, records, report, run, toy_env
from mmcv.runner import HOOKS, Hook

pytestmark = pytest.mark.runtime


@pytest.fixture(autouse=True)
def _toy(tmp_path_factory):
    toy_env(tmp_path_factory.getbasetemp())


# ----------------------------------------------------------------------------- probe hooks


@HOOKS.register_module()
class SegalTestProbeHook(Hook):
    """Records weights / optimizer state / LR at the first iteration of every round."""

    seen: list[dict] = []

    def before_train_iter(self, runner):
        if runner._iter == 0:
            module = getattr(runner.model, "module", runner.model)
            SegalTestProbeHook.seen.append(dict(
                round=runner.round,
                weights={k: v.detach().clone() for k, v in module.state_dict().items()},
                optim_state=len(runner.optimizer.state),
                lr=runner.current_lr()[0],
            ))


@HOOKS.register_module()
class SegalTestKillHook(Hook):
    """Simulates a kill: raises at the first training iteration of round `at_round`."""

    def __init__(self, at_round: int):
        self.at_round = at_round

    def before_train_iter(self, runner):
        if runner.round == self.at_round:
            raise KeyboardInterrupt("simulated kill")


# ----------------------------------------------------------------------------- budgets


def test_pixel_budgets_exact_and_report(tmp_path):
    """1 %/img of 64x64 = 40 px per image, 64 images: initial + each query add exactly 2560 new pixels."""
    wd = tmp_path / "pixel"
    # epoch schedule: 1 epoch per round (64 images / batch 8 = 8 iterations)
    assert run("toy_pixel.py", wd, iters=False,
               workflow=[(("train", 1), ("query", 1)), (("train", 1), ("query", 1)), (("train", 1),)]) == 0
    recs = records(wd)
    assert [(r["round"], r["planned"], r["added"]) for r in recs] == [(0, 2560, 2560), (1, 2560, 2560), (2, 2560, 2560)]
    assert recs[-1]["cumulative"] == 3 * 2560
    rep = report(wd)
    assert [e["round"] for e in rep["rounds"]] == [0, 1, 2]
    assert [e["labelled"] for e in rep["rounds"]] == [2560, 5120, 7680]
    assert [e["planned"] for e in rep["rounds"]] == [2560, 5120, 7680]
    assert [e["global_iter"] for e in rep["rounds"]] == [8, 16, 24]   # queries never advance iter
    assert all(0 <= e["mIoU"] <= 1 for e in rep["rounds"])
    assert (wd / "report.csv").read_text().splitlines()[0].startswith("round,planned,labelled")
    assert (wd / "learning_curve.png").stat().st_size > 0
    for r in (0, 1, 2):  # visualisation per round under work_dir/viz
        assert len(list((wd / "viz" / f"round{r}").glob("*.png"))) >= 3
    assert list((wd / "viz" / "round1").glob("*_uncertainty.png"))


def test_global_selection_with_threshold_buys_exact_total(tmp_path):
    """sample_evenly=False: one pool-wide pick of an int total (not divisible by the pool size)."""
    wd = tmp_path / "global"
    opts = {"active_learning.settings.pixel.sample_evenly": False,
            "active_learning.settings.pixel.budget_per_round": 1001,
            "active_learning.settings.pixel.sample_threshold": 5.0,
            "active_learning.settings.pixel.initial_label_pixels": 0}
    assert run("toy_pixel.py", wd, **opts) == 0
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(0, 0), (1001, 1001), (1001, 1001)]


def test_region_budgets_count_only_new_pixels(tmp_path):
    """4 regions/img of radius 1 = 36 new px per image per query (regions never re-count labels)."""
    wd = tmp_path / "region"
    assert run("toy_region.py", wd) == 0
    recs = records(wd)
    assert [(r["planned"], r["added"]) for r in recs] == [(0, 0), (36 * 64, 36 * 64), (36 * 64, 36 * 64)]
    from segal_dsl.runtime.labels import LabelState

    labels = LabelState.load(wd / "masks")
    assert all(labels.count(i) == 72 for i in range(len(labels)))


def test_image_budgets_and_train_set_grows(tmp_path):
    wd = tmp_path / "image"
    assert run("toy_image.py", wd) == 0
    recs = records(wd)
    assert [(r["planned"], r["added"]) for r in recs] == [(16, 16), (8, 8), (8, 8)]
    assert [e["labelled"] for e in report(wd)["rounds"]] == [16, 24, 32]


def test_budget_larger_than_pool_takes_what_is_left(tmp_path):
    wd = tmp_path / "image_exhaust"
    with pytest.warns(UserWarning, match="left to buy"):
        assert run("toy_image.py", wd, **{"active_learning.settings.image.budget_per_round": 40}) == 0
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(16, 16), (40, 40), (40, 8)]


# ----------------------------------------------------------------------------- reset


def test_reset_each_round_resets_weights_optimizer_and_lr(tmp_path):
    SegalTestProbeHook.seen.clear()
    wd = tmp_path / "reset"
    assert run("toy_region.py", wd, custom_hooks=[dict(type="SegalTestProbeHook", priority="VERY_LOW")]) == 0
    seen = SegalTestProbeHook.seen
    assert [s["round"] for s in seen] == [0, 1, 2]
    first = seen[0]
    assert first["optim_state"] == 0
    for later in seen[1:]:
        assert later["optim_state"] == 0, "optimizer state (AdamW moments) must be empty after a reset"
        assert later["lr"] == pytest.approx(first["lr"]), "LR schedule must restart"
        for k, v in first["weights"].items():
            assert np.array_equal(v.numpy(), later["weights"][k].numpy()), f"{k} not reset"


def test_without_reset_training_continues(tmp_path):
    SegalTestProbeHook.seen.clear()
    wd = tmp_path / "noreset"
    assert run("toy_pixel.py", wd, custom_hooks=[dict(type="SegalTestProbeHook", priority="VERY_LOW")]) == 0
    seen = SegalTestProbeHook.seen
    assert [s["round"] for s in seen] == [0]  # one schedule over the whole run: iter never restarts
    assert report(wd)["rounds"][-1]["global_iter"] == 5


# ----------------------------------------------------------------------------- seeds and resume


def test_same_seed_same_labels_and_resume_matches(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run("toy_pixel.py", a, seed=7) == 0
    assert run("toy_pixel.py", b, seed=7) == 0
    assert label_digest(a) == label_digest(b), "same seed must buy identical labels"
    assert run("toy_pixel.py", c, seed=8) == 0
    assert label_digest(a) != label_digest(c)

    # interrupted in round 2's training (after query 2), then resumed
    k = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run("toy_pixel.py", k, seed=7, custom_hooks=[dict(type="SegalTestKillHook", at_round=2)])
    assert len(records(k)) == 3 and not (k / "report.json").exists()
    assert run("toy_pixel.py", k, seed=7, resume=True) == 0
    assert label_digest(k) == label_digest(a)
    assert report(k)["rounds"] == report(a)["rounds"]


def test_resume_after_query_saved_but_progress_not(tmp_path):
    """A kill between the label save and progress.json: the query is not bought a second time."""
    a, k = tmp_path / "a", tmp_path / "k"
    assert run("toy_pixel.py", a, seed=5) == 0
    with pytest.raises(KeyboardInterrupt):
        run("toy_pixel.py", k, seed=5, custom_hooks=[dict(type="SegalTestKillHook", at_round=1)])
    prog_path = k / "al_state" / "progress.json"
    prog = json.loads(prog_path.read_text())
    assert prog["next_step"] == 2 and prog["queries_done"] == 1
    prog["next_step"], prog["queries_done"] = 1, 0  # as if killed right after labels.save()
    prog_path.write_text(json.dumps(prog))
    assert run("toy_pixel.py", k, seed=5, resume=True) == 0
    assert [r["round"] for r in records(k)] == [0, 1, 2]
    assert label_digest(k) == label_digest(a)


def test_fresh_run_refuses_existing_labels(tmp_path):
    wd = tmp_path / "twice"
    assert run("toy_image.py", wd, workflow=[(("train", 1),)], **{"runner.sample_rounds": 0}) == 0
    with pytest.raises(RuntimeError, match="--resume"):
        run("toy_image.py", wd, workflow=[(("train", 1),)], **{"runner.sample_rounds": 0})


# ----------------------------------------------------------------------------- workflow checks




def test_budget_total_buys_each_querys_share(tmp_path):
    """`budget 1.1% per image total` over 2 queries: int(64·64·1.1/100) = 45 px of each image, as 23 then 22."""
    wd = tmp_path / "shares"
    shares = [{"value": 1.1, "unit": "%/img", "share": [k, 2]} for k in (1, 2)]
    opts = {"active_learning.settings.pixel.budget_per_round": shares[0],
            "active_learning.settings.pixel.budget_per_query": shares,
            "active_learning.settings.pixel.initial_label_pixels": 0}
    assert run("toy_pixel.py", wd, **opts) == 0
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(0, 0), (23 * 64, 23 * 64), (22 * 64, 22 * 64)]
    from segal_dsl.runtime.labels import LabelState

    labels = LabelState.load(wd / "masks")
    assert all(labels.count(i) == 45 for i in range(len(labels)))


def test_image_budget_total_buys_each_querys_share(tmp_path):
    """`budget 17 images total` over 2 queries: 9, then 8 (the remainder goes to the first query)."""
    wd = tmp_path / "image_shares"
    opts = {"active_learning.settings.image.budget_per_round": 9,
            "active_learning.settings.image.budget_per_query": [9, 8]}
    assert run("toy_image.py", wd, **opts) == 0
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(16, 16), (9, 9), (8, 8)]
    assert [e["labelled"] for e in report(wd)["rounds"]] == [16, 25, 33]
