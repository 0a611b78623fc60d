"""Selection: exact budgets of NEW labels, determinism under seeds, streaming global top-k."""

import tracemalloc

import numpy as np
import pytest

from segal_dsl.runtime.selection import (
    Selection,
    initial_images,
    initial_pixels,
    rng_for,
    select_global,
    select_images,
    select_pixels,
    select_regions,
    top_k,
)


def _random_state(seed, shape=(20, 30), frac=0.3):
    g = np.random.default_rng(seed)
    return g.random(shape).astype(np.float32), g.random(shape) < frac


# ------------------------------------------------------------------ pixels


def test_top_k_ties_break_towards_lower_index():
    v = np.array([1.0, 5.0, 3.0, 5.0, 3.0, 3.0])
    assert top_k(v, 3).tolist() == [1, 2, 3]
    assert top_k(v, 4).tolist() == [1, 2, 3, 4]
    assert top_k(v, 0).size == 0 and top_k(v, 10).tolist() == list(range(6))


def test_pixels_top_quota_among_unlabelled_only():
    scores, lab = _random_state(0)
    new = select_pixels(scores, lab, 50)
    assert new.sum() == 50
    assert not (new & lab).any()
    # every chosen score >= every unchosen unlabelled score
    assert scores[new].min() >= scores[~new & ~lab].max()


def test_pixels_clamped_to_unlabelled():
    scores, lab = _random_state(1)
    new = select_pixels(scores, lab, 10_000)
    assert np.array_equal(new, ~lab)
    assert select_pixels(scores, np.ones_like(lab), 5).sum() == 0


def test_pixels_constant_scores_tie_break_is_stable():
    lab = np.zeros((4, 5), dtype=bool)
    lab[0, 0] = True
    new = select_pixels(np.zeros((4, 5)), lab, 3)
    assert np.flatnonzero(new).tolist() == [1, 2, 3]


def test_pixels_nan_scores_are_least_preferred_but_selectable():
    s = np.array([[np.nan, 0.1, np.nan, 0.5]])
    lab = np.zeros_like(s, dtype=bool)
    assert np.flatnonzero(select_pixels(s, lab, 2)).tolist() == [1, 3]
    assert select_pixels(s, lab, 4).sum() == 4


def test_pixels_threshold_picks_randomly_inside_the_pool():
    scores, lab = _random_state(2, (40, 50))
    new = select_pixels(scores, lab, 30, threshold_pct=10, rng=rng_for(0, 1, 0))
    assert new.sum() == 30 and not (new & lab).any()
    pool = select_pixels(scores, lab, 200)  # top ceil(10% of 2000) unlabelled = the pool
    assert not (new & ~pool).any()
    assert not np.array_equal(new, select_pixels(scores, lab, 30))  # not simply the top-30


def test_pixels_threshold_pool_smaller_than_quota_is_widened():
    # docs/reference.md §1a: pool of 1% (12 px) < quota 50 raised ValueError; now the pool becomes the top-50
    scores, lab = _random_state(3, (30, 40))
    new = select_pixels(scores, lab, 50, threshold_pct=1, rng=rng_for(0, 1, 0))
    assert new.sum() == 50
    assert np.array_equal(new, select_pixels(scores, lab, 50))


def test_pixels_same_seed_same_labels_different_seed_different():
    scores, lab = _random_state(4, (40, 50))
    pick = lambda seed: select_pixels(scores, lab, 40, threshold_pct=20, rng=rng_for(seed, 2, 7))
    assert np.array_equal(pick(5), pick(5))
    assert not np.array_equal(pick(5), pick(6))
    other_image = select_pixels(scores, lab, 40, threshold_pct=20, rng=rng_for(5, 2, 8))
    assert not np.array_equal(pick(5), other_image)


