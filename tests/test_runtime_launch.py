"""`segal run` set-up: every missing path is one clear error before any work; `segal doctor`."""

from __future__ import annotations

import pytest

pytest.importorskip("mmseg")

from _runtime_helpers import CONFIGS

pytestmark = pytest.mark.runtime


def _cfg(tmp_path, body: str):
    p = tmp_path / "cfg.py"
    base = (CONFIGS / "toy_pixel.py").read_text().replace(
        "'../../segal_dsl", f"'{(CONFIGS / '../../segal_dsl').resolve()}")
    p.write_text(base + "\n" + body)
    return p


def test_missing_base_file_is_one_error_line(tmp_path, capsys):
    from segal_dsl.runtime.launch import run_experiment

    p = tmp_path / "cfg.py"
    p.write_text("_base_ = ['nope/model.py', 'nope/data.py']\n")
    assert run_experiment(str(p), work_dir=str(tmp_path / "wd"), resume=False, seed=None, launcher="none") == 1
    err = capsys.readouterr().err.splitlines()
    assert len([e for e in err if e.startswith("error: `_base_` file not found")]) == 2
    assert not (tmp_path / "wd").exists(), "nothing ran"


def test_missing_checkpoint_and_data_dirs(tmp_path, capsys):
    from segal_dsl.runtime.launch import run_experiment

    p = _cfg(tmp_path, "load_from = 'missing/model.pth'\n"
                       "data = dict(val=dict(type='CustomDataset', data_root='missing_root', img_dir='x'))\n")
    assert run_experiment(str(p), work_dir=str(tmp_path / "wd"), launcher="none") == 1
    err = capsys.readouterr().err
    assert "error: load_from checkpoint not found: missing/model.pth" in err
    assert "error: data.val.data_root not found: missing_root" in err


def test_missing_experiment_file(tmp_path, capsys):
    from segal_dsl.runtime.launch import run_experiment

    assert run_experiment(str(tmp_path / "none.seg"), launcher="none") == 1
    assert "experiment file not found" in capsys.readouterr().err


def test_doctor_reports_stack(capsys):
    from segal_dsl.runtime.doctor import check, doctor

    rows = {name: status for name, status, _ in check()}
    assert rows["mmcv-full"] == "ok" and rows["mmsegmentation"] == "ok" and rows["torch"] == "ok"
    assert doctor() == 0
    assert "runtime stack ready" in capsys.readouterr().out
