"""The original system's own workflow code, run on its configs and on what segal-dsl compiles.

The functions that decide how the reference runs a workflow are executed from the vendored sources
(tests/fixtures/segal/<branch>/segal/, unchanged copies): `process_workflow` and `check_workflow_validity`
(segal/utils/runner.py), `is_nested_tuple` and `flatten_nested_tuple_list` (segal/utils/train.py). Only
those function definitions are compiled: their modules import torch, mmseg and the rest of segal. The
few lines of glue that call them are the reference's own call sites, each checked to be in the vendored
file it comes from, so a misreading of the reference fails here instead of passing silently.

What is compared, per original config: the steps the reference executes for the original and for the
config compiled from its import are the same, and they are the rounds `segal plan` shows; its
`max_epochs` (the LR schedule's length) is the plan's total training. Per example and generated
program: the reference runs the compiled workflow as the plan says, or refuses a shape that `check`
warns about (SEG304 / SEG305, whose runs are segal-dsl's own).
"""

from __future__ import annotations

import ast
import os
import sys
import types
from pathlib import Path

import pytest
from conftest import EXAMPLES, FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segal_dsl.api import analyse, compile_source, read_source
from segal_dsl.importer import import_source
from segal_dsl.pyconfig.load import load
from segal_dsl.source import Source

REPO = FIXTURES / "segal"
CONFIGS = [(branch, path) for branch in ("master", "pixel")
           for path in (REPO / branch / "EXPERIMENTS.txt").read_text().split()]
FUNCTIONS = {"segal/utils/train.py": ("is_nested_tuple", "flatten_nested_tuple_list"),
             "segal/utils/runner.py": ("process_workflow", "check_workflow_validity")}
# The reference's call sites that the glue below re-states, as they stand in its files.
CALL_SITES = {
    "segal/train_active_learning.py": ["if hasattr(cfg.runner, 'warmup_only') and cfg.runner.warmup_only:",
                                       "setattr(cfg.runner, 'sample_rounds', 1)"],
    "segal/utils/preprocessing.py": ["assert len(config.workflow) == config.runner.sample_rounds+1",
                                     "flow = flatten(config.workflow)"],
    "segal/utils/train.py": ["runner_cfg.max_epochs = runner_cfg.sample_rounds * query_epochs",
                             "runner_cfg.max_epochs = sum([ep for mode, ep in flow if mode == 'train'])",
                             "runner_cfg.max_epochs += cfg.mae_warmup_epochs"],
    "segal/runner/active_learning_runner.py": ["workflow = utils.process_workflow(workflow, self.sample_rounds)",
                                               "assert utils.check_workflow_validity(flow_per_round)",
                                               "for _ in range(epochs):"],
    "segal/runner/multitask_active_runner.py": [
        "workflow = utils.process_workflow(workflow, self.sample_rounds)",
        "workflow = [[('train_mae', configs.mae_warmup_epochs)]] + workflow",
        "epoch_runner = self.train_mae", "for e in range(epochs):"],
}


class RefusedByReference(Exception):
    """The reference's own code stops on this config (an assertion or an error in its workflow code)."""


def reference_functions(branch: str) -> types.SimpleNamespace:
    """The reference's workflow functions of `branch`, compiled from the vendored files."""
    namespace: dict = {"List": list}  # the annotation of their signatures
    for rel, names in FUNCTIONS.items():
        path = REPO / branch / rel
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
        assert sorted(d.name for d in defs) == sorted(names), rel
        exec(compile(ast.Module(body=defs, type_ignores=[]), str(path), "exec"), namespace)
    return types.SimpleNamespace(**{n: namespace[n] for names in FUNCTIONS.values() for n in names})


@pytest.fixture(scope="module", autouse=True)
def _segal_utils_train():
    """`process_workflow` imports `segal.utils.train.is_nested_tuple` when it runs: the vendored one."""
    saved = {k: sys.modules.get(k) for k in ("segal", "segal.utils", "segal.utils.train")}
    for name in saved:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["segal.utils.train"].is_nested_tuple = reference_functions("master").is_nested_tuple
    yield
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


def test_the_glue_is_the_reference_code():
    for branch in ("master", "pixel"):
        for rel, lines in CALL_SITES.items():
            text = (REPO / branch / rel).read_text(encoding="utf-8")
            for line in lines:
                assert line in text, f"{branch}:{rel} no longer says {line!r}"


def reference_run(cfg: dict, ref: types.SimpleNamespace) -> tuple[list[tuple[str, int]], int]:
    """(the (mode, epochs) steps the reference runs, in order; its runner's max_epochs) for a merged config."""
    try:
        return _reference_run(cfg, ref)
    except (AssertionError, TypeError, ValueError, IndexError) as err:
        raise RefusedByReference(f"{type(err).__name__}: {err}") from err


