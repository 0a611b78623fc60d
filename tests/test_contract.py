"""What you write is what runs: the compiled config, read back the way the runtime reads it, gives exactly the
plan that `segal plan` / `cfg.plan.json` shows (rounds, budgets, heuristic and parameters, sample mode, resets).

Three readers of the written config file: segal-dsl's own loader (pyconfig, no mmcv), mmcv's Config plus the
runtime's load_config (the `segal run` path, runtime marker), and `segal run --dry-run`.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import EXAMPLES, FIXTURES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segal_dsl.api import analyse, compile_file, read_source
from segal_dsl.pyconfig.load import load
from segal_dsl.source import Source
from segal_dsl.spec.config import read_config
from segal_dsl.spec.plan import Pool, plan_of

EXPECT = re.compile(r"#\s*expect:\s*((?:SEG\d{3}\s*)+)")
PLAN_KEYS = ("experiment", "runner", "sample_mode", "heuristic", "heuristic_params", "unit", "warmup", "warmup_only",
             "total_train", "queries", "reset_each_round", "initial", "rounds")


def _warning_only(path: Path) -> bool:
    """A bad fixture whose marked codes are all warnings or notes: `check` passes it."""
    result = analyse(read_source(path))
    return result.ok and bool(result.diagnostics)


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.seg"))
WARNING_FILES = [p for p in sorted((FIXTURES / "bad").glob("*.seg")) if _warning_only(p)]
FILES = EXAMPLE_FILES + WARNING_FILES


def _compiled(path: Path, tmp_path: Path) -> tuple[Path, dict]:
    out = tmp_path / "cfg" / f"{path.stem}.py"
    compile_file(path, out)
    plan = json.loads(out.with_name(f"{path.stem}.plan.json").read_text())
    return out, plan


def _expected(plan_json: dict) -> dict:
    return {k: plan_json[k] for k in PLAN_KEYS}


def _pool(plan_json: dict) -> Pool:
    res = plan_json["pool"]["resolution"]
    return Pool(plan_json["pool"]["images"], tuple(res) if res else None)


def test_there_are_warning_only_fixtures():
    names = {p.name for p in WARNING_FILES}
    assert {"SEG304_query_after_last_train.seg", "SEG302_schedule_without_query.seg"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compiled_file_reads_back_to_the_plan(path, tmp_path):
    """segal-dsl's own reading of the written file (bases merged from disk) gives plan.json."""
    cfg, plan_json = _compiled(path, tmp_path)
    loaded = load(str(cfg))
    assert loaded.complete or path in WARNING_FILES, loaded.problems
    plan = plan_of(read_config(loaded.values), _pool(plan_json))
    assert {k: plan.as_dict()[k] for k in PLAN_KEYS} == _expected(plan_json)


@pytest.mark.runtime
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_runtime_reads_the_plan(path, tmp_path, monkeypatch):
    """The runtime's load_config (mmcv Config, custom imports, contract) gives plan.json too."""
    pytest.importorskip("mmcv")
    from segal_dsl.runtime.configfile import load_config

    monkeypatch.chdir(ROOT)
    cfg, plan_json = _compiled(path, tmp_path)
    _, contract = load_config(str(cfg), seg_path=str(path))
    plan = plan_of(contract, _pool(plan_json))
    assert {k: plan.as_dict()[k] for k in PLAN_KEYS} == _expected(plan_json)
    # the scoring parameters the query step passes are the plan's, defaults included
    assert {k: v for k, v in contract.params.items() if k in contract.score_params()} == contract.score_params()


