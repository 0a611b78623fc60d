"""Issue 11 part 2: user heuristics from `imports`, MC-dropout BALD / variation ratio, k-center greedy.

Formulas are checked against independent numpy computations on hand-made cases; each runtime path runs
once on the toy (module-scoped fixtures, shortest schedules)."""

import textwrap

import numpy as np
import pytest
from conftest import EXAMPLES

from segal_dsl.api import analyse, compile_source
from segal_dsl.source import Source

TOY = (EXAMPLES / "toy_pixel.seg").as_posix()


def _seg(body: str) -> str:
    return (f'experiment u {{\n    extends "{TOY}"\n    delete visualize\n'
            f"    schedule iters {{ train 1; query; train 1 }}\n{body}}}\n")


# ---------------------------------------------------------------- user heuristics: front end


def test_unknown_heuristic_without_imports_is_an_error():
    result = analyse(Source("u.seg", _seg("    heuristic my_score\n")))
    assert [d.code for d in result.diagnostics] == ["SEG206"]


def test_unknown_heuristic_with_imports_is_a_note_and_compiles_its_parameters():
    result = compile_source(Source("u.seg", _seg('    imports "my_scores"\n    heuristic my_score { alpha 0.5 }\n')),
                            "o/c.py")
    assert result.ok and [d.code for d in result.diagnostics] == ["SEG230"]
    assert "`my_scores`" in result.diagnostics[0].message
    assert "heuristic='my_score'" in result.config and "heuristic_cfg=dict(alpha=0.5)" in result.config


def test_a_misspelt_builtin_with_imports_gets_a_did_you_mean():
    result = analyse(Source("u.seg", _seg('    imports "my_scores"\n    heuristic entorpy\n')))
    (d,) = result.diagnostics
    assert d.code == "SEG230" and d.label == "did you mean `entropy`?"


# ---------------------------------------------------------------- user heuristics: run time

