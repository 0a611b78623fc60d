"""Heuristics on hand-made posteriors with known answers, and RIPU against a naive loop."""

import math

import pytest

torch = pytest.importorskip("torch")

from segal_dsl.runtime import heuristics as H  # noqa: E402


def _pixels(*dists):
    """Posteriors (1, C, 1, P): one pixel per given class distribution."""
    t = torch.tensor(dists, dtype=torch.float32).T  # (C, P)
    return t[None, :, None, :]


def test_registry_names_and_alias():
    for name in ("random", "entropy", "margin", "least_confidence", "least-confidence", "ripu"):
        assert name in H.HEURISTICS
    assert H.HEURISTICS["least-confidence"] is H.HEURISTICS["least_confidence"]
    with pytest.raises(ValueError, match="unknown heuristic `entropi`.*entropy"):
        H.get_heuristic("entropi")
    with pytest.raises(ValueError, match="already registered"):
        H.register("entropy")(lambda p: p)


def test_runtime_registry_is_the_spec():
    """Every heuristic the checker accepts (spec/heuristics.py) runs, and segal-dsl registers nothing else
    (user heuristics, registered by modules of `imports`, come from other modules)."""
    from segal_dsl.spec import heuristics as spec

    names = {name for h in spec.HEURISTICS.values() for name in (h.name, *h.aliases)}
    ours = {k for k, fn in H.HEURISTICS.items() if fn.__module__.startswith("segal_dsl.")}
    assert ours == names


@pytest.mark.parametrize("name", ["random", "entropy", "margin", "least_confidence", "ripu"])
def test_contract_shape_dtype(name):
    probs = H.to_probs(torch.randn(3, 4, 5, 6, dtype=torch.float64))
    s = H.HEURISTICS[name](probs)
    assert s.shape == (3, 5, 6)
    assert s.dtype == (torch.float64 if name == "margin" else torch.float32)  # margin: exact gaps (float64)
    assert torch.isfinite(s).all()