@pytest.mark.runtime
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_checked_file_passes_the_dry_run(path, monkeypatch):
    """`segal check` passes it (warnings at most), so `segal run --dry-run` does too, printing the plan."""
    pytest.importorskip("mmcv")
    from segal_dsl.frontend.table import render_plan
    from segal_dsl.runtime import dryrun

    monkeypatch.chdir(ROOT)
    checked = analyse(read_source(path.relative_to(ROOT)))
    assert checked.ok
    out = io.StringIO()
    with_temp = dryrun.dry_run_experiment
    if checked.is_sweep:
        pytest.skip("sweeps: tests/test_runtime_sweep.py")
    code = with_temp(str(path.relative_to(ROOT)), checked, out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "nothing was trained" in text
    if "budgets from the pool the .seg file states" in text:  # no data here: exactly `segal plan`'s table
        assert render_plan(checked.plan) in text
    else:  # the pool found on disk: the same rounds, budgets resolved against it
        rounds = [line.split()[:2] for line in render_plan(checked.plan).splitlines() if re.match(r"\s+\d+ ", line)]
        assert rounds == [line.split()[:2] for line in text.splitlines() if re.match(r"\s+\d+ ", line)]


def _program(items, mode, heuristic, reset):
    sample = {"pixel": "sample pixel { initial 1% per image; budget 2 px per image }",
              "region": "sample region { budget 1 regions per image; radius 2 }",
              "image": "sample image { initial 2 images; budget 3 images }"}[mode]
    return (f'experiment p {{\n base "m.py"\n {sample}\n heuristic {heuristic}\n'
            f' reset_each_round {"true" if reset else "false"}\n pool {{ images 50; resolution 32x16 }}\n'
            f' schedule iters {{ {"; ".join(items)} }}\n}}\n')


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["train 3", "train 1 x2", "query", "(train 2; query) x2", "train 4"]),
                min_size=1, max_size=6),
       st.sampled_from(["pixel", "region", "image"]), st.sampled_from(["entropy", "margin", "ripu { k 2 }", "random"]),
       st.booleans())
def test_generated_programs_read_back_to_their_plan(tmp_path_factory, items, mode, heuristic, reset):
    tmp = tmp_path_factory.mktemp("prog")
    (tmp / "m.py").write_text("# an empty base\n")
    seg = tmp / "p.seg"
    seg.write_text(_program(items, mode, heuristic, reset))
    result = analyse(read_source(seg))
    if not result.ok:
        return  # an error the checker found (e.g. two queries in a row): nothing is compiled
    cfg = tmp / "out" / "p.py"
    compile_file(seg, cfg)
    plan_json = json.loads((tmp / "out" / "p.plan.json").read_text())
    loaded = load(str(cfg))
    assert loaded.complete, loaded.problems
    plan = plan_of(read_config(loaded.values), _pool(plan_json))
    assert {k: plan.as_dict()[k] for k in PLAN_KEYS} == _expected(plan_json)
    assert plan.as_dict() == {k: v for k, v in plan_json.items() if k not in ("source", "source_sha256",
                                                                               "segal_version")}


def test_source_free_is_inherited_not_overridden(tmp_path):
    """The base says ADA (`source_free = False`, data.train = [source, target]); the .seg does not say: kept."""
    (tmp_path / "ada.py").write_text("source_free = False\ndata = dict(train=[dict(type='A'), dict(type='B')])\n")
    seg = tmp_path / "e.seg"
    seg.write_text('experiment e {\n base "ada.py"\n sample pixel { budget 1% per image }\n heuristic entropy\n'
                   ' schedule epochs { train 1; query; train 1 }\n}\n')
    out = tmp_path / "out" / "e.py"
    compile_file(seg, out)
    assert "\nsource_free =" not in out.read_text()
    assert read_config(load(str(out)).values).source_free is False


def test_an_inherited_contradiction_is_a_check_error(tmp_path):
    (tmp_path / "ada.py").write_text("data = dict(train=[dict(type='A'), dict(type='B')])\n")
    result = analyse(Source(str(tmp_path / "e.seg"),
                            'experiment e {\n base "ada.py"\n sample pixel { budget 1% per image }\n heuristic entropy\n'
                            ' schedule epochs { train 1; query; train 1 }\n}\n'))
    (d,) = [d for d in result.diagnostics if d.severity.value == "error"]
    assert d.code == "SEG221" and "data.train" in d.message and d.notes[0][0].path.endswith("ada.py")


