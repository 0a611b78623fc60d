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


def test_segal_run_analyses_the_seg_file_once(monkeypatch, capsys):
    """The CLI checks the file before it imports the runtime; the runtime reuses that result."""
    import segal_dsl.api as api
    from segal_dsl.cli import main

    calls = []
    real = api.analyse

    def counting(source, *a, **k):
        calls.append(source.path)
        return real(source, *a, **k)

    monkeypatch.setattr(api, "analyse", counting)
    assert main(["run", "examples/toy_pixel.seg", "--dry-run"]) == 0
    assert calls == ["examples/toy_pixel.seg"]
    assert "nothing was trained" in capsys.readouterr().out


def _seg_with_import(tmp_path, module: str) -> str:
    toy = (CONFIGS / "../../segal_dsl/runtime/toy/configs/toy_unet.py").resolve()
    seg = tmp_path / "exp.seg"
    seg.write_text(f'experiment e {{\n base "{toy}"\n imports "{module}"\n source_free true\n'
                   " sample pixel { initial 1% per image; budget 1% per image }\n heuristic entropy\n"
                   " schedule epochs { train 1; query; train 1 }\n}\n")
    return str(seg)


def test_custom_import_failure_prints_its_cause(tmp_path, monkeypatch, capsys):
    """mmcv only says `Failed to import`; the run names the module, the real error and where it looked."""
    from segal_dsl.cli import main

    (tmp_path / "brokenmod.py").write_text("import numpy\nraise RuntimeError('register_module clash in brokenmod')\n")
    monkeypatch.chdir(tmp_path.parent)
    assert main(["run", _seg_with_import(tmp_path, "brokenmod"), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "custom import `brokenmod` failed: RuntimeError: register_module clash in brokenmod" in err
    assert str(tmp_path) in err  # the .seg file's folder is the first place looked


def test_custom_import_is_found_next_to_the_seg_file(tmp_path, monkeypatch, capsys):
    """Not in the CWD, not installed: beside the .seg file is enough (docs/runtime.md, "Imports")."""
    from segal_dsl.cli import main

    (tmp_path / "besidemod.py").write_text("LOADED = True\n")
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    assert main(["run", _seg_with_import(tmp_path, "besidemod"), "--dry-run"]) == 0
    assert "imports work (segal_dsl.runtime, besidemod)" in capsys.readouterr().out


def test_train_main_checks_paths_after_the_overrides(tmp_path, capsys):
    """`python -m segal_dsl.runtime.train cfg.py --cfg-options …`: the paths checked are those of the
    overridden config, before any work, one line each."""
    from segal_dsl.runtime.train import main

    code = main([str(_cfg(tmp_path, "")), "--work-dir", str(tmp_path / "wd"), "--cfg-options",
                 "load_from=missing/model.pth"])
    assert code == 1
    assert "error: load_from checkpoint not found: missing/model.pth" in capsys.readouterr().err
    assert not (tmp_path / "wd").exists(), "nothing ran"


def test_train_main_no_validate_skips_evaluation(tmp_path, tmp_path_factory):
    """`--no-validate` reaches the run: the report has no mIoU."""
    from _runtime_helpers import report, toy_env

    from segal_dsl.runtime.train import main

    toy_env(tmp_path_factory.getbasetemp())
    wd = tmp_path / "wd"
    short = _cfg(tmp_path, "runner['schedule_unit'] = 'iters'\nrunner['sample_rounds'] = 1\n"
                           "workflow = [(('train', 2), ('query', 1)), (('train', 1),)]\n")
    assert main([str(short), "--work-dir", str(wd), "--no-validate"]) == 0
    rounds = report(wd)["rounds"]
    assert len(rounds) == 2 and all("mIoU" not in r for r in rounds)
