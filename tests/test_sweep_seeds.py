"""Seeds of a sweep (issue 11 part 3): each value of a `seed` axis draws its own initial labels, shared by the
strategies of that seed, and every run records the seed of each random stream. One real toy sweep, 2 x 2."""

import json

import numpy as np
import pytest
from _runtime_helpers import toy_env
from conftest import EXAMPLES

pytest.importorskip("mmseg")
pytestmark = pytest.mark.runtime

NAMES = {(h, s): f"toy_seeds__heuristic-{h}__seed-{s}" for h in ("random", "entropy") for s in (3, 4)}


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep-seeds")
    toy_env(tmp)
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "disabled")
    seg = tmp / "sweep.seg"
    seg.write_text(
        "experiment toy_seeds {\n"
        f'    extends "{(EXAMPLES / "toy_pixel.seg").as_posix()}"\n'
        "    delete visualize\n"
        "    schedule iters { train 1; query; train 1 }\n"
        "    sweep { heuristic random, entropy; seed 3, 4 }\n"
        "}\n")
    from segal_dsl.runtime.launch import run_experiment

    root = tmp / "runs"
    assert run_experiment(str(seg), work_dir=str(root)) == 0
    yield root
    mp.undo()


def _initial(root, name):
    """Round-0 labels of a point, recomputed from its compiled config and the seed the point recorded."""
    import mmcv

    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.query import initial_labels
    from segal_dsl.spec.config import read_config

    state = LabelState.load(root / name / "masks")
    cfg = mmcv.Config.fromfile(str(root / name / f"{name}.py"), import_custom_modules=False)
    fresh = LabelState.for_pixels(state.sizes)
    initial_labels(fresh, read_config(dict(cfg.items())), state.meta["seeds"]["initial_labels"])
    return state, [fresh.mask(i) for i in range(len(fresh))]


def test_each_seed_has_its_own_initial_labels_shared_by_its_strategies(sweep_root):
    initial = {}
    for key, name in NAMES.items():
        state, masks = _initial(sweep_root, name)
        for i, m in enumerate(masks):  # the recomputed initial labels are held by the run
            assert np.all(state.mask(i)[m]), f"{name}: initial label of image {i} missing"
        initial[key] = masks
    same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(a, b))
    assert same(initial[("random", 3)], initial[("entropy", 3)])
    assert same(initial[("random", 4)], initial[("entropy", 4)])
    assert not same(initial[("random", 3)], initial[("random", 4)])
    # seed 4's initial labels are not all among seed 3's final labels: the pools differ, not only the draws after
    state3, _ = _initial(sweep_root, NAMES[("random", 3)])
    assert any(not np.all(state3.mask(i)[m]) for i, m in enumerate(initial[("random", 4)]))


def test_every_stream_seed_is_recorded_per_run(sweep_root):
    from segal_dsl.runtime.selection import STREAMS

    for (_, seed), name in NAMES.items():
        meta = json.loads((sweep_root / name / "masks" / "labels.json").read_text())["meta"]
        assert meta["seeds"] == dict.fromkeys(STREAMS, seed)
        assert set(STREAMS) >= {"initial_labels", "selection", "model_init", "data_order", "dropout"}
