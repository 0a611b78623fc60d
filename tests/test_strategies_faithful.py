"""Our selections against faithful numpy ports of the authors' code, on hand-made posteriors.

Ports: RIPU's pixel selection (PA) from BIT-DA/RIPU `core/active/build.py` (`PixelSelection`) and
`core/active/spatial_purity.py` (`SpatialPurity`); PixelPick's pool and margin from NoelShin/PixelPick
`query.py` (`QuerySelector._select_queries`, `UncertaintySampler`). docs/strategies.md lists the departures.
"""

import numpy as np
import pytest

from segal_dsl.runtime.selection import dilate, pool_size, rng_for, select_pixels, select_suppressed

torch = pytest.importorskip("torch")
from segal_dsl.runtime.heuristics import margin, ripu  # noqa: E402


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=0))
    return e / e.sum(axis=0)


def _box_sum_zero_padded(x: np.ndarray, k: int) -> np.ndarray:
    """A (2k+1)² ones-conv with zero padding, per channel, as `SpatialPurity.conv` (nn.Conv2d, padding=k)."""
    c, h, w = x.shape
    padded = np.zeros((c, h + 2 * k, w + 2 * k))
    padded[:, k:k + h, k:k + w] = x
    out = np.zeros((c, h, w))
    for dy in range(2 * k + 1):
        for dx in range(2 * k + 1):
            out += padded[:, dy:dy + h, dx:dx + w]
    return out


def ripu_pa_port(logits: np.ndarray, active: np.ndarray, k: int, n_pixels: int, mask_radius: int):
    """RIPU `PixelSelection` for one image: (selected, active) after one query; `active` is carried over."""
    c = logits.shape[0]
    p = _softmax(logits)
    entropy = np.sum(-p * np.log(p + 1e-6), axis=0)
    one_hot = np.eye(c)[np.argmax(p, axis=0)].transpose(2, 0, 1)
    summary = _box_sum_zero_padded(one_hot, k)
    dist = summary / summary.sum(axis=0, keepdims=True)
    purity = np.sum(-dist * np.log(dist + 1e-6), axis=0)
    score = entropy * purity
    active = active.copy()
    score[active] = -np.inf
    selected = np.zeros_like(active)
    for _ in range(n_pixels):
        values, indices_h = score.max(axis=0), score.argmax(axis=0)   # torch.max(score, dim=0)
        w = int(values.argmax())
        h = int(indices_h[w])
        sh, sw = max(h - mask_radius, 0), max(w - mask_radius, 0)
        score[sh:h + mask_radius + 1, sw:w + mask_radius + 1] = -np.inf
        active[sh:h + mask_radius + 1, sw:w + mask_radius + 1] = True
        selected[h, w] = True
    return selected, active


def _ours_pa(logits: np.ndarray, labelled: np.ndarray, k: int, n: int, r: int, keep: bool) -> np.ndarray:
    probs = torch.softmax(torch.from_numpy(logits)[None].float(), dim=1)
    s = ripu(probs, k=k, form="pixel")[0].numpy()
    zone = dilate(labelled, r) if keep else None
    return select_suppressed(s, labelled, n, r, zone)


