"""Shared set-up for the tests against real Slurm daemons (tests/test_slurm.py, tests/test_cluster_jobs.py):
the one-host cluster of scripts/slurm-local.sh, started when it is not up, and `segal` in new processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _runtime_helpers import toy_env

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
DEADLINE_S = 600  # a guard against a hung queue, not a measurement
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


def cluster_unavailable() -> str | None:
    """Why the local cluster cannot be had here, or None."""
    if os.geteuid() != 0:
        return "the local Slurm cluster needs root (slurmd starts jobs as their user; munged's socket is in /run)"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "slurm-wlm is not installed and apt-get is not there to install it (scripts/slurm-local.sh install)"
    return None


def local_cluster(tmp_path_factory):
    """For a session fixture: yields the environment that reaches a running one-host cluster (started, and
    stopped after the session, here unless it was up); skips, saying why, when it cannot be had."""
    reason = cluster_unavailable()
    if reason:
        pytest.skip(reason)
    started = subprocess.run([str(SCRIPT), "status"], check=False).returncode != 0
    if started:
        inst = subprocess.run([str(SCRIPT), "install"], capture_output=True, text=True, check=False)
        if inst.returncode != 0:
            pytest.skip(f"slurm-wlm/munge could not be installed: {inst.stderr.strip()[-300:]}")
        up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stderr
    conf = subprocess.run(["bash", "-c", f'source <({SCRIPT} up 2>/dev/null); echo "$SLURM_CONF"'],
                          capture_output=True, text=True, check=True).stdout.strip()
    yield dict(job_env(tmp_path_factory), SLURM_CONF=conf)
    if started:
        subprocess.run([str(SCRIPT), "down"], check=False)


def job_env(tmp_path_factory) -> dict:
    """The environment of a `segal` process of these tests: the shared toy data, one thread, no wandb."""
    toy_env(tmp_path_factory.getbasetemp())
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    env.pop("SEGAL_TEST_KILL_AT", None)
    return env


def segal(env: dict, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`segal ARGS` in a new process."""
    proc = subprocess.run([sys.executable, "-m", "segal_dsl.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=DEADLINE_S)
    assert not check or proc.returncode == 0, proc.stderr[-3000:]
    return proc


def status_rows(env: dict, root: Path) -> list[dict]:
    """`segal status --json` in a new process: what a user sees after the submitting shell is gone."""
    return json.loads(segal(env, "status", str(root), "--json", cwd=root.parent).stdout)


def wait_rows(env: dict, root: Path, done=lambda rows: all(r["state"] in ENDED for r in rows)) -> list[dict]:
    """Poll `segal status` until `done(rows)`; the rows then."""
    end = time.monotonic() + DEADLINE_S
    rows: list[dict] = []
    while time.monotonic() < end:
        rows = status_rows(env, root)
        if done(rows):
            return rows
        time.sleep(1)
    raise AssertionError(f"jobs of {root} did not finish: {rows}")
