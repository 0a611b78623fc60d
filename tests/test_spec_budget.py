"""BudgetSpec resolution (docs/compiled-config.md): every unit, exact int distribution, clear errors."""

import pytest

from segal_dsl.spec import budget
from segal_dsl.spec.budget import (
    distribute,
    estimate,
    join_shares,
    over_quota,
    parse_spec,
    per_image_quotas,
    split_total,
    total_budget,
)

SIZES = [(640, 1280), (10, 10), (7, 3)]


def test_int_total_is_distributed_exactly():
    assert per_image_quotas(10, SIZES) == [4, 3, 3]
    assert per_image_quotas(2, SIZES) == [1, 1, 0]  # reference: 2 // 3 = 0 everywhere, nothing labelled
    assert total_budget(10, SIZES) == 10
    for total in range(40):
        q = distribute(total, 7)
        assert sum(q) == total and max(q) - min(q) <= 1
        assert q == sorted(q, reverse=True)  # the remainder goes to the first images in pool order


def test_px_per_image():
    assert per_image_quotas({"value": 50, "unit": "px/img"}, SIZES) == [50, 50, 50]
    assert per_image_quotas({"value": 2.9, "unit": "px/img"}, SIZES) == [2, 2, 2]


def test_percent_per_image_floors_like_the_reference():
    assert per_image_quotas({"value": 1.0, "unit": "%/img"}, SIZES) == [8192, 1, 0]
    assert total_budget({"value": 1.0, "unit": "%/img"}, SIZES) == 8193


def test_percent_of_pool_is_an_int_total():
    pixels = 640 * 1280 + 100 + 21
    q = per_image_quotas({"value": 0.5, "unit": "%"}, SIZES)
    assert sum(q) == int(pixels * 0.5 / 100)
    assert q == distribute(int(pixels * 0.5 / 100), 3)


def test_regions_per_image_uses_the_radius():
    assert per_image_quotas({"value": 3, "unit": "regions/img"}, SIZES) == [27, 27, 27]
    assert per_image_quotas({"value": 3, "unit": "regions/img"}, SIZES, radius=2) == [75, 75, 75]
    assert per_image_quotas({"value": 3, "unit": "regions/img"}, SIZES, radius=0) == [3, 3, 3]


def test_over_quota_flags_images_too_small():
    assert over_quota(per_image_quotas({"value": 30, "unit": "px/img"}, SIZES), SIZES) == [2]


@pytest.mark.parametrize(
    "spec,match",
    [
        (-1, ">= 0"),
        (True, "must be an int"),
        (1.5, "int .total pixels. or dict"),
        ("1%", "int .total pixels. or dict"),
        ({"value": 1}, "missing \\['unit'\\]"),
        ({"value": 1, "unit": "px/img", "per": 2}, "unexpected \\['per'\\]"),
        ({"value": 1, "unit": "pixels"}, "unknown budget unit 'pixels'.*px/img"),
        ({"value": -2, "unit": "px/img"}, ">= 0"),
        ({"value": float("nan"), "unit": "%"}, "finite"),
        ({"value": 101, "unit": "%/img"}, "exceeds 100%"),
        ({"value": "3", "unit": "px/img"}, "must be a number"),
    ],
)
def test_bad_specs_raise_clear_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        per_image_quotas(spec, SIZES)


def test_bad_pool_and_radius():
    with pytest.raises(ValueError, match="pool image 1"):
        per_image_quotas(5, [(4, 4), (0, 4)])
    with pytest.raises(ValueError, match="empty pool"):
        per_image_quotas(5, [])
    assert per_image_quotas(0, []) == []
    with pytest.raises(ValueError, match="radius"):
        per_image_quotas({"value": 1, "unit": "regions/img"}, SIZES, radius=-1)


def test_core_runtime_modules_import_no_mmcv_or_mmseg():
    """heuristics/selection/labels/viz must stay testable without the mmseg stack."""
    import ast
    from pathlib import Path

    import segal_dsl

    root = Path(segal_dsl.__file__).parent / "runtime"
    for name in ("heuristics", "selection", "labels", "viz"):
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
                assert node.level == 0 or node.module in ("labels", "testhooks"), f"{name}.py: relative import"
            else:
                continue
            for m in mods:
                top = m.split(".")[0]
                assert top not in ("mmcv", "mmseg", "mmengine"), f"{name}.py imports {m}"
                if top == "segal_dsl":  # the spec layer and sibling core modules, never the runner side
                    assert m.startswith("segal_dsl.spec") or m.split(".")[-1] in (
                        "heuristics", "selection", "labels", "testhooks"), m


