"""A real core-only install (a fresh venv: segal-dsl with its light dependencies, no torch, mmcv or mmseg):
the front end works there, and `segal run` says in one line what is missing and how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # A plain, non-editable install of the checkout, from the package registry only for its light dependencies.
    done = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail("core install failed:\n" + done.stdout[-2000:] + done.stderr[-2000:])
    return env_dir


def _segal(env_dir, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(env_dir / "bin" / "segal"), *args], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "NO_COLOR": "1"}, timeout=300)


def test_the_core_install_has_no_runtime_stack(core_venv):
    probe = subprocess.run([str(core_venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('torch', 'mmcv', 'mmseg', 'numpy') "
                            "if u.find_spec(m)])"], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    assert sys.prefix != str(core_venv)


def test_front_end_works_without_the_runtime(core_venv, tmp_path):
    assert _segal(core_venv, "check", "examples/*.seg", "examples/sweeps").returncode == 0
    assert _segal(core_venv, "plan", "--explain", "examples/ripu_region_gtav2cs.seg").returncode == 0
    out = tmp_path / "cfg.py"
    assert _segal(core_venv, "compile", "examples/design_sketch.seg", "-o", str(out)).returncode == 0
    assert "source_free" not in out.read_text() and "segal_meta = dict(" in out.read_text()
    assert _segal(core_venv, "import", "tests/fixtures/legacy/ada_region.py").returncode == 0


@pytest.mark.parametrize("args", [("run", "examples/toy_pixel.seg"), ("run", "--dry-run", "examples/design_sketch.seg"),
                                  ("run", "generated/toy_pixel.py")])
def test_run_says_what_is_missing_in_one_line(core_venv, args):
    done = _segal(core_venv, *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "runtime stack" in lines[0] and "torch" in lines[0] and "bash scripts/setup.sh" in lines[0]


def test_run_still_reports_the_file_errors_first(core_venv):
    done = _segal(core_venv, "run", "tests/fixtures/bad/SEG303_consecutive_queries.seg")
    assert done.returncode == 1 and "SEG303" in done.stderr and "Traceback" not in done.stderr
