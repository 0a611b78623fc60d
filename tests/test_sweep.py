"""Sweep expansion: names, count, values applied, initial-label seed per seed value, errors."""

import json

from conftest import EXAMPLES
from test_emit import evaluate_config

from segal_dsl.api import analyse, compile_source, read_source
from segal_dsl.source import Source

BASE = ('experiment s {\n base "m.py"\n seed 7\n sample pixel { budget 1% per image; threshold top 5% }\n'
        ' heuristic ripu { k 2 }\n schedule epochs { train 2; query; train 2 }\n')


def sweep(axes: str):
    return analyse(Source("s.seg", BASE + f" sweep {{\n{axes}\n }}\n}}\n"))


def test_cartesian_product_with_stable_readable_names():
    result = sweep("heuristic entropy, ripu\n budget 1% per image per round, 2% per image\n lr 0.01, 0.001")
    assert result.ok and result.is_sweep and len(result.points) == 8
    assert [p.name for p in result.points][:3] == [
        "s__heuristic-entropy__budget-1pct-img__lr-0.01", "s__heuristic-entropy__budget-1pct-img__lr-0.001",
        "s__heuristic-entropy__budget-2pct-img__lr-0.01"]
    assert len({p.name for p in result.points}) == 8


def test_points_apply_their_values_and_draw_initial_labels_with_their_seed():
    result = compile_source(Source("s.seg", BASE + " sweep { heuristic entropy, ripu; seed 1, 2 }\n}\n"), "o/c.py")
    cfgs = {p.name: evaluate_config(p.config) for p in result.points}
    ripu = cfgs["s__heuristic-ripu__seed-2"]
    assert ripu["active_learning"]["heuristic_cfg"]["k"] == 2  # the block is kept for the same words
    assert ripu["seed"] == 2 and cfgs["s__heuristic-entropy__seed-1"]["seed"] == 1
    assert "heuristic_cfg" not in cfgs["s__heuristic-entropy__seed-1"]["active_learning"]
    # each seed its own initial labels, shared by the strategies of that seed
    assert {n: c["segal_meta"]["sweep"]["initial_seed"] for n, c in cfgs.items()} == {
        "s__heuristic-entropy__seed-1": 1, "s__heuristic-entropy__seed-2": 2,
        "s__heuristic-ripu__seed-1": 1, "s__heuristic-ripu__seed-2": 2}
    no_axis = compile_source(Source("s.seg", BASE + " sweep { heuristic entropy, ripu }\n}\n"), "o/c.py")
    assert {evaluate_config(p.config)["segal_meta"]["sweep"]["initial_seed"] for p in no_axis.points} == {7}
    assert {c["segal_meta"]["experiment"] for c in cfgs.values()} == set(cfgs)
    plan = json.loads(result.points[0].plan_json)
    assert plan["sweep"]["values"] == {"heuristic": "entropy", "seed": "1"}


def test_learning_rate_axis_becomes_an_override():
    result = compile_source(Source("s.seg", BASE + ' mmseg { optimizer = dict(type="SGD", lr=0.1) }\n'
                                   " sweep { lr 0.01, 0.001 }\n}\n"), "o/c.py")
    lrs = [evaluate_config(p.config)["optimizer"] for p in result.points]
    assert lrs == [{"type": "SGD", "lr": 0.01}, {"type": "SGD", "lr": 0.001}]


def test_sweep_errors_are_reported_once_with_their_point_values():
    result = sweep("heuristics random\n budget 0 px per image, 1 px per image")
    codes = sorted(d.code for d in result.diagnostics)
    assert codes == ["SEG218", "SEG401"]  # SEG401 from the `0 px` point only, reported once


def test_example_sweep_extends_the_toy_experiment():
    result = analyse(read_source(EXAMPLES / "sweeps" / "toy_heuristics.seg"))
    assert result.ok and [p.values["heuristic"] for p in result.points] == ["random", "entropy", "margin"]


def test_wandb_group_and_name_default_to_the_sweep_and_the_point():
    def wandb_init(log: str, sweep_block: str = " sweep { heuristic entropy, ripu }\n"):
        result = compile_source(Source("s.seg", BASE + f" log every 5 iters {{ {log} }}\n{sweep_block}}}\n"), "o/c.py")
        assert result.ok, result.diagnostics
        return [next(h["init_kwargs"] for h in evaluate_config(p.config)["log_config"]["hooks"]
                     if h["type"] == "WandbLoggerHookWithVal") for p in result.points]

    assert wandb_init('wandb { project "p" }') == [
        {"project": "p", "group": "s", "name": "s__heuristic-entropy"},
        {"project": "p", "group": "s", "name": "s__heuristic-ripu"}]
    explicit = wandb_init('wandb { group "mine"; name "run" }')
    assert [(i["group"], i["name"]) for i in explicit] == [("mine", "run")] * 2  # what the file states wins
    assert wandb_init("wandb", "") == [{}]  # no sweep: wandb's own defaults