def test_the_plan_estimate_is_the_runtime_arithmetic():
    """estimate() on a uniform pool equals summing the runtime's per-image quotas over that pool."""
    from segal_dsl.spec.budget import estimate

    for spec in (24_371_200, 7, 0, {"value": 1, "unit": "%/img"}, {"value": 0.37, "unit": "%/img"},
                 {"value": 2.5, "unit": "%"}, {"value": 13, "unit": "px/img"}, {"value": 3, "unit": "regions/img"}):
        for n, (w, h) in ((2975, (1280, 640)), (7, (33, 17)), (1, (5, 3))):
            quotas = per_image_quotas(spec, [(h, w)] * n, radius=2)
            assert estimate(spec, "region", n, (w, h), radius=2).total == sum(quotas), (spec, n)


# ---- `budget X total`: split_total / join_shares / share specs -------------------------------------------
@pytest.mark.parametrize(("value", "unit", "queries"), [(12, "images", 5), (100003, "px", 5), (7, "px", 7),
                                                        (8194, "px/img", 5), (11, "regions", 2), (3, "regions/img", 4)])
def test_split_total_sums_exactly_with_the_remainder_first(value, unit, queries):
    shares = split_total(value, unit, queries, radius=1)
    assert len(shares) == queries
    counts = [s["value"] if isinstance(s, dict) else s for s in shares]
    area = 9 if unit == "regions" else 1
    assert sum(counts) == value * area
    assert counts == sorted(counts, reverse=True) and counts[0] - counts[-1] <= area
    assert join_shares(shares, radius=1) == (value, unit if unit != "images" else "px")


def test_split_total_of_regions_splits_whole_regions():
    assert split_total(11, "regions", 2, radius=1) == [54, 45]  # 6 and 5 regions of 9 px, not 50 and 49 px


def test_a_percentage_total_is_split_in_pixels_at_run_time():
    shares = split_total(2.2, "%/img", 5)
    assert shares[0] == {"value": 2.2, "unit": "%/img", "share": [1, 5]}
    sizes = [(640, 1280), (7, 3)]
    per_query = [per_image_quotas(s, sizes) for s in shares]
    assert [q[0] for q in per_query] == [3605, 3605, 3604, 3604, 3604]
    assert [sum(col) for col in zip(*per_query)] == [int(640 * 1280 * 2.2 / 100), int(21 * 2.2 / 100)]
    pool = split_total(10, "%", 3)
    assert sum(total_budget(s, sizes) for s in pool) == int((640 * 1280 + 21) * 10 / 100)
    assert join_shares(shares) == (2.2, "%/img")


def test_shares_that_are_no_split_have_no_total():
    assert join_shares([20000, 20001]) is None          # the larger share comes first
    assert join_shares([{"value": 2.2, "unit": "%/img", "share": [1, 2]}] * 2) is None


def test_share_key_is_checked():
    assert parse_spec({"value": 1, "unit": "%", "share": [2, 3]}) == (1.0, "%")
    for bad in ([0, 3], [4, 3], [1], "1/3", [True, 2]):
        with pytest.raises(ValueError, match="share"):
            parse_spec({"value": 1, "unit": "%", "share": bad})


def test_estimate_of_a_share_without_the_pool_is_the_mean():
    e = estimate({"value": 2.2, "unit": "%/img", "share": [1, 5]}, "region", None, None)
    assert e.per_image is None and e.per_image_percent == pytest.approx(0.44)
    known = estimate({"value": 2.2, "unit": "%/img", "share": [1, 5]}, "region", 2, (1280, 640))
    assert (known.per_image, known.total) == (3605, 7210)


def test_superpixel_budgets_count_superpixels_not_pixels():
    per_image, total = {"value": 3, "unit": "superpixels/img"}, {"value": 10, "unit": "superpixels"}
    assert budget.superpixel_quotas(per_image, 4) == [3, 3, 3, 3]
    assert budget.superpixel_quotas(total, 4) == [3, 3, 2, 2]
    assert budget.superpixel_quotas(0, 4) == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="counts superpixels, not pixels"):
        budget.per_image_quotas(per_image, [(4, 4)])
    with pytest.raises(ValueError, match="not px per image"):
        budget.superpixel_quotas({"value": 3, "unit": "px/img"}, 2)
    assert budget.estimate(per_image, "superpixel", 5, None).as_dict() == \
        {"unit": "superpixels", "per_image": 3, "per_image_percent": None, "total": 15}
    assert budget.estimate(total, "superpixel", None, None).total == 10
    assert budget.estimate(per_image, "superpixel", None, None).per_image == 3
    assert budget.compile_amount(10, "superpixels") == total
    assert budget.split_total(10, "superpixels", 3) == [{"value": v, "unit": "superpixels"} for v in (4, 3, 3)]
    assert budget.join_shares(budget.split_total(10, "superpixels", 3)) == (10, "superpixels")
    assert budget.unit_of_words("sp", True) == "superpixels/img" and budget.unit_of_words("superpixels", False) == "superpixels"
