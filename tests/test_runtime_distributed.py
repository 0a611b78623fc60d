"""Two CPU ranks (gloo) through torchrun: exact budgets, rank 0 writes, ranks agree on the labels.

Every rank appends its label digest after the initial labels and after each query to its own file
(SEGAL_TEST_TRACE_DIR, segal_dsl/runtime/testhooks.py); a `sitecustomize` audit hook on the path of
the rank processes records every write-mode open/mkdir/rename/remove that a rank other than 0 makes
under the work dir (there must be none).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

from _runtime_helpers import CONFIGS, records, toy_env

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parent.parent

SHORT_SEG = """experiment toy_ddp {{
    extends "{root}/examples/toy_pixel.seg"
    schedule iters {{ train 2; query; train 2; query; train 1 }}
    delete visualize
}}
"""

# Loaded by every Python process started with this directory on PYTHONPATH; active on ranks != 0.
AUDIT = r'''
import os, sys
_rank, _wd, _out = os.environ.get("RANK"), os.environ.get("SEGAL_TEST_AUDIT_DIR"), os.environ.get("SEGAL_TEST_AUDIT_OUT")
if _rank not in (None, "0") and _wd and _out:
    _wd = os.path.realpath(_wd)
    _log = open(os.path.join(_out, "rank%s.writes" % _rank), "a", buffering=1)
    def _under(p):
        try:
            return os.path.realpath(os.fsdecode(p)).startswith(_wd)
        except (TypeError, ValueError):
            return False
    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))
            if writes and _under(path):
                _log.write("%s %s\n" % (event, path))
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link",
                       "os.truncate", "shutil.copyfile", "shutil.rmtree"):
            target = args[0] if event != "shutil.copyfile" else args[1]
            if event == "os.mkdir" and os.path.isdir(target):
                return  # makedirs(exist_ok=True) of an existing dir (mmcv does it on every rank): no write
            if args and _under(target):
                _log.write("%s %s\n" % (event, args[:2]))
    sys.addaudithook(_hook)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun() -> list[str]:
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


def _env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    env.pop("SEGAL_TEST_KILL_AT", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update(extra)
    return env


def _trace(path: Path) -> dict[int, dict]:
    return {e["round"]: e for e in map(json.loads, path.read_text().splitlines())}


def test_two_ranks_gloo(tmp_path, tmp_path_factory):
    """`python -m segal_dsl.runtime.train --launcher pytorch` on a compiled config."""
    toy_env(tmp_path_factory.getbasetemp())
    wd, trace = tmp_path / "ddp", tmp_path / "trace"
    trace.mkdir()
    cmd = _torchrun() + ["--nproc_per_node=2", f"--master_port={_free_port()}", "-m", "segal_dsl.runtime.train",
                         str(CONFIGS / "toy_pixel.py"), "--work-dir", str(wd), "--launcher", "pytorch",
                         "--seed", "3", "--cfg-options", "runner.schedule_unit=iters",
                         "workflow=[(('train',2),('query',1)),(('train',2),('query',1)),(('train',1),)]"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path, SEGAL_TEST_TRACE_DIR=str(trace)),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(2560, 2560)] * 3
    rep = json.loads((wd / "report.json").read_text())
    assert [e["labelled"] for e in rep["rounds"]] == [2560, 5120, 7680]
    r0, r1 = _trace(trace / "rank0.jsonl"), _trace(trace / "rank1.jsonl")
    assert sorted(r0) == sorted(r1) == [0, 1, 2]
    assert all(r0[r]["digest"] == r1[r]["digest"] and r0[r]["world"] == 2 for r in r0)


def _files(wd: Path) -> list[str]:
    """Work-dir files, with timestamped log names and content-addressed payload names normalised."""
    names = [str(p.relative_to(wd)) for p in wd.rglob("*") if p.is_file()]
    names = [re.sub(r"^\d{8}_\d{6}\.log", "<stamp>.log", n) for n in names]
    return sorted(re.sub(r"labels-[0-9a-f]{16}\.bin$", "labels-<sha>.bin", n) for n in names)


def test_segal_run_seg_under_torchrun(tmp_path):
    """`torchrun --nproc_per_node 2 segal run x.seg --launcher pytorch`: same files as one process,
    written by rank 0 only, identical labels on both ranks after every query, exact budgets."""
    toy_env(tmp_path)
    seg = tmp_path / "ddp.seg"
    seg.write_text(SHORT_SEG.format(root=ROOT))
    site, trace, audit = tmp_path / "site", tmp_path / "trace", tmp_path / "audit"
    for d in (site, trace, audit):
        d.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT)

    single = tmp_path / "single"
    proc = subprocess.run([sys.executable, "-m", "segal_dsl.cli", "run", str(seg), "--work-dir", str(single)],
                          capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    wd = tmp_path / "ddp"
    env = _env(tmp_path, SEGAL_TEST_TRACE_DIR=str(trace), SEGAL_TEST_AUDIT_DIR=str(wd),
               SEGAL_TEST_AUDIT_OUT=str(audit))
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    cmd = _torchrun() + ["--nproc_per_node=2", f"--master_port={_free_port()}", "-m", "segal_dsl.cli", "run",
                         str(seg), "--work-dir", str(wd), "--launcher", "pytorch"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # budgets exact, not x2 (initial 1 %/img of 64x64 = 40 px x 64 images, and the same per query)
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(2560, 2560)] * 3
    assert [(r["planned"], r["added"]) for r in records(wd)] == [(r["planned"], r["added"]) for r in records(single)]
    # identical label state on every rank after the initial labels and after each query
    r0, r1 = _trace(trace / "rank0.jsonl"), _trace(trace / "rank1.jsonl")
    assert sorted(r0) == sorted(r1) == [0, 1, 2]
    for r in r0:
        assert r0[r]["digest"] == r1[r]["digest"] and r0[r]["world"] == r1[r]["world"] == 2, r
    manifest = json.loads((wd / "masks" / "labels.json").read_text())
    assert manifest["sha256"] == r0[2]["payload_sha256"]  # what rank 0 saved is what every rank holds
    # only rank 0 writes: the audit hook saw rank 1 write nothing under the work dir ...
    assert (audit / "rank1.writes").exists() is False or (audit / "rank1.writes").read_text() == ""
    # ... and the work dir holds exactly the files of a single-process run
    assert _files(wd) == _files(single)


# Code that runs in the submitting process, never in a rank: `--executor local` polls its jobs' controllers
# once a second to start the next point when one ends (runtime/slurm.py).
NOT_IN_A_RANK = {("slurm.py", "run_local")}


def test_runtime_never_sleeps_to_synchronise():
    """Ranks meet at barriers / collectives; the reference's sleep(2)/sleep(3) must not come back."""
    for path in (ROOT / "segal_dsl" / "runtime").rglob("*.py"):
        tree = ast.parse(path.read_text())
        exempt = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and (path.name, f.name) in NOT_IN_A_RANK
                  for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in exempt:
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                assert name != "sleep", f"{path}:{node.lineno}: sleep() in the runtime"


