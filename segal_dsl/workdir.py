"""Where a run stands, read from its work dir alone (no torch): `segal status` and `segal report` read here.

The runtime writes the files (docs/runtime.md, "What is on disk"); this module names them once and reads
them. `read_status` is the one place that turns a work dir into a `RunStatus`: a scheduler's job state
(issue 12) extends it there, not in the CLI.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_DIR = "al_state"            # step checkpoints + progress.json
PROGRESS = "progress.json"        # under STATE_DIR: steps done, counters, the report entries so far
RUN_FILE = "run.json"             # under STATE_DIR: pid, host, steps, state (running/finished/failed)
REPORT = "report.json"            # the final per-round report (written last: the run finished)
SWEEP = "sweep.json"              # a sweep's root: the index of its points
LABELS = "masks/labels.json"      # the label manifest (default mask_dir)


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file, or None when it is missing or unreadable (a reader never fails on a half-run)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


@dataclass
class RunStatus:
    """One work dir's state: what `segal status` prints (text) or returns (`--format json`)."""

    work_dir: str
    state: str                      # not started | running | finished | died | failed | unknown
    experiment: str | None = None
    unit: str = "pixels"
    round: int | None = None        # the round of the current (or next) step
    rounds: int | None = None
    step: str | None = None         # "train round 2", "query 3", or None when finished
    steps_done: int = 0
    steps_total: int | None = None
    labelled: int | None = None     # cumulative labels bought so far
    last_mIoU: float | None = None  # of the last finished round (0..1)
    last_round: int | None = None
    error: str | None = None
    resume: str | None = None       # the command that continues the run
    pid: int | None = None
    host: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)   # room for other readers (e.g. a scheduler's job)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The text `segal status` prints: the state first, then what is known of the progress."""
        name = f"{self.experiment}: " if self.experiment else ""
        head = f"{self.work_dir}: {name}{self.state}"
        if self.state == "running" and self.pid:
            head += f" (pid {self.pid} on {self.host})"
        out = [head]
        if self.steps_total and self.state == "finished":
            out.append(f"all {self.steps_total} steps done ({self.rounds} rounds)")
        elif self.steps_total:
            out.append(f"at step {min(self.steps_done + 1, self.steps_total)}/{self.steps_total}: {self.step}")
        if self.labelled is not None:
            out.append(f"labelled: {self.labelled:,} {self.unit}")
        if self.last_mIoU is not None:
            out.append(f"last mIoU: {100 * self.last_mIoU:.2f}% (round {self.last_round})")
        for k, v in sorted(self.extra.items()):
            out.append(f"{k}: {v}")
        if self.error:
            out.append(f"error: {self.error}")
        if self.resume and self.state in ("died", "failed", "unknown"):
            out.append(f"resume: {self.resume}")
        return out


def _step_name(step: list | tuple) -> str:
    kind, r = step[0], int(step[1])
    return f"train round {r}" if kind == "train" else f"query {r + 1}"


def read_status(work_dir: str | os.PathLike) -> RunStatus:
    """The state of one run's work dir: run.json (the live record), progress.json, report.json, labels."""
    wd = Path(work_dir)
    run = read_json(wd / STATE_DIR / RUN_FILE) or {}
    progress = read_json(wd / STATE_DIR / PROGRESS) or {}
    report = read_json(wd / REPORT)
    labels = read_json(wd / (run.get("labels") or LABELS))
    st = RunStatus(work_dir=str(work_dir), state="not started", experiment=run.get("experiment"),
                   unit=run.get("unit") or (report or {}).get("unit") or "pixels",
                   pid=run.get("pid"), host=run.get("host"), resume=run.get("resume"), error=run.get("error"))
    steps = run.get("steps") or []
    st.steps_total = len(steps) or None
    st.rounds = len({int(s[1]) for s in steps}) or None
    st.steps_done = int(progress.get("next_step") or 0)
    if steps and st.steps_done < len(steps):
        st.step = _step_name(steps[st.steps_done])
        st.round = int(steps[st.steps_done][1])
    rounds = (report or {}).get("rounds") or progress.get("rounds") or []
    scored = [e for e in rounds if "mIoU" in e]
    if scored:
        st.last_mIoU, st.last_round = float(scored[-1]["mIoU"]), int(scored[-1]["round"])
    if isinstance(labels, dict) and labels.get("records"):
        st.labelled = int(labels["records"][-1].get("cumulative", 0))
    elif rounds:
        st.labelled = int(rounds[-1].get("labelled", 0))
    state = run.get("state")
    if report is not None and state in (None, "finished"):
        st.state = "finished"
        st.steps_done = st.steps_total or st.steps_done
    elif state == "failed":
        st.state = "failed"
    elif state == "running":
        if st.host and st.host != socket.gethostname():
            st.state = "unknown"
            st.error = f"running on {st.host}, or died there: this machine cannot tell"
        else:
            st.state = "running" if st.pid and _alive(int(st.pid)) else "died"
    elif progress or labels:
        st.state = "died"  # a run that never wrote run.json (an older runtime) and no report
    return st


def read_sweep(root: str | os.PathLike) -> tuple[dict, list[RunStatus]] | None:
    """A sweep root's index (sweep.json) and the status of each of its points, or None if not a sweep."""
    index = read_json(Path(root) / SWEEP)
    if not isinstance(index, dict):
        return None
    out = []
    for p in index.get("points", []):
        d = Path(root) / p["name"]
        st = read_status(d if d.is_dir() else p.get("work_dir", d))
        st.experiment = st.experiment or p["name"]
        out.append(st)
    return index, out


def resume_command(seg_path: str | None, config: str, work_dir: str) -> str:
    """The command that continues a run in `work_dir`: the sweep's own for a sweep point (finished points
    are kept), `segal run` for a .seg run, the training module for a compiled config."""
    import shlex

    parent = os.path.dirname(os.path.abspath(work_dir))
    if seg_path and os.path.isfile(os.path.join(parent, SWEEP)):
        return shlex.join(["segal", "run", seg_path, "--work-dir", os.path.dirname(work_dir) or ".", "--resume"])
    if seg_path:
        return shlex.join(["segal", "run", seg_path, "--work-dir", work_dir, "--resume"])
    return shlex.join(["python", "-m", "segal_dsl.runtime.train", config, "--work-dir", work_dir, "--resume"])
