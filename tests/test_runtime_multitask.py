"""MultiTaskActiveRunner and its MAE model pieces on real mmseg + the toy data (tiny ViT, few iterations).

What is pinned: the reconstruction loss sees masked patches only; any patch-divisible image size;
one optimizer step updates both heads in the multitask stage and leaves the segmentation head alone
in the MAE stage; reconstruction loss falls during warm-up; budgets, labels and reports are exactly
those of the AL runner, and a killed run resumes to the same labels and report; the reference's
defects (§1c, §6): unguarded keys, warm-up without `runner.warmup_only`, `reset_each_round` skipping
the first round, visualisation/mask paths not as written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

import numpy as np
import torch
from _runtime_helpers import CONFIGS, records, report, run, toy_env
from mmcv.runner import HOOKS, Hook

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parent.parent
CFG = "toy_multitask.py"
PIXELS = 40 * 64  # 1 %/img of 64x64 = 40 px per image, 64 pool images


@pytest.fixture(autouse=True)
def _toy(tmp_path_factory):
    toy_env(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny ViT ops: two intra-op threads on a shared 2-core box are ~10x slower than one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(**changes):
    import mmcv
    from mmseg.models import build_segmentor

    import segal_dsl.runtime  # noqa: F401  (registries)

    cfg = mmcv.Config.fromfile(str(CONFIGS / CFG))
    if changes:
        cfg.merge_from_dict(changes)
    torch.manual_seed(0)
    m = build_segmentor(cfg.model)
    m.init_weights()
    return m


# ----------------------------------------------------------------------------- probe hooks


@HOOKS.register_module()
class SegalMTProbeHook(Hook):
    """Per iteration: stage, round, reconstruction loss; state at the first multitask iteration of a round."""

    iters: list[dict] = []
    starts: list[dict] = []

    def before_train_iter(self, runner):
        if runner.stage == "multitask" and runner._iter == 0:
            module = getattr(runner.model, "module", runner.model)
            SegalMTProbeHook.starts.append(dict(
                round=runner.round, lr=runner.current_lr()[0], optim_state=len(runner.optimizer.state),
                weights={k: v.detach().clone() for k, v in module.state_dict().items()}))

    def after_train_iter(self, runner):
        SegalMTProbeHook.iters.append(dict(stage=runner.stage, round=runner.round,
                                           rec=float(runner.outputs["log_vars"]["mae.loss_rec"])))


@HOOKS.register_module()
class SegalMTKillHook(Hook):
    def __init__(self, at_round: int):
        self.at_round = at_round

    def before_train_iter(self, runner):
        if runner.round == self.at_round:
            raise KeyboardInterrupt("simulated kill")


@HOOKS.register_module()
class SegalMTStepCountHook(Hook):
    """Counts optimizer.step() calls and snapshots the weights before the first iteration."""

    steps = 0
    before: dict = {}

    def before_run(self, runner):
        SegalMTStepCountHook.steps = 0
        module = getattr(runner.model, "module", runner.model)
        SegalMTStepCountHook.before = {k: v.detach().clone() for k, v in module.state_dict().items()}
        step = runner.optimizer.step

        def counted(*a, **k):
            SegalMTStepCountHook.steps += 1
            return step(*a, **k)

        runner.optimizer.step = counted


def _changed(before: dict, after: dict, prefix: str) -> bool:
    keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
    assert keys, prefix
    return any(not torch.equal(before[k], after[k]) for k in keys)


def _weights(work_dir: Path) -> dict:
    ckpt = torch.load(next((work_dir / "al_state").glob("step_*.pth")), map_location="cpu")
    return ckpt["state_dict"]


# ----------------------------------------------------------------------------- model pieces


def test_reconstruction_loss_counts_masked_patches_only():
    from segal_dsl.runtime.multitask.loss import ReconstructionLoss

    loss = ReconstructionLoss(loss_weight=2.0)
    pred = torch.randn(2, 6, 12, requires_grad=True)
    target = torch.randn(2, 6, 12)
    mask = torch.tensor([[1, 0, 1, 0, 0, 0], [0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    value = loss(pred, target, mask)
    expected = 2.0 * ((pred - target) ** 2).mean(-1)[mask].mean()
    assert torch.allclose(value, expected)
    value.backward()
    assert torch.all(pred.grad[~mask] == 0) and torch.all(pred.grad[mask].abs().sum(-1) > 0)
    # anything on visible patches, even inf/NaN, leaves the loss unchanged
    p2, t2 = pred.detach().clone(), target.clone()
    p2[~mask] = float("nan")
    t2[~mask] = 1e6
    assert torch.allclose(loss(p2, t2, mask), expected)
    assert loss(pred, target, torch.zeros_like(mask)).item() == 0.0


def test_mae_head_targets_and_visible_pixels_do_not_count():
    m = _model()
    m.eval()
    img = torch.randn(2, 3, 64, 64)
    pred, mask, img = m.forward_mae(img, generator=torch.Generator().manual_seed(0))
    assert pred.shape == (2, 64, 8 * 8 * 3) and mask.shape == (2, 64)
    assert mask.sum(1).tolist() == [32, 32]  # mask_ratio 0.5 of the 8x8 patch grid
    base = m.mae_head.losses(pred, img, mask)["loss_rec"]
    # change the image only inside visible patches: targets there do not count
    vis = (~mask).reshape(2, 8, 8).repeat_interleave(8, 1).repeat_interleave(8, 2).unsqueeze(1)
    altered = torch.where(vis, img + 5.0, img)
    assert torch.allclose(m.mae_head.losses(pred, altered, mask)["loss_rec"], base)
    assert not torch.allclose(m.mae_head.losses(pred, torch.where(vis, img, img + 5.0), mask)["loss_rec"], base)


def test_any_patch_divisible_size_and_configurable_patch():
    m = _model(**{"model.backbone.patch_size": 16, "model.mae_config.mask_ratio": 0.75,
                  "model.mae_head.loss_rec.loss_weight": 3.0})
    assert m.mae_head.patch_size == 16 and m.mask_ratio == 0.75 and m.mae_head.loss_rec.loss_weight == 3.0
    rec, mask, img = m.reconstruct(torch.randn(1, 3, 48, 96))  # non-square, not the 64x64 img_size
    assert rec.shape == (1, 3, 48, 96) and mask.shape == (1, 18) and int(mask.sum()) == 14
    rec, mask, img = m.reconstruct(torch.randn(1, 3, 50, 70))  # cropped to whole patches
    assert img.shape[-2:] == (48, 64)
    err = m.reconstruction_error(torch.randn(1, 3, 32, 64), torch.Generator().manual_seed(1))
    assert err.shape == (1, 32, 64) and torch.all(err > 0)  # every patch scored while masked
    with pytest.raises(ValueError, match="patch size 16"):
        m.backbone.grid(torch.zeros(1, 3, 40, 64))
    with pytest.raises(ValueError, match="mask_ratio"):
        _model(**{"model.mae_config.mask_ratio": 1.0})
    with pytest.raises(ValueError, match="patch_size"):
        _model(**{"model.mae_head.patch_size": 4})


def test_mps_heuristic_is_seeded_and_mixes_ripu():
    from segal_dsl.runtime.heuristics import HEURISTICS, ripu, to_probs

    m = _model()
    m.eval()
    fn = HEURISTICS["mps"]
    assert getattr(fn, "needs_model", False)
    img = torch.randn(1, 3, 64, 64)
    data = {"img": [img], "img_metas": []}
    probs = to_probs(torch.randn(1, 5, 64, 64))
    a = fn(probs, model=m, data=data, generator=torch.Generator().manual_seed(3), crop_size=32, mix_factor=0.0)
    b = fn(probs, model=m, data=data, generator=torch.Generator().manual_seed(3), crop_size=32, mix_factor=0.0)
    assert a.shape == (1, 64, 64) and torch.equal(a, b) and float(a.max()) == pytest.approx(1.0)
    mixed = fn(probs, model=m, data=data, generator=torch.Generator().manual_seed(3), crop_size=32, mix_factor=0.8)
    r = ripu(probs, k=1)
    expected = 0.8 * r / r.max() + a
    assert torch.allclose(mixed, expected / expected.max(), atol=1e-5)
    with pytest.raises(ValueError, match="needs the model"):
        fn(probs)


# ----------------------------------------------------------------------------- training steps


def test_multitask_step_updates_both_heads_with_one_optimizer_step(tmp_path):
    wd = tmp_path / "one"
    hooks = [dict(type="SegalMTStepCountHook", priority="VERY_LOW")]
    assert run(CFG, wd, workflow=[(("train", 1),)], custom_hooks=hooks, mae_warmup_epochs=0,
               mae_viz_interval=0, **{"runner.sample_rounds": 0}) == 0
    assert SegalMTStepCountHook.steps == 1
    before, after = SegalMTStepCountHook.before, _weights(wd)
    for part in ("backbone.", "decode_head.", "mae_head."):
        assert _changed(before, after, part), f"{part} not updated by the multitask step"


def test_warmup_only_reconstruction_falls_and_segmentation_head_untouched(tmp_path):
    """A schedule of only `warmup N` (runner.warmup_only): MAE only, no mae_val_iter needed."""
    SegalMTProbeHook.iters.clear()
    wd = tmp_path / "warm"
    hooks = [dict(type="SegalMTProbeHook", priority="VERY_LOW"),
             dict(type="SegalMTStepCountHook", priority="VERY_LOW")]
    assert run(CFG, wd, workflow=[(("train", 40),)], custom_hooks=hooks, mae_warmup_epochs=None,
               multitask_validation_iter=None, mae_viz_interval=20,
               **{"runner.warmup_only": True, "runner.sample_rounds": 0, "optimizer.lr": 0.002}) == 0
    rec = [x["rec"] for x in SegalMTProbeHook.iters]
    assert len(rec) == 40 and {x["stage"] for x in SegalMTProbeHook.iters} == {"mae"}
    assert np.mean(rec[-5:]) < 0.8 * np.mean(rec[:5]), rec
    before, after = SegalMTStepCountHook.before, _weights(wd)
    assert _changed(before, after, "backbone.") and _changed(before, after, "mae_head.")
    assert not _changed(before, after, "decode_head."), "MAE stage must not touch the segmentation head"
    entry = report(wd)["rounds"][0]
    assert "mIoU" not in entry and "loss_seg_val" not in entry and entry["loss_rec_val"] > 0
    assert sorted(p.name for p in (wd / "reconstructed_images").iterdir()) == ["iter0", "iter20", "iter40"]


# ----------------------------------------------------------------------------- AL behaviour


def test_budgets_resume_and_paths_as_written(tmp_path, monkeypatch):
    """Same budgets as the AL runner; a killed run resumes to identical labels and report;
    mask_dir and mae_viz_dir are used as written under the work dir; warm-up without warmup_only."""
    from segal_dsl.runtime.multitask.runner import MultiTaskActiveRunner

    calls = []
    original = MultiTaskActiveRunner.validation_losses

    def recorded(self):
        out = original(self)
        calls.append((self.global_iter, self.stage, out))
        return out

    monkeypatch.setattr(MultiTaskActiveRunner, "validation_losses", recorded)
    opts = dict(mask_dir="state/labels", mae_viz_dir="pics/mae", mae_viz_interval=3,
                **{"active_learning.reset_each_round": True})
    a, k = tmp_path / "a", tmp_path / "k"
    assert run(CFG, a, seed=3, **opts) == 0
    recs = [(r["round"], r["planned"], r["added"]) for r in _records(a, "state/labels")]
    assert recs == [(0, PIXELS, PIXELS), (1, PIXELS, PIXELS), (2, PIXELS, PIXELS)]
    rep = report(a)
    assert [e["labelled"] for e in rep["rounds"]] == [PIXELS, 2 * PIXELS, 3 * PIXELS]
    assert [e["global_iter"] for e in rep["rounds"]] == [4, 6, 7]  # warm-up 2 + train 2, 2, 1
    assert all(0 <= e["mIoU"] <= 1 and e["loss_rec_val"] > 0 and e["loss_seg_val"] > 0 for e in rep["rounds"])
    assert not (a / "masks").exists() and not (a / "reconstructed_images").exists()
    assert sorted(p.name for p in (a / "pics" / "mae").iterdir()) == ["iter0", "iter3", "iter6", "iter7"]
    assert len(list((a / "pics" / "mae" / "iter0").glob("sample_*.png"))) == 2
    from PIL import Image

    w, h = Image.open(next((a / "pics" / "mae" / "iter7").glob("*.png"))).size
    assert (w, h) == (3 * 64 + 4, 64)  # original | visible | reconstruction
    # validation every 2 iterations (multitask_validation_iter), in the MAE stage too (mae_val_iter unset)
    assert [c[:2] for c in calls] == [(2, "mae"), (4, "multitask"), (4, "multitask"), (6, "multitask"),
                                      (6, "multitask"), (7, "multitask")]  # + every round end
    assert sorted(calls[0][2]) == ["loss_rec_val"] and sorted(calls[1][2]) == ["loss_rec_val", "loss_seg_val"]

    with pytest.raises(KeyboardInterrupt):
        run(CFG, k, seed=3, custom_hooks=[dict(type="SegalMTKillHook", at_round=2)], **opts)
    assert len(_records(k, "state/labels")) == 3 and not (k / "report.json").exists()
    assert run(CFG, k, seed=3, resume=True, **opts) == 0
    assert _digest(k, "state/labels") == _digest(a, "state/labels")
    assert report(k)["rounds"] == rep["rounds"]


def _records(wd: Path, mask_dir: str) -> list[dict]:
    import json

    return json.loads((wd / mask_dir / "labels.json").read_text())["records"]


def _digest(wd: Path, mask_dir: str) -> str:
    import json

    return json.loads((wd / mask_dir / "labels.json").read_text())["sha256"]


def test_reset_each_round_applies_to_every_round_after_warmup(tmp_path):
    """docs/reference.md §6: the counter reset skipped the first round (the warm-up's). Here every round,
    round 0 after the warm-up included, starts from the warmed-up weights, an empty optimizer and
    the LR schedule's start."""
    SegalMTProbeHook.starts.clear()
    wd = tmp_path / "reset"
    hooks = [dict(type="SegalMTProbeHook", priority="VERY_LOW"),
             dict(type="SegalMTStepCountHook", priority="VERY_LOW")]
    assert run(CFG, wd, custom_hooks=hooks, mae_viz_interval=0, multitask_validation_iter=0,
               **{"active_learning.reset_each_round": True}) == 0
    starts = SegalMTProbeHook.starts
    assert [s["round"] for s in starts] == [0, 1, 2]
    first = starts[0]
    for s in starts:
        assert s["optim_state"] == 0 and s["lr"] == pytest.approx(first["lr"])
        for name, v in first["weights"].items():
            assert torch.equal(v, s["weights"][name]), f"round {s['round']}: {name} not reset"
    assert _changed(SegalMTStepCountHook.before, first["weights"], "mae_head."), "warm-up must be kept"
    assert (wd / "al_state" / "warmup_weights.pth").is_file()


def test_without_reset_one_schedule_spans_warmup_and_rounds(tmp_path):
    SegalMTProbeHook.starts.clear()
    wd = tmp_path / "noreset"
    assert run(CFG, wd, custom_hooks=[dict(type="SegalMTProbeHook", priority="VERY_LOW")],
               mae_viz_interval=0, multitask_validation_iter=0) == 0
    assert [s["round"] for s in SegalMTProbeHook.starts] == []  # no counter restart: iter never 0 again
    assert not (wd / "al_state" / "warmup_weights.pth").exists()


@pytest.mark.parametrize("options, match", [
    ({"mae_warmup_epochs": -1}, "mae_warmup_epochs: Input should be greater than or equal to 0"),
    ({"multitask_validation_iter": 1.5}, "multitask_validation_iter: Input should be a valid integer"),
    ({"mae_viz_count": "4"}, "mae_viz_count: Input should be a valid integer"),
    ({"mae_viz_dir": ""}, "mae_viz_dir: must be a non-empty path"),
    ({"runner.warmup_only": "yes"}, "runner.warmup_only: Input should be a valid boolean"),
    ({"runner.sample_mode": "image",
      "active_learning.settings.image": dict(initial_pool=4, budget_per_round=2)}, "pixels or regions"),
])
def test_bad_multitask_keys_fail_before_training(tmp_path, options, match):
    wd = tmp_path / "bad"
    with pytest.raises(ValueError, match=match):
        run(CFG, wd, **options)
    assert not (wd / "masks").exists()


def test_al_runner_rejects_warmup_only_and_needs_multitask_model(tmp_path):
    with pytest.raises(ValueError, match="belongs to MultiTaskActiveRunner"):
        run(CFG, tmp_path / "al", **{"runner.type": "ActiveLearningRunner", "runner.warmup_only": True})
    with pytest.raises(ValueError, match="MultiTaskSegmentor"):
        run("toy_pixel.py", tmp_path / "unet", **{"runner.type": "MultiTaskActiveRunner"})


# ----------------------------------------------------------------------------- the example


SHORT_SEG = """experiment toy_multitask_short {{
    extends "{root}/examples/toy_multitask.seg"
    runner multitask {{ viz_interval 4; viz_count 2 }}
    schedule iters {{ warmup 3; train 2; query; train 2 }}
}}
"""


def test_toy_multitask_example_runs(tmp_path):
    from segal_dsl.runtime.launch import run_experiment

    seg = tmp_path / "short.seg"
    seg.write_text(SHORT_SEG.format(root=ROOT.as_posix()))
    wd = tmp_path / "wd"
    assert run_experiment(str(seg), work_dir=str(wd)) == 0
    rep = report(wd)
    assert [e["labelled"] for e in rep["rounds"]] == [PIXELS, 2 * PIXELS]
    assert sorted(p.name for p in (wd / "reconstructions").iterdir()) == ["iter0", "iter4", "iter7"]
    assert len(list((wd / "reconstructions" / "iter7").glob("sample_*.png"))) == 2
    assert (wd / "learning_curve.png").is_file() and (wd / "report.csv").is_file()


def test_two_ranks_gloo_warmup_without_find_unused_parameters(tmp_path):
    """DDP (2 CPU ranks): the MAE stage leaves the segmentation head idle, yet no
    find_unused_parameters is needed (the reference forced it on for every warm-up)."""
    import shutil
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    wd = tmp_path / "ddp"
    cmd = ([exe] if exe else [sys.executable, "-m", "torch.distributed.run"]) + [
        "--nproc_per_node=2", f"--master_port={port}", "-m", "segal_dsl.runtime.train", str(CONFIGS / CFG),
        "--work-dir", str(wd), "--launcher", "pytorch", "--seed", "3", "--cfg-options",
        "runner.schedule_unit=iters", "find_unused_parameters=False",
        "workflow=[(('train',2),('query',1)),(('train',1),)]", "runner.sample_rounds=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(PIXELS, PIXELS)] * 2
    assert [e["global_iter"] for e in report(wd)["rounds"]] == [4, 5]
    assert (wd / "reconstructed_images" / "iter0").is_dir()
