"""Crash-resume: `segal run` killed with SIGKILL at every state-writing point, then `--resume`d.

One uninterrupted run is the reference. A second run in its own work dir is killed again and again
(SEGAL_TEST_KILL_AT, segal_dsl/runtime/testhooks.py), each resume dying one point later, until a
final resume finishes it. After every kill the saved state must be a consistent *earlier* state of
the reference run (or absent), every file must parse, and no leftover may look like a real state file;
at the end labels, records, report and final weights must equal the reference's bit for bit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

from _runtime_helpers import toy_env

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parent.parent
SEGAL = [sys.executable, "-m", "segal_dsl.cli"]

SHORT_SEG = """experiment toy_crash {{
    extends "{root}/examples/toy_pixel.seg"
    schedule iters {{ train 3; query; train 3; query; train 2 }}
    delete visualize
}}
"""

# (kill point, why it matters); each entry runs as `--resume` of the previous one (the first is fresh).
# Workflow steps: 0 train (3 iters), 1 query, 2 train (3), 3 query, 4 train (2). Save #1 = initial labels.
CHAIN = [
    ("label_save_manifest:1", "first save: payload renamed, manifest only a temp file"),
    ("train_iter:2", "mid-training of step 0, no checkpoint and no progress yet"),
    ("step_checkpoint:1", "step 0 checkpoint written to its temp file, not renamed"),
    ("progress_save:1", "step 0 checkpoint in place, progress.json only a temp file"),
    ("query_image:20", "in the middle of query 1"),
    ("label_save_payload:1", "query 1 payload only a temp file"),
    ("label_save_manifest:1", "query 1 payload in place, manifest only a temp file"),
    ("label_saved:1", "query 1 labels committed, progress.json not updated"),
    ("train_iter:4", "step 2 done, query 2 done, killed in step 4's first iteration"),
    (None, "final resume"),
]


def _env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.setdefault("SEGAL_TOY_DIR", str(tmp_path / "toy"))
    env.pop("SEGAL_TEST_KILL_AT", None)
    env.update(extra)
    return env


def _segal(args, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(SEGAL + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _trace(path: Path) -> dict[int, str]:
    """round -> payload sha256 of the reference run, from its SEGAL_TEST_TRACE_DIR lines."""
    out = {}
    for line in path.read_text().splitlines():
        e = json.loads(line)
        out[e["round"]] = e["payload_sha256"]
    return out


def _check_consistent(wd: Path, ref_wd: Path, ref_payloads: dict[int, str], where: str) -> None:
    """The state a kill left behind is an earlier state of the reference run, or none at all."""
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.progress import Progress

    masks, state = wd / "masks", wd / "al_state"
    ref_records = json.loads((ref_wd / "masks" / "labels.json").read_text())["records"]
    if LabelState.exists(masks):
        labels = LabelState.load(masks)   # never half-written: loads, sha256 verified
        n = len(labels.records)
        assert labels.records == ref_records[:n], where
        manifest = json.loads((masks / "labels.json").read_text())
        assert manifest["sha256"] == ref_payloads[n - 1], f"{where}: not the reference's round-{n - 1} labels"
    progress = Progress.load(state)      # parses (or is absent)
    if progress is not None:
        assert progress.seed == 0
        if progress.checkpoint:
            assert (state / progress.checkpoint).is_file(), where
        if progress.next_step > 0:
            assert LabelState.exists(masks), where
    # Leftovers may only be temp files a reader never opens: hidden `.<name>.<random>.tmp`. (run.json is
    # the console's record of the process, for `segal status`; it is written atomically too.)
    for d in (masks, state):
        for p in d.glob("*") if d.is_dir() else []:
            ok = (re.fullmatch(r"labels\.json|labels-[0-9a-f]{16}\.bin", p.name) if d == masks
                  else re.fullmatch(r"progress\.json|run\.json|step_\d+\.pth", p.name))
            assert ok or re.fullmatch(r"\..+\.tmp", p.name), f"{where}: unexpected file {p}"


def _weights(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_sigkill_anywhere_then_resume_is_exact(tmp_path):
    toy_env(tmp_path)
    seg = tmp_path / "crash.seg"
    seg.write_text(SHORT_SEG.format(root=ROOT))
    ref_trace = tmp_path / "trace"
    ref_trace.mkdir()

    ref = tmp_path / "ref"
    proc = _segal(["run", str(seg), "--work-dir", str(ref)], _env(tmp_path, SEGAL_TEST_TRACE_DIR=str(ref_trace)),
                  tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref_payloads = _trace(ref_trace / "rank0.jsonl")
    assert sorted(ref_payloads) == [0, 1, 2]

    wd = tmp_path / "killed"
    for k, (spec, why) in enumerate(CHAIN):
        args = ["run", str(seg), "--work-dir", str(wd)] + (["--resume"] if k else [])
        env = _env(tmp_path, **({"SEGAL_TEST_KILL_AT": spec} if spec else {}))
        proc = _segal(args, env, tmp_path)
        where = f"kill {k} at {spec} ({why})"
        if spec is None:
            assert proc.returncode == 0, proc.stderr[-3000:]
            break
        assert proc.returncode == -signal.SIGKILL, f"{where}: not killed (rc {proc.returncode}) " + proc.stderr[-2000:]
        assert not (wd / "report.json").exists(), where
        _check_consistent(wd, ref, ref_payloads, where)

    # exact: labels, records, per-round report (incl. mIoU and counters) and the final weights
    a = json.loads((ref / "masks" / "labels.json").read_text())
    b = json.loads((wd / "masks" / "labels.json").read_text())
    assert b["sha256"] == a["sha256"] and b["records"] == a["records"] and b["counts"] == a["counts"]
    assert json.loads((wd / "report.json").read_text()) == json.loads((ref / "report.json").read_text())
    from segal_dsl.runtime.labels import LabelState

    la, lb = LabelState.load(ref / "masks"), LabelState.load(wd / "masks")
    assert all((la.mask(i) == lb.mask(i)).all() for i in range(len(la)))
    wa, wb = _weights(ref / "al_state" / "step_4.pth"), _weights(wd / "al_state" / "step_4.pth")
    assert wa.keys() == wb.keys() and all(bool((wa[n] == wb[n]).all()) for n in wa)
    # nothing unfinished is left after the successful resume
    leftovers = [p for p in wd.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert len(list((wd / "masks").glob("labels-*.bin"))) <= 2   # current + the one kept for readers


def test_kill_hook_is_inert_without_the_variable(monkeypatch):
    from segal_dsl.runtime import testhooks

    monkeypatch.delenv("SEGAL_TEST_KILL_AT", raising=False)
    for _ in range(3):
        testhooks.kill_point("train_iter")          # no variable: nothing happens, nothing counted
    monkeypatch.setenv("SEGAL_TEST_KILL_AT", "query_image:2")
    testhooks.kill_point("train_iter")              # another event: nothing
    assert "train_iter" not in testhooks._counts
