"""`segal run`'s console: one line per event when stderr is no terminal (exact), a live view in a real
pseudo-terminal; mmcv's logs only in the log file (`-v` shows them)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

from conftest import ROOT

pytestmark = pytest.mark.runtime

TOY_BASE = ROOT / "segal_dsl" / "runtime" / "toy" / "configs" / "toy_unet.py"
SEG = """experiment tiny {{
    base "{base}"
    seed 0
    source_free true
    sample pixel {{ initial 1% per image; budget 1% per image per round; evenly true; ignore_index 255 }}
    heuristic entropy
    schedule iters {{ train 3; query; train 2 }}
    visualize {{ size 2; overlay true; dir "viz" }}
    log every 1 iters {{ text }}
}}
"""


def tiny_seg(folder: Path) -> Path:
    """A two-round toy experiment (a few seconds of CPU)."""
    p = folder / "tiny.seg"
    p.write_text(SEG.format(base=TOY_BASE), encoding="utf-8")
    return p


def segal(*args: str, cwd: Path, toy: Path, **kw) -> list[str]:
    env = {**os.environ, "SEGAL_TOY_DIR": str(toy), "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("SEGAL_VERBOSE", None)
    return [sys.executable, "-m", "segal_dsl.cli", *args], dict(cwd=cwd, env=env, **kw)


def normalise(text: str, wd: Path) -> str:
    """Durations and the log's timestamp vary between runs; everything else must not."""
    text = text.replace(str(wd), "WD")
    text = re.sub(r"\b\d{8}_\d{6}\b", "TIMESTAMP", text)
    text = re.sub(r"\b(\d+h)?(\d+m)?\d+(\.\d+)?s\b", "T", text)
    return "\n".join(line for line in text.splitlines()
                     if "No CUDA runtime is found" not in line)  # torch's import-time note on a GPU-less box


EXPECTED = """\
segal run tiny: 2 rounds, 1 query, pixel labels, heuristic entropy, seed 0
work dir WD (log WD/TIMESTAMP.log; -v shows it here)
round 0: training 3 iterations
round 0: mIoU 16.56% with 2,560 px labelled (+2,560), T
query 1: scoring 64 images
query 1: +2,560 px (planned 2,560), 5,120 labelled, T
round 1: training 2 iterations
round 1: mIoU 16.56% with 5,120 px labelled (+2,560), T
finished in T: best mIoU 16.56% at round 0 with 2,560 px; report WD/report.json"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("toy")


def test_not_a_terminal_one_line_per_event(tmp_path, toy):
    seg, wd = tiny_seg(tmp_path), tmp_path / "wd"
    cmd, kw = segal("run", str(seg), "--work-dir", str(wd), cwd=tmp_path, toy=toy)
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert normalise(result.stderr, wd) == EXPECTED
    log = next(wd.glob("*.log")).read_text()
    assert "Name of parameter - Initialization information" in log, "mmcv's init dump is in the log file"
    assert "Iter [1/5]" in log, "the per-iteration lines are in the log file"


def test_verbose_shows_the_mmcv_log(tmp_path, toy):
    seg, wd = tiny_seg(tmp_path), tmp_path / "wd"
    cmd, kw = segal("run", str(seg), "--work-dir", str(wd), "-v", cwd=tmp_path, toy=toy)
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert result.returncode == 0, result.stderr
    assert "mmseg - INFO - Iter [1/5]" in result.stderr
    assert "round 1: mIoU 16.56% with 5,120 px labelled" in result.stderr


def test_terminal_live_view(tmp_path, toy):
    """A real pseudo-terminal: the live view draws (cursor movement), then leaves the round table."""
    seg, wd = tiny_seg(tmp_path), tmp_path / "wd"
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    cmd, kw = segal("run", str(seg), "--work-dir", str(wd), cwd=tmp_path, toy=toy)
    kw["env"] = {**kw["env"], "TERM": "xterm-256color"}
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True, **kw)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal (Linux: EIO)
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait() == 0, out.decode(errors="replace")[-2000:]
    text = out.decode(errors="replace")
    assert "\x1b[" in text, "the live view moves the cursor: a terminal was detected"
    assert "round 0 train" in text and "query 1" in text, "progress bars for training and for the query"
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert re.search(r"round\s+bought\s+labelled \(px\)\s+mIoU\s+time", plain), "the round table stays"
    assert "finished in" in plain and "best mIoU 16.56%" in plain
    assert "mmcv - INFO" not in plain and "Name of parameter" not in plain
    assert "round 0: training 3 iterations" not in plain, "no event lines under the live view"
