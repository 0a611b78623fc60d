"""Issue 11: BADGE (Ash et al. 2020) at image level: the gradient embedding and the k-means++ seeding, each
against an independent numpy computation on hand-made cases, the embedding against torch autograd on the toy
model, one toy query."""

import numpy as np
import pytest
from conftest import EXAMPLES

from segal_dsl.api import analyse
from segal_dsl.runtime.selection import gradient_embedding, kmeanspp_seeding, rng_for
from segal_dsl.source import Source

TOY = (EXAMPLES / "toy_pixel.seg").as_posix()


def test_gradient_embedding_of_one_pixel_by_hand():
    # f = (1, 2), p = (0.7, 0.2, 0.1): ŷ = 0, p - e_ŷ = (-0.3, 0.2, 0.1); the embedding is its outer product with f
    got = gradient_embedding(np.array([[1.0], [2.0]]), np.array([[0.7], [0.2], [0.1]]))
    np.testing.assert_allclose(got, [-0.3, -0.6, 0.2, 0.4, 0.1, 0.2])


def test_gradient_embedding_is_the_mean_of_the_per_pixel_outer_products():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4, 7))
    p = rng.dirichlet(np.ones(3), size=7).T
    want = np.zeros((3, 4))
    for x in range(7):
        onehot = np.eye(3)[int(np.argmax(p[:, x]))]
        want += np.outer(p[:, x] - onehot, f[:, x]) / 7
    np.testing.assert_allclose(gradient_embedding(f, p), want.ravel())
    # a confident pixel contributes (almost) nothing: the embedding's norm carries the uncertainty
    sure = np.array([[1.0], [0.0], [0.0]])
    assert np.abs(gradient_embedding(f[:, :1], sure)).max() == 0.0


def _np_kmeanspp(x, labelled, k, rng):
    """An independent k-means++ seeding replaying the same draws: the unlabelled rows only, the largest norm
    first, then inverse-CDF draws (u = rng.random()) over D² to the nearest pick."""
    cand = [i for i in range(len(x)) if not labelled[i]]
    norms = [float(np.dot(x[i], x[i])) for i in cand]
    picks = [cand[norms.index(max(norms))]]
    while len(picks) < min(k, len(cand)):
        d2 = np.array([0.0 if i in picks else min(float(np.sum((x[i] - x[c]) ** 2)) for c in picks) for i in cand])
        if d2.sum() > 0:
            cdf = np.cumsum(d2)
            cdf /= cdf[-1]
            picks.append(cand[int(np.searchsorted(cdf, rng.random(), side="right"))])
        else:
            rest = [i for i in cand if i not in picks]
            picks.append(rest[int(rng.integers(len(rest)))])
    return picks[: min(k, len(cand))]


def test_kmeanspp_seeding_matches_an_independent_replay():
    for trial in range(30):
        data = np.random.default_rng(100 + trial)
        n = int(data.integers(1, 25))
        x = data.normal(size=(n, int(data.integers(1, 6))))
        if trial % 5 == 0:  # duplicates: the all-zero D² branch
            x[: n // 2] = x[0]
        lab = data.random(n) < (0.0 if trial % 3 == 0 else 0.3)
        k = int(data.integers(0, n + 2))
        got = kmeanspp_seeding(x, lab, k, rng_for(trial, 1)).tolist()
        assert got == _np_kmeanspp(x, lab, k, rng_for(trial, 1))
        assert len(set(got)) == len(got) == min(k, int((~lab).sum())) and not lab[got].any()


def test_kmeanspp_first_pick_is_the_largest_norm_and_the_second_follows_d_squared():
    # unlabelled rows 1..3; row 3 has the largest norm; D² to it: row 1 -> 9, row 2 -> 1 (row 0 is labelled)
    x = np.array([[50.0, 0.0], [1.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    lab = np.array([True, False, False, False])
    seconds = [kmeanspp_seeding(x, lab, 2, rng_for(s, 1)).tolist() for s in range(4000)]
    assert all(s[0] == 3 for s in seconds)
    share = sum(s[1] == 1 for s in seconds) / len(seconds)
    assert abs(share - 0.9) < 0.02  # 9 / (9 + 1)
    # the same rng stream replays the same batch
    assert kmeanspp_seeding(x, lab, 3, rng_for(7, 2)).tolist() == kmeanspp_seeding(x, lab, 3, rng_for(7, 2)).tolist()


def test_badge_is_for_image_sampling_only():
    seg = (f'experiment u {{\n    extends "{TOY}"\n    delete visualize\n'
           "    schedule iters { train 1; query; train 1 }\n    heuristic badge\n}\n")
    result = analyse(Source("u.seg", seg))
    assert [d.code for d in result.diagnostics] == ["SEG231"]
    assert "`badge` works in image sampling only" in result.diagnostics[0].message


@pytest.mark.runtime
def test_grad_embedding_is_the_autograd_gradient_of_the_classifier(tmp_path):
    pytest.importorskip("mmseg")
    import torch
    import torch.nn.functional as F
    from _runtime_helpers import toy_env
    from mmcv.parallel import scatter
    from test_strategies_new import _toy_model_and_item

    from segal_dsl.runtime.query import grad_embedding

    toy_env(tmp_path)
    model, item = _toy_model_and_item(0.0)
    got = grad_embedding(model, item, (64, 64))
    img = scatter(item, [-1])[0]["img"][0]
    head = model.decode_head
    with torch.no_grad():
        feats = head.convs(head._transform_inputs(model.extract_feat(img)))
    head.conv_seg.weight.grad = None
    logits = head.conv_seg(feats)  # independently: autograd of the mean CE with the argmax pseudo-label
    F.cross_entropy(logits, logits.argmax(dim=1)).backward()
    want = head.conv_seg.weight.grad.double().flatten().numpy()
    assert got.shape == (head.num_classes * head.channels,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


@pytest.mark.runtime
def test_badge_buys_whole_images_on_the_toy(tmp_path, monkeypatch):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.launch import run_experiment

    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    seg = tmp_path / "bg.seg"
    seg.write_text(f'experiment bg {{\n    extends "{(EXAMPLES / "toy_image.seg").as_posix()}"\n'
                   "    heuristic badge\n    schedule iters { train 1; query; train 1 }\n}\n")
    assert run_experiment(str(seg), work_dir=str(tmp_path / "run")) == 0
    state = LabelState.load(tmp_path / "run" / "masks")
    assert [(r["round"], r["added"]) for r in state.records] == [(0, 16), (1, 8)]
    assert int(state.images().sum()) == 24


def test_the_contract_refuses_badge_outside_image_sampling():
    from segal_dsl.api import compile_source
    from segal_dsl.spec.config import ConfigError, read_config

    seg = (f'experiment u {{\n    extends "{TOY}"\n    delete visualize\n'
           "    schedule iters { train 1; query; train 1 }\n}\n")
    values = compile_source(Source("u.seg", seg), "o/c.py").points[0].effective.values
    assert read_config(values).mode == "pixel"
    bad = dict(values, active_learning=dict(values["active_learning"], heuristic="badge", heuristic_cfg={}))
    with pytest.raises(ConfigError, match="`badge` works in image sampling only, not `pixel`"):
        read_config(bad)
