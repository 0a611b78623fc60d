"""Each strategy against random in `segal report` (report/data.py `versus`, report/stats.py
`paired_difference`): known answers on hand-made curves, pairing by seed, and the Markdown table."""

from __future__ import annotations

import pytest

from segal_dsl.report import stats
from segal_dsl.report.data import summarise, versus
from segal_dsl.report.page import versus_markdown

LABELLED = [1000, 2000, 3000]
RANDOM = {0: [0.30, 0.40, 0.50], 1: [0.20, 0.30, 0.40], 2: [0.40, 0.50, 0.60]}   # AULC 0.40, 0.30, 0.50


def run(heuristic: str, seed, curve: list[float], labelled=LABELLED, **values) -> dict:
    rounds = [{"round": i, "labelled": x, "mIoU": y} for i, (x, y) in enumerate(zip(labelled, curve))]
    vals = {"heuristic": heuristic, "seed": seed, **values}
    group = ", ".join(f"{k}={v}" for k, v in sorted(vals.items()) if k != "seed")
    return {"name": f"{group}/{seed}", "group": group, "values": vals, "seed": seed, "heuristic": heuristic,
            "unit": "pixels", "rounds": rounds, "finished": True, "ceiling": None}


def table(runs: list[dict]) -> dict[str, dict]:
    return {e["group"]: e for e in summarise(runs)["versus"]}


def test_paired_difference_known_answers():
    # b = a - 1 seed by seed: the difference is exactly 1, whatever the spread between seeds
    assert stats.paired_difference([10, 20, 30], [9, 19, 29]) == {"mean": 1.0, "lo": 1.0, "hi": 1.0, "n": 3}
    unpaired = stats.bootstrap_difference([10, 20, 30], [9, 19, 29])
    assert unpaired["mean"] == 1.0 and unpaired["lo"] < -5 and unpaired["hi"] > 5
    # 3 pairs: each difference is drawn 3 times in a resample with probability 1/27 > 2.5%, so the
    # interval is the range of the differences
    assert stats.paired_difference([3, 5, 7], [2, 3, 4]) == {"mean": 2.0, "lo": 1.0, "hi": 3.0, "n": 3}
    assert stats.paired_difference([0.5], [0.25]) == {"mean": 0.25, "lo": 0.25, "hi": 0.25, "n": 1}
    with pytest.raises(ValueError, match="do not pair"):
        stats.paired_difference([1, 2], [1])


def test_a_strategy_better_on_every_seed_beats_random_paired():
    runs = [run("random", s, c) for s, c in RANDOM.items()]
    runs += [run("entropy", s, [y + 0.05 for y in c]) for s, c in RANDOM.items()]
    e = table(runs)["heuristic=entropy"]
    assert e["baseline"] == "heuristic=random" and e["paired"] and e["equal_budget"]
    assert e["seeds"] == [0, 1, 2] == e["baseline_seeds"]
    assert e["aulc"]["strategy"] == pytest.approx(0.45) and e["aulc"]["baseline"] == pytest.approx(0.40)
    assert e["aulc"]["difference"] == {"mean": 0.05, "lo": 0.05, "hi": 0.05, "n": 3}
    assert e["final_mIoU"]["strategy"] == pytest.approx(0.55) and e["final_mIoU"]["baseline"] == 0.5
    assert e["final_mIoU"]["difference"]["lo"] == e["final_mIoU"]["difference"]["hi"] == 0.05
    assert e["aulc"]["verdict"] == e["final_mIoU"]["verdict"] == "better"


