"""Issue 11 part 3/4: the full-supervision reference of a sweep (`reference full`) and the seeds of every random
stream in each run's report.json, read back by `segal report`. Front-end checks, then one real toy sweep."""

import json

import numpy as np
import pytest
from conftest import EXAMPLES

from segal_dsl.api import analyse, compile_source
from segal_dsl.source import Source

TOY = (EXAMPLES / "toy_pixel.seg").as_posix()


def _sweep(axes: str) -> str:
    return (f'experiment r {{\n    extends "{TOY}"\n    delete visualize\n'
            f"    schedule iters {{ train 1; query; train 1 }}\n    sweep {{ {axes} }}\n}}\n")


def test_reference_full_adds_one_point_per_seed_marked_in_its_config():
    result = compile_source(Source("r.seg", _sweep("heuristic random, entropy; seed 3, 4; reference full")), "o/c.py")
    assert result.ok, [d.message for d in result.diagnostics]
    names = [p.name for p in result.points]
    assert names[4:] == ["r__reference-full__seed-3", "r__reference-full__seed-4"] and len(names) == 6
    refs = [p for p in result.points if p.values.get("reference")]
    assert [p.values for p in refs] == [{"reference": "full", "seed": "3"}, {"reference": "full", "seed": "4"}]
    for p in result.points:
        assert ("reference='full'" in p.config) == (p in refs)
    assert "seed=4" in refs[1].config
    plan = refs[0].plan  # the plan says it: every pixel from round 0, nothing bought
    assert plan.initial.per_image_percent == 100 and [r.budget.total for r in plan.rounds if r.query] == [0]
    assert all(r.trained_on.per_image_percent == 100 for r in plan.rounds)
    assert result.points[0].plan.initial.per_image_percent == 1


def test_reference_without_other_axes_is_the_experiment_plus_its_reference():
    result = analyse(Source("r.seg", _sweep("reference full")))
    assert not result.diagnostics and [p.name for p in result.points] == ["r", "r__reference-full"]


def test_the_contract_reads_the_reference_and_refuses_other_words():
    from segal_dsl.spec.config import ConfigError, read_config

    result = compile_source(Source("r.seg", _sweep("reference full")), "o/c.py")
    ref = result.points[1]
    assert read_config(ref.effective.values).reference == "full"
    assert read_config(result.points[0].effective.values).reference is None
    bad = dict(ref.effective.values, active_learning=dict(ref.effective.values["active_learning"], reference="half"))
    with pytest.raises(ConfigError, match="active_learning.reference"):
        read_config(bad)


@pytest.mark.parametrize("text", ["reference half", "reference", "reference full full"])
def test_a_malformed_reference_is_seg207(text):
    result = analyse(Source("r.seg", _sweep(f"heuristic random, entropy; {text}")))
    assert [d.code for d in result.diagnostics] == ["SEG207"]
    assert result.diagnostics[0].message == "`reference` expects `full`"


# ---------------------------------------------------------------- a real toy sweep

REF = "toy_ref__reference-full"
STRATEGIES = ("toy_ref__heuristic-random", "toy_ref__heuristic-entropy")


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    from segal_dsl.runtime.launch import run_experiment

    tmp = tmp_path_factory.mktemp("sweep-ref")
    toy_env(tmp)
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "disabled")
    seg = tmp / "sweep.seg"
    seg.write_text(f'experiment toy_ref {{\n    extends "{TOY}"\n    delete visualize\n    seed 5\n'
                   "    schedule iters { train 2; query; train 2 }\n"
                   "    sweep { heuristic random, entropy; reference full }\n}\n")
    root = tmp / "runs"
    assert run_experiment(str(seg), work_dir=str(root)) == 0
    yield root
    mp.undo()


@pytest.mark.runtime
def test_the_reference_trains_on_every_label_and_buys_nothing(sweep_root):
    from segal_dsl.runtime.labels import LabelState

    state = LabelState.load(sweep_root / REF / "masks")
    total = sum(h * w for h, w in state.sizes)
    assert state.total() == total and all(state.mask(i).all() for i in range(len(state)))
    assert [(r["round"], r["planned"], r["added"]) for r in state.records] == [(0, total, total), (1, 0, 0)]
    rep = json.loads((sweep_root / REF / "report.json").read_text())
    assert rep["reference"] == "full"
    ref_iters = [e["global_iter"] for e in rep["rounds"]]
    for name in STRATEGIES:  # the same schedule length: the same iterations at the end of every round
        other = json.loads((sweep_root / name / "report.json").read_text())
        assert "reference" not in other and [e["global_iter"] for e in other["rounds"]] == ref_iters
        assert other["rounds"][-1]["labelled"] < total


@pytest.mark.runtime
def test_every_run_reports_the_seed_of_each_random_stream(sweep_root):
    from segal_dsl.runtime.selection import STREAMS

    for name in (*STRATEGIES, REF):
        rep = json.loads((sweep_root / name / "report.json").read_text())
        meta = json.loads((sweep_root / name / "masks" / "labels.json").read_text())["meta"]
        assert rep["seeds"] == meta["seeds"] == dict.fromkeys(STREAMS, 5)


@pytest.mark.runtime
def test_segal_report_draws_the_reference_as_the_ceiling_not_as_a_strategy(sweep_root, tmp_path):
    from segal_dsl.report import write_report

    html, data = write_report([str(sweep_root)], tmp_path / "report.html")
    summary = json.loads(data.read_text())
    ref = json.loads((sweep_root / REF / "report.json").read_text())
    assert sorted(g["name"] for g in summary["groups"]) == ["heuristic=entropy", "heuristic=random"]
    assert REF not in summary["ranking"] and summary["winner"]["group"] != "reference=full"
    assert summary["ceiling_mIoU"] == pytest.approx(ref["rounds"][-1]["mIoU"])
    assert summary["reference"]["runs"] == [REF] and summary["reference"]["seeds"] == [5]
    strategy_best = max(e["mIoU"] for r in summary["runs"] if not r["reference"] for e in r["rounds"])
    assert summary["best_mIoU"] == strategy_best
    runs = {r["name"]: r for r in summary["runs"]}
    assert runs[REF]["reference"] == "full" and runs[STRATEGIES[0]]["seeds"]["selection"] == 5
    page = html.read_text()
    assert "full supervision (reference, not a strategy)" in page and "Seeds of the random streams" in page
    assert np.isfinite(summary["ceiling_mIoU"])