def test_pixels_top_prop_mixes_top_and_random_unlabelled():
    scores, lab = _random_state(5, (40, 50))
    new = select_pixels(scores, lab, 40, rng=rng_for(0, 1, 0), top_prop=0.5)
    assert new.sum() == 40 and not (new & lab).any()
    top20 = select_pixels(scores, lab, 20)
    assert (new & top20).sum() == 20


def test_pixels_argument_errors():
    scores, lab = _random_state(6)
    with pytest.raises(ValueError, match="percentage"):
        select_pixels(scores, lab, 5, threshold_pct=0, rng=rng_for(0, 0, 0))
    with pytest.raises(ValueError, match="percentage"):
        select_pixels(scores, lab, 5, threshold_pct=False, rng=rng_for(0, 0, 0))
    with pytest.raises(ValueError, match="needs rng"):
        select_pixels(scores, lab, 5, threshold_pct=5)
    with pytest.raises(ValueError, match="does not match"):
        select_pixels(scores, lab[:, :3], 5)
    with pytest.raises(ValueError, match="quota"):
        select_pixels(scores, lab, -1)


def test_pixels_accept_torch_tensors():
    torch = pytest.importorskip("torch")
    scores, lab = _random_state(7)
    a = select_pixels(torch.from_numpy(scores), torch.from_numpy(lab), 25)
    assert np.array_equal(a, select_pixels(scores, lab, 25))


# ------------------------------------------------------------------ regions


@pytest.mark.parametrize("quota", [0, 1, 9, 10, 44, 100, 301])
@pytest.mark.parametrize("radius", [0, 1, 2])
@pytest.mark.parametrize("threshold", [None, 5, 50])
def test_regions_exact_new_pixels(quota, radius, threshold):
    scores, lab = _random_state(quota + radius, (24, 31), frac=0.2)
    new = select_regions(scores, lab, quota, radius, threshold, rng_for(1, 1, 3))
    assert new.sum() == min(quota, (~lab).sum())
    assert not (new & lab).any()  # already labelled pixels are never bought again


def test_regions_are_squares_and_last_one_partial():
    scores = np.zeros((20, 20), dtype=np.float32)
    scores[5, 5], scores[14, 14] = 3.0, 2.0
    lab = np.zeros((20, 20), dtype=bool)
    new = select_regions(scores, lab, 9 + 4, radius=1)
    assert new[4:7, 4:7].all()  # best centre: a full 3x3 square
    second = new.copy()
    second[4:7, 4:7] = False
    assert second.sum() == 4 and second[13:16, 13:16].sum() == 4  # partial square at the next centre
    assert second[14, 14]  # its highest-scoring pixel is kept


def test_regions_clip_at_borders_and_count_only_new_pixels():
    scores = np.zeros((6, 6), dtype=np.float32)
    scores[0, 0] = 5.0
    lab = np.zeros((6, 6), dtype=bool)
    lab[1, 1] = True  # inside the best square: must not be counted
    new = select_regions(scores, lab, 3, radius=1)
    assert np.flatnonzero(new).tolist() == [0, 1, 6]  # 2x2 clipped square minus the labelled pixel


def test_regions_stay_contiguous_with_threshold():
    # docs/reference.md §10: threshold + region picked single pixels and lost contiguity
    g = np.random.default_rng(9)
    scores = g.random((40, 40)).astype(np.float32)
    scores[[0, -1], :] = scores[:, [0, -1]] = -1  # border centres stay out of the 20% pool
    lab = np.zeros((40, 40), dtype=bool)
    new = select_regions(scores, lab, 9 * 12, radius=1, threshold_pct=20, rng=rng_for(0, 1, 0))
    assert new.sum() == 108
    _assert_disjoint_squares(new, 12, radius=1)