def test_pairing_follows_the_seed_not_the_order_and_unclear_is_said():
    runs = [run("random", s, c) for s, c in RANDOM.items()]
    # margin's seed 2 run first; its curves are random's of the seeds (1, 2, 0): per seed the final
    # differences are (0.4-0.5, 0.6-0.4, 0.5-0.6) = (-0.1, +0.2, -0.1), mean 0, interval [-0.1, 0.2]
    runs += [run("margin", s, RANDOM[(s + 1) % 3]) for s in (2, 0, 1)]
    e = table(runs)["heuristic=margin"]
    assert e["paired"] and e["seeds"] == [0, 1, 2]
    assert e["final_mIoU"]["difference"] == {"mean": 0.0, "lo": -0.1, "hi": 0.2, "n": 3}
    assert e["final_mIoU"]["verdict"] == "unclear"
    worse = [run("random", s, c) for s, c in RANDOM.items()] + [
        run("least_confidence", s, [y - 0.1 for y in c]) for s, c in RANDOM.items()]
    assert table(worse)["heuristic=least_confidence"]["aulc"]["verdict"] == "worse"


def test_other_seeds_are_compared_unpaired_and_other_sweep_values_separately():
    runs = [run("random", s, c) for s, c in RANDOM.items()]
    runs += [run("entropy", s + 3, [y + 0.05 for y in c]) for s, c in RANDOM.items()]
    e = table(runs)["heuristic=entropy"]
    assert not e["paired"] and e["aulc"]["difference"] == stats.bootstrap_difference(
        [0.45, 0.35, 0.55], [0.40, 0.30, 0.50])
    # a budget axis: each budget's entropy is set against the random of that budget only
    runs = [run("random", s, c, budget=b) for s, c in RANDOM.items() for b in ("1%", "2%")]
    runs += [run("entropy", s, [y + (0.05 if b == "1%" else -0.05) for y in c], budget=b)
             for s, c in RANDOM.items() for b in ("1%", "2%")]
    t = table(runs)
    assert t["budget=1%, heuristic=entropy"]["baseline"] == "budget=1%, heuristic=random"
    assert t["budget=1%, heuristic=entropy"]["aulc"]["verdict"] == "better"
    assert t["budget=2%, heuristic=entropy"]["aulc"]["verdict"] == "worse"


def test_unequal_budgets_and_no_baseline_are_reported():
    runs = [run("random", s, c) for s, c in RANDOM.items()]
    runs += [run("entropy", s, c, labelled=[1000, 2000, 4000]) for s, c in RANDOM.items()]
    assert table(runs)["heuristic=entropy"]["equal_budget"] is False
    assert "the budgets differ" in versus_markdown(summarise(runs))
    only = summarise([run("entropy", s, c) for s, c in RANDOM.items()])
    assert only["versus"] == [] and versus_markdown(only) == ""
    assert versus([], []) == []


def test_one_seed_gives_no_verdict():
    runs = [run("random", 0, RANDOM[0]), run("entropy", 0, [y + 0.05 for y in RANDOM[0]])]
    e = table(runs)["heuristic=entropy"]
    assert e["paired"] and e["aulc"]["difference"]["lo"] == e["aulc"]["difference"]["hi"] == 0.05
    assert e["aulc"]["verdict"] == e["final_mIoU"]["verdict"] == "one seed"
    assert "| not shown (area one seed only, final mIoU one seed only) |" in versus_markdown(summarise(runs))


def test_markdown_table_text():
    runs = [run("random", s, c) for s, c in RANDOM.items()]
    runs += [run("entropy", s, [y + 0.05 for y in c]) for s, c in RANDOM.items()]
    runs += [run("margin", s, RANDOM[(s + 1) % 3]) for s in (0, 1, 2)]
    assert versus_markdown(summarise(runs)).splitlines() == [
        "| strategy | seeds | final mIoU % | Δ final mIoU [95%] | area under the curve % | Δ area [95%] | beats random? |",
        "|---|---|---|---|---|---|---|",
        "| heuristic=entropy | 0, 1, 2 (paired) | 55.00 | +5.00 [+5.00, +5.00] | 45.00 | +5.00 [+5.00, +5.00] | yes |",
        "| heuristic=margin | 0, 1, 2 (paired) | 50.00 | +0.00 [-10.00, +20.00] | 40.00 | +0.00 [-10.00, +20.00] "
        "| not shown (area interval includes 0, final mIoU interval includes 0) |",
        "| heuristic=random | 0, 1, 2 | 50.00 | - | 40.00 | - | (the baseline) |",
    ]
