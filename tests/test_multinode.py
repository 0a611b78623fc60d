"""`segal run --nnodes/--node-rank/--nproc-per-node/--rdzv-endpoint`: torchrun across nodes without Slurm,
here two "nodes" on one host (gloo over loopback) sharing one work dir, as nodes share a file system.

The `random` heuristic makes the labels depend on the seed, round and image only, so the labels of the
multi-node run must equal those of one process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

from _runtime_helpers import label_digest, records, toy_env

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parent.parent
SEG = """experiment toy_nodes {{
    extends "{root}/examples/toy_pixel.seg"
    heuristic random
    schedule iters {{ train 2; query; train 2; query; train 1 }}
    delete visualize
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    env.pop("SEGAL_TEST_KILL_AT", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _segal(*args: str) -> list[str]:
    return [sys.executable, "-m", "segal_dsl.cli", "run", *args]


def test_two_nodes_equal_one_process(tmp_path):
    """Node 0 and node 1, one process each, meet at node 0's endpoint; rank 0 writes the labels of one process."""
    toy_env(tmp_path)
    (tmp_path / "exp.seg").write_text(SEG.format(root=ROOT))
    env = _env()
    single = subprocess.run(_segal("exp.seg", "--work-dir", str(tmp_path / "single")), capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]

    endpoint = f"127.0.0.1:{_free_port()}"
    nodes = [subprocess.Popen(_segal("exp.seg", "--work-dir", str(tmp_path / "nodes"), "--nnodes", "2",
                                     "--node-rank", str(r), "--nproc-per-node", "1", "--rdzv-endpoint", endpoint),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for r in (0, 1)]
    outs = [p.communicate(timeout=600) for p in nodes]
    for p, (_, err) in zip(nodes, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    wd = tmp_path / "nodes"
    assert "world size 2" in next(wd.glob("*.log")).read_text()
    assert label_digest(wd) == label_digest(tmp_path / "single")
    assert records(wd) == records(tmp_path / "single")


def test_more_than_one_node_needs_an_endpoint(tmp_path):
    """Without node 0's address the nodes could never meet: a usage error before anything starts."""
    from segal_dsl.runtime.launch import torchrun_command

    with pytest.raises(ValueError, match="--rdzv-endpoint"):
        torchrun_command(["exp.seg"], nnodes=2, node_rank=0, nproc_per_node=1, rdzv_endpoint=None)