def _assert_disjoint_squares(new, n, radius):
    """new must be exactly n disjoint (2r+1)^2 squares (none at a border, by construction of the test)."""
    rest = new.copy()
    side = 2 * radius + 1
    found = 0
    while rest.any():
        y, x = np.argwhere(rest)[0]  # top-left pixel of a square in scan order
        block = rest[y : y + side, x : x + side]
        assert block.shape == (side, side) and block.all(), f"non-square selection at {(y, x)}"
        rest[y : y + side, x : x + side] = False
        found += 1
    assert found == n


def test_regions_greedy_squares_disjoint_without_threshold():
    g = np.random.default_rng(10)
    scores = g.random((40, 40)).astype(np.float32)
    scores[[0, -1], :] = scores[:, [0, -1]] = -1  # keep centres off the border so squares are whole
    lab = np.zeros((40, 40), dtype=bool)
    new = select_regions(scores, lab, 9 * 20, radius=1)
    _assert_disjoint_squares(new, 20, radius=1)


def test_regions_fill_a_nearly_full_image_exactly():
    lab = np.ones((10, 10), dtype=bool)
    lab[::3, ::3] = False  # 16 isolated holes: no whole square fits
    scores, _ = _random_state(11, (10, 10))
    new = select_regions(scores, lab, 15, radius=1)
    assert new.sum() == 15 and not (new & lab).any()


def test_regions_seeded():
    scores, lab = _random_state(12, (30, 30), frac=0.1)
    pick = lambda s: select_regions(scores, lab, 90, 1, 30, rng_for(s, 1, 0))
    assert np.array_equal(pick(1), pick(1))
    assert not np.array_equal(pick(1), pick(2))


# ------------------------------------------------------------------ global


def _pool(seed, n=12, ties=False):
    g = np.random.default_rng(seed)
    items = []
    for i in range(n):
        shape = (int(g.integers(3, 9)), int(g.integers(3, 9)))
        s = g.random(shape)
        if ties:
            s = np.round(s * 4) / 4  # many equal scores across images
        items.append((i * 3 + 1, s.astype(np.float32), g.random(shape) < 0.3))
    return items


def _brute_force(items, budget):
    rows = []
    for idx, s, lab in items:
        for p in np.flatnonzero(~lab.ravel()):
            rows.append((-float(s.ravel()[p]), idx, int(p)))
    rows.sort()
    out = {}
    for _, idx, p in rows[:budget]:
        out.setdefault(idx, []).append(p)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("budget", [0, 1, 17, 60, 10_000])
def test_global_streaming_equals_brute_force(budget, ties):
    items = _pool(budget, ties=ties)
    sel = select_global(iter(items), budget)
    assert isinstance(sel, Selection)
    want = _brute_force(items, budget)
    assert {k: sel.flat(k).tolist() for k in sel} == want
    assert sel.total() == min(budget, sum(int((~lab).sum()) for _, _, lab in items))
    for idx, s, lab in items:
        if idx in sel:
            m = sel[idx]
            assert m.shape == s.shape and m.sum() == sel.count(idx) and not (m & lab).any()


def test_global_does_not_depend_on_pool_order():
    items = _pool(3, ties=True)
    a = select_global(items, 25)
    b = select_global(items[::-1], 25)
    assert {k: a.flat(k).tolist() for k in a} == {k: b.flat(k).tolist() for k in b}
    total = sum(s.size for _, s, _ in items)
    ta = select_global(items, 25, 40, rng_for(0, 1), total_pixels=total)
    tb = select_global(items[::-1], 25, 40, rng_for(0, 1), total_pixels=total)
    tc = select_global(items, 25, 40, rng_for(1, 1), total_pixels=total)
    assert ta.total() == 25
    assert {k: ta.flat(k).tolist() for k in ta} == {k: tb.flat(k).tolist() for k in tb}
    assert {k: ta.flat(k).tolist() for k in ta} != {k: tc.flat(k).tolist() for k in tc}


