"""The repository's set-up script: idempotent, and the mmcv-full wheel cached outside the repo by key."""

import os
import subprocess

import pytest
from conftest import ROOT


def test_setup_check_reports_an_up_to_date_install_and_its_wheel_cache():
    if not (ROOT / ".venv" / ".segal-setup-full").exists():
        pytest.skip("the full set-up has not run here (CI runs it before the tests)")
    subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, check=True)  # current, if not yet
    result = subprocess.run(["bash", "scripts/setup.sh", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date (full)" in result.stdout
    # The cache key names every thing the compiled wheel depends on.
    assert "mmcv_full-1.7.2-torch-" in result.stdout and "-cp311-" in result.stdout
    assert str(ROOT) not in result.stdout.split("cached in", 1)[1]  # outside the repository


def test_a_second_setup_run_does_nothing():
    if not (ROOT / ".venv" / ".segal-setup-full").exists():
        pytest.skip("the full set-up has not run here")
    for _ in range(2):  # the first run may still have work to do (a changed pyproject.toml); the second not
        result = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ})
    assert result.returncode == 0 and "up to date (full)" in result.stderr