def test_to_probs_is_over_classes_not_space():
    logits = torch.randn(2, 3, 4, 5)
    p = H.to_probs(logits)
    assert torch.allclose(p.sum(dim=1), torch.ones(2, 4, 5))
    # docs/reference.md §4 normalised over H·W per class: that would sum to 1 over space instead
    assert not torch.allclose(p.sum(dim=(2, 3)), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        H.to_probs(torch.randn(3, 4, 5))


def test_entropy_maximal_at_uniform_and_zero_at_one_hot():
    p = _pixels([0.25] * 4, [1.0, 0, 0, 0], [0.7, 0.1, 0.1, 0.1])
    s = H.entropy(p)[0, 0]
    assert s[0].item() == pytest.approx(math.log(4), rel=1e-6)
    assert s[1].item() == pytest.approx(0.0, abs=1e-6)
    assert s.argmax().item() == 0
    assert 0 < s[2].item() < s[0].item()


def test_margin_scores_smallest_top2_gap_highest():
    # docs/reference.md §4 picked the largest margin (most confident); here the 0.45/0.44 pixel must win
    p = _pixels([0.9, 0.05, 0.05], [0.45, 0.44, 0.11], [0.6, 0.3, 0.1])
    s = H.margin(p)[0, 0]
    assert s.argmax().item() == 1
    assert s.argmin().item() == 0
    assert s[1].item() == pytest.approx(1 - 0.01, abs=1e-6)


def test_least_confidence_picks_flattest_posterior():
    p = _pixels([0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [0.98, 0.01, 0.01])
    s = H.least_confidence(p)[0, 0]
    assert s.argmax().item() == 1
    assert s[1].item() == pytest.approx(0.66, abs=1e-6)
    assert s.argmin().item() == 2


def test_random_is_seeded_by_generator():
    p = H.to_probs(torch.randn(2, 3, 8, 8))
    a = H.random_scores(p, generator=torch.Generator().manual_seed(1))
    b = H.HEURISTICS["random"](p, generator=torch.Generator().manual_seed(1))
    c = H.random_scores(p, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert ((a >= 0) & (a < 1)).all()


def _naive_ripu(probs, k, use_entropy, categories):
    """Direct transcription of the RIPU formula: loops over every pixel and its window."""
    n, c, h, w = probs.shape
    label = probs.argmax(dim=1)
    ent = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)
    out = torch.zeros(n, h, w, dtype=torch.float64)
    for b in range(n):
        for y in range(h):
            for x in range(w):
                ys = slice(max(y - k, 0), min(y + k + 1, h))
                xs = slice(max(x - k, 0), min(x + k + 1, w))
                win = label[b, ys, xs].reshape(-1)
                hist = torch.bincount(win, minlength=c).double() / win.numel()
                nz = hist[hist > 0]
                imp = -(nz * nz.log()).sum().item() / math.log(categories)
                if use_entropy:
                    imp *= ent[b, ys, xs].double().mean().item() / math.log(categories)
                out[b, y, x] = imp
    return out


@pytest.mark.parametrize(
    "k,use_entropy,categories", [(1, True, None), (2, False, None), (1, True, 19), (0, True, None), (6, True, 7)]
)
def test_ripu_matches_naive_loop_batch_gt_1(k, use_entropy, categories):
    g = torch.Generator().manual_seed(0)
    # few classes and a smooth-ish field so windows are neither all pure nor all mixed
    logits = torch.randn(3, 4, 9, 11, generator=g) * 2
    probs = H.to_probs(logits)
    got = H.ripu(probs, k=k, use_entropy=use_entropy, categories=categories)
    want = _naive_ripu(probs, k, use_entropy, categories or 4)
    assert torch.allclose(got.double(), want, atol=1e-5)
    # each batch element scored on its own: N>1 equals N=1 per image (reference bug)
    for b in range(3):
        single = H.ripu(probs[b : b + 1], k=k, use_entropy=use_entropy, categories=categories)
        assert torch.allclose(single[0], got[b], atol=1e-6)


def test_ripu_prefers_impure_windows():
    # left half class 0, right half class 1, equally uncertain everywhere
    probs = torch.zeros(1, 2, 6, 8)
    probs[0, 0, :, :4], probs[0, 1, :, :4] = 0.7, 0.3
    probs[0, 0, :, 4:], probs[0, 1, :, 4:] = 0.3, 0.7
    s = H.ripu(probs, k=1, use_entropy=True)[0]
    assert s[:, 3].min() > 0 and s[:, 4].min() > 0  # the class boundary
    assert torch.all(s[:, :2] == 0) and torch.all(s[:, 6:] == 0)  # pure windows
    impure_only = H.ripu(probs, k=1, use_entropy=False)[0]
    assert impure_only[0, 3].item() == pytest.approx(
        -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) / math.log(2), rel=1e-5
    )


def test_ripu_rejects_bad_params():
    probs = H.to_probs(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="k must be"):
        H.ripu(probs, k=-1)
    with pytest.raises(ValueError, match="categories"):
        H.ripu(probs, categories=1)


def test_no_softmax_inside_heuristics():
    # Feeding posteriors that are already peaked must not be re-normalised (docs/reference.md §4).
    p = _pixels([0.5, 0.5], [1.0, 0.0])
    assert H.least_confidence(p)[0, 0].tolist() == pytest.approx([0.5, 0.0])


def test_image_scores_mean_and_valid_mask():
    s = torch.tensor([[[1.0, 3.0], [5.0, 7.0]], [[0.0, 0.0], [0.0, 8.0]]])
    assert H.image_scores(s).tolist() == pytest.approx([4.0, 2.0])
    valid = torch.tensor([[[True, False], [False, False]], [[False, False], [False, False]]])
    assert H.image_scores(s, valid).tolist() == pytest.approx([1.0, 0.0])
