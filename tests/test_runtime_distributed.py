"""Two CPU ranks (gloo) through torchrun: exact budgets, rank 0 writes, ranks agree on the labels."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

from _runtime_helpers import CONFIGS, records, toy_env  # noqa: E402

pytestmark = pytest.mark.runtime


def test_two_ranks_gloo(tmp_path, tmp_path_factory):
    toy_env(tmp_path_factory.getbasetemp())
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    wd = tmp_path / "ddp"
    cmd = [torchrun, "--nproc_per_node=2", "--master_port=29533", "-m", "segal_dsl.runtime.train",
           str(CONFIGS / "toy_pixel.py"), "--work-dir", str(wd), "--launcher", "pytorch", "--seed", "3",
           "--cfg-options", "runner.schedule_unit=iters",
           "workflow=[(('train',2),('query',1)),(('train',2),('query',1)),(('train',1),)]"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(2560, 2560)] * 3
    rep = json.loads((wd / "report.json").read_text())
    assert [e["labelled"] for e in rep["rounds"]] == [2560, 5120, 7680]