def test_sweep_under_torchrun(tmp_path):
    """`torchrun … segal run sweep.seg --launcher pytorch`: every rank trains every point (none waits forever
    for a rank that went elsewhere), rank 0 alone writes, one combined report."""
    toy_env(tmp_path)
    (tmp_path / "ddp.seg").write_text(SHORT_SEG.format(root=ROOT))
    seg = tmp_path / "sweep.seg"
    seg.write_text('experiment toy_sweep {\n    extends "ddp.seg"\n    sweep { heuristic random, entropy }\n}\n')
    site, audit = tmp_path / "site", tmp_path / "audit"
    for d in (site, audit):
        d.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT)
    wd = tmp_path / "wd"
    env = _env(tmp_path, SEGAL_TEST_AUDIT_DIR=str(wd), SEGAL_TEST_AUDIT_OUT=str(audit))
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    cmd = _torchrun() + ["--nproc_per_node=2", f"--master_port={_free_port()}", "-m", "segal_dsl.cli", "run",
                         str(seg), "--work-dir", str(wd), "--launcher", "pytorch"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = json.loads((wd / "sweep.json").read_text())
    assert [p["values"] for p in index["points"]] == [{"heuristic": "random"}, {"heuristic": "entropy"}]
    for point in index["points"]:
        assert [(r["planned"], r["added"]) for r in records(Path(point["work_dir"]))] == [(2560, 2560)] * 3
    assert sorted(json.loads((wd / "sweep_report.json").read_text())) == sorted(p["name"] for p in index["points"])
    assert (audit / "rank1.writes").exists() is False or (audit / "rank1.writes").read_text() == ""
