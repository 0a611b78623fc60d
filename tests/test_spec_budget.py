"""BudgetSpec resolution (docs/compiled-config.md): every unit, exact int distribution, clear errors."""

import pytest

from segal_dsl.spec.budget import distribute, over_quota, per_image_quotas, total_budget

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
