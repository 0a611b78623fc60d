"""`segal import` on every experiment config of the original system (tests/fixtures/segal, both branches).

For each config the original can run: import -> compile over the same bases -> the effective config equals
the original's effective config key by key (the normalisations of segal_dsl/importer/roundtrip.py only),
and the plan's rounds are the reference's expansion of its workflow. A refusal is allowed only where the
reference cannot run the config either. The `.seg` (or the refusal) of each config is a golden file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, GOLDEN, assert_golden

from segal_dsl.api import compile_source
from segal_dsl.importer import import_source
from segal_dsl.importer.roundtrip import comparable, config_differences, reference_schedule, runtime_schedule
from segal_dsl.pyconfig.load import load
from segal_dsl.source import Source
from segal_dsl.spec.schedule import merge_reference, reference_rounds

REPO = FIXTURES / "segal"
CONFIGS = [(branch, path) for branch in ("master", "pixel")
           for path in (REPO / branch / "EXPERIMENTS.txt").read_text().split()]
# What the original cannot run (docs/reference.md §13, read from its code): the only refusals allowed.
REFUSED = {("master", "experiments/random.py"): "evaluation.interval = 0",
           ("pixel", "experiments/random.py"): "evaluation.interval = 0"}
# Keys the compiled side may hold that the original leaves to a default that means the same there.
DEFAULTS_MADE_EXPLICIT = {("evaluation", "by_epoch"), ("evaluation", "metric"), ("checkpoint_config", "by_epoch")}


@pytest.fixture(scope="module", autouse=True)
def _in_repo():
    # The configs name their bases relative to themselves and the repository root is the CWD of the reference.
    cwd = os.getcwd()
    yield
    os.chdir(cwd)


def _import(branch: str, path: str):
    os.chdir(REPO / branch)
    return import_source(Path(path).read_text(encoding="utf-8"), path)


@pytest.mark.parametrize("branch, path", CONFIGS, ids=[f"{b}:{p}" for b, p in CONFIGS])
def test_import_keeps_the_meaning(branch, path, update_golden):
    result = _import(branch, path)
    golden = GOLDEN / "segal_import" / branch / (path[:-3] + (".seg" if result.ok else ".refused"))
    if not result.ok:
        reason = REFUSED.get((branch, path))
        assert reason is not None, [d.message for d in result.diagnostics if d.severity.value == "error"]
        errors = [d for d in result.diagnostics if d.severity.value == "error"]
        assert any(reason in d.message and "cannot run this config either" in d.message for d in errors)
        assert_golden(golden, "\n".join(f"{d.code} {d.message}" for d in errors) + "\n", update_golden)
        return
    assert (branch, path) not in REFUSED
    assert not [d for d in result.diagnostics if d.code in ("SEG609", "SEG610") and d.severity.value == "error"]
    assert not [d for d in result.diagnostics if d.code == "SEG610"], "a value changed"
    assert_golden(golden, result.seg_text, update_golden)
    # Compile over the same bases, then compare the two effective configs ourselves.
    compiled = compile_source(Source(path[:-3] + ".seg", result.seg_text), path)
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    legacy = load(path).values
    again = compiled.points[0].effective.values
    old, new = comparable(legacy, reference_schedule(legacy)), comparable(again, runtime_schedule(again))
    dropped = [d.message for d in result.diagnostics if d.code == "SEG611"]
    for key, before, after in config_differences(old, new):
        assert any(f"`{key[-1]}`" in m or f"`{'.'.join(map(str, key[-2:]))}`" in m for m in dropped), \
            f"{'.'.join(map(str, key))}: {before!r} -> {after!r}"
    extra = {p for p in _extra(old, new)}
    assert extra <= DEFAULTS_MADE_EXPLICIT, extra
    # The plan's rounds are the reference's expansion of the workflow.
    runner = legacy["runner"]
    if runner.get("warmup_only"):
        assert compiled.plan.warmup_only and compiled.plan.warmup == sum(
            r.train for r in merge_reference(reference_rounds(legacy["workflow"], 1)))
    else:
        expected = merge_reference(reference_rounds(legacy["workflow"], runner.get("sample_rounds")))
        assert [(r.train, r.query) for r in compiled.plan.rounds] == [(r.train, r.query) for r in expected]


def _extra(old: dict, new: dict, path: tuple = ()):
    for k, v in new.items():
        if k not in old:
            yield (*path, k)
        elif isinstance(v, dict) and isinstance(old[k], dict):
            yield from _extra(old[k], v, (*path, k))


def test_every_original_config_is_covered():
    assert len([c for c in CONFIGS if c[0] == "master"]) == 20 and len([c for c in CONFIGS if c[0] == "pixel"]) == 72
    imported = sum(_import(b, p).ok for b, p in CONFIGS)
    assert imported == len(CONFIGS) - len(REFUSED)


@pytest.mark.runtime
@pytest.mark.parametrize("branch, path", CONFIGS, ids=[f"{b}:{p}" for b, p in CONFIGS])
def test_mmcv_agrees_on_both_sides(branch, path, tmp_path):
    """mmcv itself, not segal-dsl's loader: Config.fromfile of the original and of the compiled config."""
    mmcv = pytest.importorskip("mmcv")
    result = _import(branch, path)
    if not result.ok:
        pytest.skip("refused (the original cannot run it)")
    tree = tmp_path / branch
    shutil.copytree(REPO / branch, tree)
    compiled = compile_source(Source(path[:-3] + ".seg", result.seg_text), path)
    target = tree / (path[:-3] + "_compiled.py")
    target.write_text(compiled.config, encoding="utf-8")
    os.chdir(tree)
    original = mmcv.Config.fromfile(path, import_custom_modules=False)._cfg_dict.to_dict()
    again = mmcv.Config.fromfile(str(target), import_custom_modules=False)._cfg_dict.to_dict()
    old, new = comparable(original, reference_schedule(original)), comparable(again, runtime_schedule(again))
    dropped = " ".join(d.message for d in result.diagnostics if d.code == "SEG611")
    for key, before, after in config_differences(old, new):
        assert f"`{key[-1]}`" in dropped, f"{'.'.join(map(str, key))}: {before!r} -> {after!r}"
