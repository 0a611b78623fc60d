"""Every generated config loads with mmcv.Config.fromfile (when mmcv is installed) to the compiled values."""


import pytest
from conftest import EXAMPLES, ROOT, valid_examples
from test_emit import evaluate_config

mmcv = pytest.importorskip("mmcv")


@pytest.mark.parametrize("path", valid_examples(), ids=lambda p: p.name)
def test_generated_config_loads_with_mmcv(path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # `experiments._base_.dataset_gtav`, as in the reference repo
    generated = ROOT / "generated" / f"{path.stem}.py"
    cfg = mmcv.Config.fromfile(str(generated))
    compiled = evaluate_config(generated.read_text())
    # mmcv merges the compiled keys into the bases: every compiled value is in the loaded config as written
    # (a base may add keys the file does not state, never change one it does).
    for key in ("active_learning", "runner", "custom_imports"):
        assert _subset(compiled[key], cfg[key]), key
    assert [tuple(tuple(step) for step in rnd) for rnd in cfg.workflow] == compiled["workflow"]
    for key, value in compiled.items():
        if key not in ("_base_", "workflow") and not isinstance(value, dict):
            got = cfg[key]
            assert (tuple(got) if isinstance(got, list) and isinstance(value, tuple) else got) == value, key


def _subset(small, big) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _subset(v, big[k]) for k, v in small.items())
    return small == big