USER_MODULE = '''
import torch
from segal_dsl.runtime.heuristics import register

@register("seg_test_first_pixels")
def first_pixels(probs, alpha=1.0):
    """Known answer: scores fall with the flat pixel index, so each image buys its first unlabelled pixels."""
    n, _, h, w = probs.shape
    return alpha * -torch.arange(h * w, dtype=torch.float64).reshape(1, h, w).expand(n, h, w)
'''


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    tmp = tmp_path_factory.mktemp("user-heuristic")
    toy_env(tmp)
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "disabled")
    (tmp / "seg_test_user_scores.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp / "seg_test_no_scores.py").write_text("X = 1\n")
    seg = tmp / "u.seg"
    seg.write_text(_seg('    imports "seg_test_user_scores"\n    heuristic seg_test_first_pixels { alpha 2.0 }\n'))
    missing = tmp / "missing.seg"
    missing.write_text(_seg('    imports "seg_test_no_scores"\n    heuristic seg_test_unregistered\n'))
    from segal_dsl.runtime.launch import run_experiment

    code = run_experiment(str(seg), work_dir=str(tmp / "run"))
    yield tmp, code, missing
    mp.undo()


@pytest.mark.runtime
def test_user_heuristic_from_imports_scores_the_pool(user_run):
    import mmcv

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.query import initial_labels
    from segal_dsl.spec import budget
    from segal_dsl.spec.config import read_config

    tmp, code, _ = user_run
    assert code == 0
    run = tmp / "run"
    state = LabelState.load(run / "masks")
    cfg = mmcv.Config.fromfile(str(next(run.glob("u*.py"))), import_custom_modules=False)
    contract = read_config(dict(cfg.items()))
    first = LabelState.for_pixels(state.sizes)
    initial_labels(first, contract, state.meta["seeds"]["initial_labels"])
    quotas = budget.per_image_quotas(contract.settings.budget_per_round, state.sizes, contract.radius)
    for i, q in enumerate(quotas):  # expected: initial labels + the first q unlabelled pixels in flat order
        want = first.mask(i).ravel().copy()
        want[np.flatnonzero(~want)[:q]] = True
        assert np.array_equal(state.mask(i).ravel(), want), f"image {i}"


@pytest.mark.runtime
def test_unregistered_user_heuristic_stops_before_training(user_run, capfd):
    from segal_dsl.runtime.launch import run_experiment

    tmp, _, missing = user_run
    capfd.readouterr()
    assert run_experiment(str(missing), work_dir=str(tmp / "missing-run")) != 0
    err = capfd.readouterr().err
    line = next(x for x in err.splitlines() if "`seg_test_unregistered` is not registered" in x)
    assert "`seg_test_no_scores`" in line and "registered: " in line and "entropy" in line
    assert not (tmp / "missing-run" / "al_state").exists()


# ---------------------------------------------------------------- MC dropout: formulas


def _np_entropy(p):
    """−Σ p log p over the last axis, 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


# Hand-made posteriors of T = 3 passes for 4 pixels of C = 3 classes: all passes agree; confident but
# disagreeing; each pass uniform; two of three vote class 0.
PASSES = np.array([
    [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1]],
    [[1.0, 0.0, 0.0], [0.0, 0.9, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.4, 0.1]],
    [[1.0, 0.0, 0.0], [0.1, 0.0, 0.9], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.7, 0.1]],
])  # (T, pixels, C)


def _as_samples(passes):
    import torch

    t, k, c = passes.shape  # pixels laid out as a 1 x k image: (T, N=1, C, H=1, W=k)
    return torch.tensor(passes.transpose(0, 2, 1).reshape(t, 1, c, 1, k), dtype=torch.float32)


def test_bald_matches_numpy_mutual_information():
    from segal_dsl.runtime.heuristics import HEURISTICS

    want = _np_entropy(PASSES.mean(0)) - _np_entropy(PASSES).mean(0)
    got = HEURISTICS["bald"](_as_samples(PASSES))[0, 0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got[0] == 0 and abs(got[2]) < 1e-6  # agreeing passes carry no information about the weights
    assert got[1] == got.max()  # confident passes that disagree score highest
    np.testing.assert_allclose(got[1], np.log(3) - _np_entropy(np.array([0.9, 0.1])), atol=1e-6)


def test_variation_ratio_matches_numpy_vote_count():
    from segal_dsl.runtime.heuristics import HEURISTICS

    votes = PASSES.argmax(-1)  # (T, pixels); the uniform pixel's ties go to class 0 in both
    modal = np.array([np.bincount(votes[:, j], minlength=3).max() for j in range(votes.shape[1])])
    want = 1 - modal / PASSES.shape[0]
    got = HEURISTICS["variation_ratio"](_as_samples(PASSES))[0, 0].numpy()
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(got, [0, 2 / 3, 0, 1 / 3])


def test_mc_scores_need_two_passes():
    from segal_dsl.runtime.heuristics import HEURISTICS

    with pytest.raises(ValueError, match="T >= 2"):
        HEURISTICS["bald"](_as_samples(PASSES[:1]))


# ---------------------------------------------------------------- MC dropout: passes on the toy model


def _toy_model_and_item(dropout: float):
    import mmcv
    from mmcv.parallel import collate
    from mmseg.datasets import build_dataset
    from mmseg.models import build_segmentor

    import segal_dsl.runtime  # noqa: F401  (registers the toy dataset)
    from segal_dsl.runtime.toy.dataset import config_path

    cfg = mmcv.Config.fromfile(config_path())
    cfg.model.decode_head.dropout_ratio = dropout
    model = build_segmentor(cfg.model)
    model.init_weights()
    model.eval()
    item = collate([build_dataset(cfg.data.query)[0]], samples_per_gpu=1)
    return model, item


@pytest.mark.runtime
def test_mc_passes_differ_replay_with_the_seed_and_leave_the_model_in_eval(tmp_path):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    from segal_dsl.runtime.query import mc_posteriors

    toy_env(tmp_path)
    model, item = _toy_model_and_item(0.5)
    a = mc_posteriors(model, item, (64, 64), 3, seed=11)
    b = mc_posteriors(model, item, (64, 64), 3, seed=11)
    assert a.shape == (3, 1, 5, 64, 64) and torch_equal(a, b)
    assert not torch_equal(a[0], a[1])  # dropout was on: the passes differ
    assert not any(m.training for m in model.modules())  # dropout back off, BN never left eval
    plain, item = _toy_model_and_item(0.0)
    with pytest.raises(RuntimeError, match="needs a dropout layer"):
        mc_posteriors(plain, item, (64, 64), 3, seed=11)


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))


@pytest.mark.runtime
def test_bald_runs_a_query_on_the_toy(tmp_path, monkeypatch):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.launch import run_experiment

    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    seg = tmp_path / "bald.seg"
    seg.write_text(_seg("    heuristic bald { passes 2 }\n    mmseg { model.decode_head.dropout_ratio = 0.1 }\n"))
    assert run_experiment(str(seg), work_dir=str(tmp_path / "run")) == 0
    records = LabelState.load(tmp_path / "run" / "masks").records
    assert [r["round"] for r in records] == [0, 1] and records[1]["added"] == records[1]["planned"] > 0


# ---------------------------------------------------------------- k-center greedy (image level)


def _np_k_center(features, labelled, k):
    """An independent k-center greedy: recompute every distance to every centre at each step."""
    centres = [i for i in range(len(features)) if labelled[i]]
    picks = []
    for _ in range(k):
        best, best_d = None, -1.0
        for i in range(len(features)):
            if labelled[i] or i in picks:
                continue
            if centres:
                d = min(float(np.sum((features[i] - features[c]) ** 2)) for c in centres)
            else:
                d = float(np.sum((features[i] - features.mean(0)) ** 2))
            if d > best_d:
                best, best_d = i, d
        picks.append(best)
        centres.append(best)
    return picks


def test_k_center_greedy_on_hand_made_features():
    from segal_dsl.runtime.selection import k_center_greedy

    # Two tight clusters far apart plus an outlier; image 0 (cluster A) is labelled.
    f = np.array([[0, 0], [0.1, 0], [0, 0.1], [10, 10], [10.1, 10], [10, 10.1], [-8, 9]], float)
    lab = np.array([True, False, False, False, False, False, False])
    # farthest from A is the cluster-B point (10.1, 10); then the outlier; then the rest of B before A's own
    assert k_center_greedy(f, lab, 3).tolist() == [4, 6, 5] == _np_k_center(f, lab, 3)
    # a score-only pick would buy near-duplicates: the batch covers both far groups instead
    assert k_center_greedy(f, lab, 10).tolist() == _np_k_center(f, lab, 6)


def test_k_center_greedy_matches_the_reference_on_random_features():
    from segal_dsl.runtime.selection import k_center_greedy

    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(2, 30))
        f = rng.normal(size=(n, int(rng.integers(1, 6))))
        lab = rng.random(n) < (0.0 if trial % 4 == 0 else 0.3)
        k = int(rng.integers(0, n + 1))
        assert k_center_greedy(f, lab, k).tolist() == _np_k_center(f, lab, min(k, int((~lab).sum())))


def test_kcenter_is_for_image_sampling_only():
    result = analyse(Source("u.seg", _seg("    heuristic kcenter\n")))
    assert [d.code for d in result.diagnostics] == ["SEG231"]


@pytest.mark.runtime
def test_pooled_features_are_the_decode_heads_features_averaged(tmp_path):
    pytest.importorskip("mmseg")
    import torch
    from _runtime_helpers import toy_env
    from mmcv.parallel import scatter

    from segal_dsl.runtime.query import pooled_features

    toy_env(tmp_path)
    model, item = _toy_model_and_item(0.0)
    got = pooled_features(model, item, (64, 64))
    img = scatter(item, [-1])[0]["img"][0]
    with torch.no_grad():  # independently: backbone -> the FCN head's convs (no classifier), mean over H, W
        head = model.decode_head
        want = head.convs(head._transform_inputs(model.extract_feat(img))).double().mean(dim=(2, 3))[0].numpy()
    assert got.shape == (head.channels,)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.runtime
def test_kcenter_buys_whole_images_on_the_toy(tmp_path, monkeypatch):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.launch import run_experiment

    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    seg = tmp_path / "kc.seg"
    seg.write_text(f'experiment kc {{\n    extends "{(EXAMPLES / "toy_image.seg").as_posix()}"\n'
                   "    heuristic kcenter\n    schedule iters { train 1; query; train 1 }\n}\n")
    assert run_experiment(str(seg), work_dir=str(tmp_path / "run")) == 0
    state = LabelState.load(tmp_path / "run" / "masks")
    assert [(r["round"], r["added"]) for r in state.records] == [(0, 16), (1, 8)]
    assert int(state.images().sum()) == 24