@pytest.mark.parametrize("case", range(12))
def test_ripu_pa_selection_equals_the_authors_over_two_queries(case):
    rng = np.random.default_rng(case)
    c, h, w = 4, 18, 22
    k = r = 1 + case % 3
    n = 3 + case % 4
    # blobs of classes (so windows are impure only near borders) plus noise
    logits = rng.normal(0, 1.5, (c, h, w)) + 3 * np.eye(c)[(np.arange(h)[:, None] // 6 + np.arange(w) // 7) % c].transpose(2, 0, 1)
    sel1, active = ripu_pa_port(logits, np.zeros((h, w), bool), k, n, r)
    ours1 = _ours_pa(logits, np.zeros((h, w), bool), k, n, r, keep=True)
    assert ours1.sum() == n
    np.testing.assert_array_equal(ours1, sel1)
    np.testing.assert_array_equal(dilate(ours1, r), active)  # the kept zone is RIPU's `active` indicator
    logits2 = logits + rng.normal(0, 0.5, logits.shape)  # the retrained model's posteriors
    sel2, _ = ripu_pa_port(logits2, active, k, n, r)
    ours2 = _ours_pa(logits2, ours1, k, n, r, keep=True)
    np.testing.assert_array_equal(ours2, sel2)


def test_ripu_pa_score_ranks_as_the_authors_and_differs_from_the_region_form():
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 2, (5, 12, 12))
    p = _softmax(logits)
    ent = np.sum(-p * np.log(p + 1e-6), axis=0)
    summary = _box_sum_zero_padded(np.eye(5)[p.argmax(0)].transpose(2, 0, 1), 2)
    dist = summary / summary.sum(0, keepdims=True)
    theirs = ent * np.sum(-dist * np.log(dist + 1e-6), axis=0)
    probs = torch.softmax(torch.from_numpy(logits)[None].float(), dim=1)
    pa = ripu(probs, k=2, form="pixel")[0].numpy()
    np.testing.assert_allclose(pa * np.log(5) ** 2, theirs, rtol=1e-4, atol=1e-5)  # same up to log C normalisation
    ra = ripu(probs, k=2, form="region")[0].numpy()
    assert not np.array_equal(np.argsort(-pa, axis=None)[:10], np.argsort(-ra, axis=None)[:10])


def test_suppression_never_picks_within_the_radius_and_stays_exact():
    s = np.arange(100, dtype=float).reshape(10, 10)
    got = select_suppressed(s, np.zeros((10, 10), bool), 4, 2)
    ys, xs = np.nonzero(got)
    assert got.sum() == 4
    for i in range(4):
        for j in range(i):
            assert max(abs(ys[i] - ys[j]), abs(xs[i] - xs[j])) > 2
    # more than suppression allows: the rest are the best unsuppressed-or-not unlabelled pixels
    full = select_suppressed(s, np.zeros((10, 10), bool), 30, 4)
    assert full.sum() == 30


def test_pixelpick_pool_is_int_of_t_percent_and_equal_to_theirs():
    rng = np.random.default_rng(3)
    h, w = 13, 17
    unc = rng.random((h, w)).astype(np.float32)
    top_n_percent = 0.05
    k = int(h * w * top_n_percent)   # PixelPick `_select_queries`: int(), not ceil
    assert pool_size(5, h * w) == k == 11
    theirs = set(torch.from_numpy(unc.ravel()).topk(k=k, dim=0, largest=True).indices.numpy().tolist())
    whole = select_pixels(unc, np.zeros((h, w), bool), k, 5, rng_for(0, 1, 0))   # quota = pool: the whole pool
    assert set(np.flatnonzero(whole).tolist()) == theirs
    part = select_pixels(unc, np.zeros((h, w), bool), 4, 5, rng_for(0, 1, 0))
    assert part.sum() == 4 and set(np.flatnonzero(part).tolist()) <= theirs


def test_margin_ranks_as_pixelpick_even_for_gaps_float32_merges():
    # 3 classes around p = 0.4: the gaps are j·2⁻²⁵ (≈3e-8), below float32's step of 6e-8 under 1
    base = np.float32(0.4)
    step = np.spacing(base)
    p1 = np.full(6, base, np.float32)
    p2 = (base - np.arange(1, 7) * step).astype(np.float32)
    probs = np.stack([p1, p2, (1 - p1 - p2).astype(np.float32)])[:, None, :]  # (C, 1, 6)
    t = torch.from_numpy(probs)[None]
    theirs = (t.topk(2, dim=1).values[:, 0] - t.topk(2, dim=1).values[:, 1]).abs()[0, 0]   # `_margin_sampling`
    ours = margin(t)[0, 0].numpy()
    assert len(set(ours.tolist())) == 6  # float32 1 - gap merged them
    np.testing.assert_array_equal(np.argsort(-ours, kind="stable"), np.argsort(theirs.numpy(), kind="stable"))
    assert len(set((1 - theirs).numpy().astype(np.float32).tolist())) < 6


def test_void_pixels_are_never_bought(tmp_path):
    mmseg = pytest.importorskip("mmseg.datasets")
    from PIL import Image

    from segal_dsl.runtime.query import void_reader

    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    gt = np.zeros((6, 8), np.uint8)
    gt[:, :3] = 255
    Image.fromarray(gt).save(tmp_path / "ann" / "a.png")
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / "img" / "a.png")
    ds = mmseg.CustomDataset(pipeline=[], img_dir=str(tmp_path / "img"), ann_dir=str(tmp_path / "ann"),
                             img_suffix=".png", seg_map_suffix=".png", classes=("a", "b"))
    void = void_reader(ds, 255)(0, (6, 8))
    np.testing.assert_array_equal(void, gt == 255)
    assert void_reader(ds, 255)(0, (3, 4)).sum() == 3 * 2   # nearest resize to the label resolution
    scores = np.zeros((6, 8))
    scores[:, :3] = 10.0   # the void pixels look most informative
    got = select_pixels(scores, void, 20)
    assert got.sum() == 20 and not (got & void).any()
