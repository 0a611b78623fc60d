"""`segal status WORK_DIR`: a killed run reads as died with its resume command, a finished one as finished,
and neither torch nor mmcv is imported to say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

NO_RUNTIME = """
import sys
from segal_dsl.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "mmcv", "mmseg", "numpy", "matplotlib") if m in sys.modules)
assert not heavy, heavy
sys.exit(code)
"""


def status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_RUNTIME, "status", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_reads_a_work_dir_without_torch(tmp_path):
    wd = tmp_path / "wd"
    (wd / "al_state").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now: the run "died"
    steps = [["train", 0], ["query", 0], ["train", 1], ["query", 1], ["train", 2]]
    (wd / "al_state" / "run.json").write_text(json.dumps(
        {"experiment": "toy", "steps": steps, "state": "running", "pid": dead.pid, "host": os.uname().nodename,
         "unit": "pixels", "resume": "segal run toy.seg --work-dir wd --resume"}))
    (wd / "al_state" / "progress.json").write_text(json.dumps(
        {"next_step": 2, "rounds": [{"round": 0, "labelled": 2560, "added": 2560, "mIoU": 0.4123}]}))
    result = status(str(wd))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{wd}: toy: died",
        "at step 3/5: train round 1",
        "labelled: 2,560 pixels",
        "last mIoU: 41.23% (round 0)",
        "resume: segal run toy.seg --work-dir wd --resume",
    ]
    (wd / "al_state" / "run.json").write_text(json.dumps(
        {"experiment": "toy", "steps": steps, "state": "running", "pid": os.getpid(),
         "host": os.uname().nodename}))
    assert status(str(wd)).stdout.splitlines()[0] == f"{wd}: toy: running (pid {os.getpid()} on {os.uname().nodename})"
    doc = json.loads(status(str(wd), "--json").stdout)
    assert doc[0]["state"] == "running" and doc[0]["step"] == "train round 1" and doc[0]["steps_total"] == 5


def test_not_a_work_dir_is_a_usage_error(tmp_path):
    result = status(str(tmp_path / "none"))
    assert result.returncode == 2 and "not a work dir" in result.stderr


@pytest.mark.runtime
def test_a_killed_run_then_its_resume(tmp_path, tmp_path_factory):
    """A real run killed mid-training: status says died and how to resume; after the resume, finished."""
    pytest.importorskip("mmseg")
    from test_console import segal, tiny_seg

    seg, wd, toy = tiny_seg(tmp_path), tmp_path / "wd", tmp_path_factory.mktemp("toy")
    cmd, kw = segal("run", str(seg), "--work-dir", str(wd), cwd=tmp_path, toy=toy)
    kw["env"]["SEGAL_TEST_KILL_AT"] = "train_iter:4"  # in round 1's training, after query 1
    assert subprocess.run(cmd, capture_output=True, **kw).returncode != 0
    lines = status(str(wd)).stdout.splitlines()
    assert lines[0] == f"{wd}: tiny: died"
    assert lines[1] == "at step 3/3: train round 1"
    assert lines[2] == "labelled: 5,120 pixels"
    assert lines[-1] == f"resume: segal run {seg} --work-dir {wd} --resume"
    kw["env"].pop("SEGAL_TEST_KILL_AT")
    resume = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, **kw)
    assert resume.returncode == 0, resume.stderr
    assert "resuming at step 3/3" in resume.stderr
    assert status(str(wd)).stdout.splitlines()[:2] == [f"{wd}: tiny: finished", "all 3 steps done (2 rounds)"]
