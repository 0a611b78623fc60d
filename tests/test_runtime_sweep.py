"""A small toy sweep on the CPU: every point trains for real, draws its initial labels with its seed, and the
sweep report puts all learning curves in one plot."""

import json

import numpy as np
import pytest
from _runtime_helpers import toy_env
from conftest import EXAMPLES

pytest.importorskip("mmseg")
pytestmark = pytest.mark.runtime


def test_toy_sweep_runs_every_point_with_its_seeds_initial_labels(tmp_path, monkeypatch):
    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    seg = tmp_path / "sweep.seg"
    seg.write_text(
        "experiment toy_sweep {\n"
        f'    extends "{(EXAMPLES / "toy_pixel.seg").as_posix()}"\n'
        "    heuristic random\n"
        "    delete visualize\n"
        "    schedule iters { train 2; query; train 1 }\n"
        "    sweep { seed 1, 2 }\n"
        "}\n")
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.launch import run_experiment
    from segal_dsl.runtime.query import initial_labels

    root = tmp_path / "runs"
    assert run_experiment(str(seg), work_dir=str(root)) == 0
    sweep = json.loads((root / "sweep.json").read_text())
    names = [p["name"] for p in sweep["points"]]
    assert names == ["toy_sweep__seed-1", "toy_sweep__seed-2"]
    states = [LabelState.load(root / name / "masks") for name in names]
    import mmcv

    from segal_dsl.spec.config import read_config

    # Each point's initial labels, recomputed independently with that point's seed (1, 2), are among its labels.
    for seed, name, state in zip((1, 2), names, states):
        cfg_text = (root / name / f"{name}.py").read_text()
        assert f"initial_seed={seed}" in cfg_text
        cfg = mmcv.Config.fromfile(str(root / name / f"{name}.py"), import_custom_modules=False)
        fresh = LabelState.for_pixels(state.sizes)
        initial_labels(fresh, read_config(dict(cfg.items())), seed)
        for i in range(len(fresh)):
            assert np.all(state.mask(i)[fresh.mask(i)]), f"initial label of image {i} missing"
        assert state.meta["seeds"]["initial_labels"] == seed
    assert any(not np.array_equal(states[0].mask(i), states[1].mask(i)) for i in range(len(states[0])))
    report = json.loads((root / "sweep_report.json").read_text())
    assert set(report) == set(names) and all(len(v["rounds"]) == 2 for v in report.values())
    png = (root / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