def test_bases_read_through_another_path_keep_the_path_as_written(tmp_path, monkeypatch):
    """Base reads are cached by file; a note names the base as the .seg file reaches it, whichever path came first."""
    (tmp_path / "ada.py").write_text("data = dict(train=[dict(type='A'), dict(type='B')])\n")
    text = ('experiment e {\n base "ada.py"\n sample pixel { budget 1% per image }\n heuristic entropy\n'
            ' schedule epochs { train 1; query; train 1 }\n}\n')
    first = analyse(Source(str(tmp_path / "e.seg"), text))
    monkeypatch.chdir(tmp_path)
    again = analyse(Source("e.seg", text))
    assert [d.notes[0][0].path for d in first.diagnostics if d.code == "SEG221"] == [str(tmp_path / "ada.py")]
    assert [d.notes[0][0].path for d in again.diagnostics if d.code == "SEG221"] == ["ada.py"]


def test_an_edited_base_is_read_again(tmp_path):
    """The cache of base reads is keyed by mtime and size: the LSP and `check dir/` see an edit at once."""
    base = tmp_path / "m.py"
    base.write_text("model = dict(decode_head=dict(num_classes=19))\n")
    seg = Source(str(tmp_path / "e.seg"), 'experiment e {\n base "m.py"\n sample pixel { budget 1% per image }\n'
                 ' heuristic ripu { k 1; categories 19 }\n schedule epochs { train 1; query; train 1 }\n}\n')
    assert "SEG224" not in [d.code for d in analyse(seg).diagnostics]
    base.write_text("model = dict(decode_head=dict(num_classes=5))\n")
    assert "SEG224" in [d.code for d in analyse(seg).diagnostics]


def test_a_missing_base_that_appears_is_read(tmp_path):
    """Missing bases are remembered by their absence: once the file is there, the next check reads it."""
    seg = Source(str(tmp_path / "e.seg"), 'experiment e {\n base "m.py"\n sample pixel { budget 1% per image }\n'
                 ' heuristic ripu { k 1; categories 19 }\n schedule epochs { train 1; query; train 1 }\n}\n')
    first = analyse(seg)
    assert first.ok and first.bases_unread
    (tmp_path / "m.py").write_text("model = dict(decode_head=dict(num_classes=5))\n")
    again = analyse(seg)
    assert not again.bases_unread and "SEG224" in [d.code for d in again.diagnostics]


# ---- `budget_per_query` (`budget X total`) ---------------------------------------------------------------------
def _image_config(**settings) -> dict:
    return {"runner": {"type": "ActiveLearningRunner", "sample_mode": "image", "sample_rounds": 2},
            "workflow": [(("train", 1), ("query", 1)), (("train", 1), ("query", 1)), (("train", 1),)],
            "active_learning": {"settings": {"image": settings}, "heuristic": "margin"},
            "data": {"samples_per_gpu": 4}}


def test_each_query_buys_its_share():
    contract = read_config(_image_config(budget_per_round=9, budget_per_query=[9, 8]))
    assert [contract.query_budget(k) for k in (1, 2)] == [9, 8]
    assert contract.batch_size == 4
    plain = read_config(_image_config(budget_per_round=9))
    assert [plain.query_budget(k) for k in (1, 2)] == [9, 9]


@pytest.mark.parametrize(("shares", "message"), [
    ([9], "1 entries, but the workflow has 2 queries"),
    ([8, 9], "the first entry 8 must equal budget_per_round 9"),
    ([9, 0], "query 2 buys nothing"),
])
def test_budget_per_query_is_checked(shares, message):
    from segal_dsl.spec.config import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        read_config(_image_config(budget_per_round=9, budget_per_query=shares))
    assert err.value.path[:4] == ("active_learning", "settings", "image", "budget_per_query")