def test_global_threshold_stays_inside_the_pool():
    items = _pool(4)
    total = sum(s.size for _, s, _ in items)
    sel = select_global(items, 10, 20, rng_for(0, 1), total_pixels=total)
    pool = _brute_force(items, int(np.ceil(0.2 * total)))
    assert sel.total() == 10
    for k in sel:
        assert set(sel.flat(k).tolist()) <= set(pool[k])
    with pytest.raises(ValueError, match="total_pixels"):
        select_global(items, 10, 20, rng_for(0, 1))


def test_global_peak_memory_does_not_grow_with_the_pool():
    budget, h, w = 50, 64, 64

    def stream(n):
        for i in range(n):
            g = rng_for(0, 0, i)
            yield i, g.random((h, w), dtype=np.float32), np.zeros((h, w), dtype=bool)

    def peak(n):
        tracemalloc.start()
        sel = select_global(stream(n), budget)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert sel.total() == budget
        return top

    peak(2)  # first call pays one-time numpy/RNG allocations
    small, large = peak(5), peak(80)
    # 80 images of float64 scores would be 2.6 MB; streaming stays at one image's working set
    assert large < 1.5 * small + 64 * 1024
    assert large < 500_000


def test_global_rejects_duplicate_indices():
    items = _pool(5, n=2)
    with pytest.raises(ValueError, match="twice"):
        select_global([items[0], items[0]], 5)


# ------------------------------------------------------------------ images and initial labels


def test_images_ranked_by_score_not_bool():
    # docs/reference.md §3e cast the scores to bool: every non-zero score tied
    scores = np.array([0.1, 0.9, 0.5, 0.95, 0.3])
    lab = np.array([False, False, False, True, False])
    assert select_images(scores, lab, 2).tolist() == [1, 2]
    assert select_images(scores, lab, 10).tolist() == [0, 1, 2, 4]


def test_images_threshold_seeded():
    scores = np.linspace(0, 1, 50)
    lab = np.zeros(50, dtype=bool)
    a = select_images(scores, lab, 5, rng_for(0, 1), threshold_pct=40)
    assert a.size == 5 and (a >= 30).all()
    assert np.array_equal(a, select_images(scores, lab, 5, rng_for(0, 1), threshold_pct=40))
    assert not np.array_equal(a, select_images(scores, lab, 5, rng_for(1, 1), threshold_pct=40))


def test_initial_pixels_exact_and_order_free():
    sizes = [(8, 9), (5, 5), (3, 4)]
    masks = initial_pixels(sizes, [10, 25, 0], lambda i: rng_for(7, 0, i))
    assert [int(m.sum()) for m in masks] == [10, 25, 0]
    assert [m.shape for m in masks] == sizes
    # image 1 gets the same labels whatever the other images are (sharding, order)
    alone = initial_pixels([sizes[1]], [25], lambda i: rng_for(7, 0, 1))
    assert np.array_equal(alone[0], masks[1])
    lab = np.zeros((8, 9), dtype=bool)
    lab[:4] = True
    topped = initial_pixels([lab], [100], rng_for(7, 0, 0))
    assert topped[0].sum() == 36 and not (topped[0] & lab).any()
    again = initial_pixels(sizes, [10, 25, 0], lambda i: rng_for(8, 0, i))
    assert not np.array_equal(again[0], masks[0])


def test_initial_images():
    a = initial_images(100, 10, rng_for(0, 0))
    assert a.size == 10 and np.unique(a).size == 10 and a.max() < 100
    assert np.array_equal(a, initial_images(100, 10, rng_for(0, 0)))
    assert not np.array_equal(a, initial_images(100, 10, rng_for(1, 0)))
    with pytest.raises(ValueError, match="exceeds the pool"):
        initial_images(5, 6, rng_for(0, 0))


def test_rng_for_validates():
    assert rng_for(1, 2, 3).random() == rng_for(1, 2, 3).random()
    assert rng_for(1, 2, 3).random() != rng_for(1, 3, 2).random()
    with pytest.raises(ValueError, match="non-negative"):
        rng_for(-1, 0, 0)