def _reference_run(cfg: dict, ref: types.SimpleNamespace) -> tuple[list[tuple[str, int]], int]:
    runner = dict(cfg["runner"])
    multitask = runner["type"] == "MultiTaskActiveRunner"
    warmup_only = bool(runner.get("warmup_only"))
    workflow = [tuple(tuple(s) if isinstance(s, list) else s for s in r) for r in cfg["workflow"]]
    if warmup_only:                                   # train_active_learning.py
        runner["sample_rounds"] = 1
    sample_rounds = runner.get("sample_rounds")
    if ref.is_nested_tuple(workflow[0]):             # preprocessing.py: preprocess_datasets
        assert len(workflow) == sample_rounds + 1, "irregular workflow: rounds != sample_rounds + 1"
    flow = ref.flatten_nested_tuple_list(workflow)
    assert all(mode in ["train", "val", "query"] for (mode, _) in flow)
    if not ref.is_nested_tuple(workflow[0]):         # train.py: setup_runner
        query_epochs = None
        for mode, iteration in workflow:
            if mode == "train":
                query_epochs = iteration
        assert query_epochs is not None
        max_epochs = sample_rounds * query_epochs
    else:
        max_epochs = sum(ep for mode, ep in flow if mode == "train")
    if multitask and "mae_warmup_epochs" in cfg and not warmup_only:
        max_epochs += cfg["mae_warmup_epochs"]
    rounds = ref.process_workflow(workflow, sample_rounds)   # the runners' run()
    if multitask and "mae_warmup_epochs" in cfg and not warmup_only:
        rounds = [[("train_mae", cfg["mae_warmup_epochs"])]] + rounds
    steps = []
    for flow_per_round in rounds:
        if not multitask:
            assert ref.check_workflow_validity(flow_per_round), f"invalid round {flow_per_round}"
        for mode, epochs in flow_per_round:
            steps.append(("train_mae" if warmup_only else mode, epochs))
    return steps, max_epochs


def plan_steps(plan) -> list[tuple[str, int]]:
    """The plan as the same kind of steps: warm-up, then each round's training and query."""
    steps = [("train_mae", plan.warmup)] if plan.warmup else []
    for r in plan.rounds:
        if r.train:
            steps.append(("train", r.train))
        if r.query:
            steps.append(("query", 1))
    return steps


def merged(steps: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Consecutive trainings of one kind as one; a query run N times as N queries; `val` epochs dropped
    (segal-dsl validates through `evaluation`, which the reference runs as well)."""
    out: list[tuple[str, int]] = []
    for mode, n in steps:
        if mode == "val" or n == 0:
            continue
        if mode == "query":
            out += [("query", 1)] * n
        elif out and out[-1][0] == mode:
            out[-1] = (mode, out[-1][1] + n)
        else:
            out.append((mode, n))
    return out


@pytest.fixture(scope="module")
def _cwd():
    cwd = os.getcwd()
    yield
    os.chdir(cwd)


@pytest.mark.parametrize("branch, path", CONFIGS, ids=[f"{b}:{p}" for b, p in CONFIGS])
def test_the_reference_runs_the_import_as_it_runs_the_original(branch, path, _cwd):
    ref = reference_functions(branch)
    os.chdir(REPO / branch)
    result = import_source(Path(path).read_text(encoding="utf-8"), path)
    if not result.ok:
        pytest.skip("refused: tests/test_import_segal_repo.py checks why")
    original_steps, original_max = reference_run(load(path).values, ref)
    compiled = compile_source(Source(path[:-3] + ".seg", result.seg_text), path)
    assert compiled.ok
    again_steps, again_max = reference_run(compiled.points[0].effective.values, ref)
    assert merged(again_steps) == merged(original_steps)
    assert again_max == original_max
    plan = compiled.plan
    assert merged(plan_steps(plan)) == merged(original_steps)
    if not plan.warmup_only:
        assert plan.total_train + plan.warmup == original_max  # the reference's LR schedule length


def _check_against_plan(path_or_source, ref) -> None:
    result = analyse(path_or_source)
    assert result.ok
    codes = {d.code for d in result.diagnostics}
    for point in result.points:
        try:
            steps, max_epochs = reference_run(point.effective.values, ref)
        except RefusedByReference:
            # Shapes the reference stops on, which segal-dsl runs as written and `check` warns about.
            assert codes & {"SEG304", "SEG305"}, (result.source.path, codes)
            continue
        assert merged(steps) == merged(plan_steps(point.plan)), result.source.path
        assert max_epochs == point.plan.total_train + point.plan.warmup


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.seg")) + sorted((FIXTURES / "bad").glob("SEG30*.seg")),
                         ids=lambda p: p.name)
def test_the_reference_runs_compiled_examples_as_planned(path):
    source = read_source(path)
    if not analyse(source).ok:
        pytest.skip("an error fixture: nothing is compiled")
    _check_against_plan(source, reference_functions("pixel"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["train 3", "train 1 x2", "query", "(train 2; query) x2", "train 4", "warmup 2"]),
                min_size=1, max_size=6),
       st.sampled_from(["active", "multitask"]))
def test_the_reference_runs_generated_schedules_as_planned(tmp_path_factory, items, runner):
    base = tmp_path_factory.mktemp("ref") / "m.py"
    base.write_text("model = dict(type='MultiTaskSegmentor')\n" if runner == "multitask" else "model = dict()\n")
    text = (f'experiment p {{\n base "{base}"\n runner {runner}\n sample pixel {{ budget 1% per image }}\n'
            f' heuristic entropy\n schedule epochs {{ {"; ".join(items)} }}\n}}\n')
    source = Source(str(base.with_name("p.seg")), text)
    if not analyse(source).ok:
        return  # shapes `check` refuses (two queries in a row, a warm-up not first, …) are not compiled
    _check_against_plan(source, reference_functions("pixel"))
