"""Submitted jobs as the work dir records them: `segal status` and `segal cancel` of a Slurm (or submitit
local) run or sweep, from any shell, long after the submitting one is gone.

Outside runtime/ because importing that package registers mmseg's modules (torch): status must be quick
on a login node, so this imports neither torch nor submitit; the queue is asked through `squeue`/`scontrol`,
everything else is read from the work dir's files. runtime/slurm.py writes what this reads.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import pickle
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from segal_dsl.api import write_atomic
from segal_dsl.workdir import read_status

JOBS_DIR = "slurm"            # <work dir>/slurm/: submitit's folder (pickles, logs) and jobs.json
JOBS_FILE = "jobs.json"


@dataclass(frozen=True)
class JobRecord:
    """One submitted job (a run, or one sweep point = one task of the job array)."""

    name: str
    job_id: str               # Slurm's id (`12` or `12_3` in an array); the pid for the local executor
    work_dir: str
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Submission:
    """What `segal run --executor` submitted: kept in <work dir>/slurm/jobs.json, read by status/cancel."""

    executor: str             # slurm | local
    kind: str                 # run | sweep
    jobs: tuple[JobRecord, ...]
    folder: str               # submitit's folder
    extra_job_ids: tuple[str, ...] = field(default=())   # the sweep's report job; local: the submitting process

    def save(self, root: str) -> None:
        write_atomic({Path(root, JOBS_DIR, JOBS_FILE): json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"})

    @classmethod
    def load(cls, root: str) -> Submission | None:
        path = Path(root, JOBS_DIR, JOBS_FILE)
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["executor"], data["kind"], tuple(JobRecord(**j) for j in data["jobs"]), data["folder"],
                   tuple(data.get("extra_job_ids", ())))


def queue_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm's state of each job: squeue for pending/running ones, scontrol for jobs that ended less than
    MinJobAge ago. A job neither knows is absent from the result (there is no sacct without slurmdbd)."""
    states: dict[str, str] = {}
    if not job_ids:
        return states
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(sorted({j.split("_")[0] for j in job_ids}))],
                         capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        jid, _, state = line.strip().partition(" ")
        states[jid] = state
    for jid in job_ids:
        if jid in states:
            continue
        show = subprocess.run(["scontrol", "show", "job", "-o", jid], capture_output=True, text=True, check=False)
        for token in show.stdout.split():
            if token.startswith("JobState="):
                states[jid] = token.split("=", 1)[1]
                break
    return states


def _local_state(folder: str, job_id: str) -> str:
    """A local job's state in Slurm's words: PENDING before it starts (no id yet), COMPLETED / FAILED by
    the outcome submitit pickled (("success" | "error", …), plain builtins), RUNNING while its
    controller process lives, else UNKNOWN (killed before it wrote a result)."""
    if not job_id:
        return "PENDING"
    result = Path(folder, f"{job_id}_0_result.pkl")
    if result.is_file():
        with result.open("rb") as f:
            return "COMPLETED" if pickle.load(f)[0] == "success" else "FAILED"
    try:
        os.kill(int(job_id), 0)
    except (OSError, ValueError):
        return "UNKNOWN"
    return "RUNNING"


def work_dir_progress(work_dir: str) -> dict:
    """Round, last mIoU and the newest log of a work dir, for a job's row: the work dir's one reader
    (`workdir.read_status`) says where the run stands; nothing is locked or changed."""
    st = read_status(work_dir)
    logs = sorted(Path(work_dir).glob("*.log"), key=lambda p: p.stat().st_mtime)
    return {"round": st.last_round, "miou": st.last_mIoU, "finished": st.state == "finished",
            "log": str(logs[-1]) if logs else None}


def slurm_status(root: str) -> list[dict] | None:
    """The state of every job submitted from `root` (a run's work dir or a sweep's), or None when nothing
    was submitted from there. This is the cluster part of `segal status`; a local status can call it."""
    sub = Submission.load(root)
    if sub is None:
        return None
    ids = [j.job_id for j in sub.jobs]
    states = queue_states(ids) if sub.executor == "slurm" else {i: _local_state(sub.folder, i) for i in ids}
    rows = []
    for job in sub.jobs:
        progress = work_dir_progress(job.work_dir)
        state = states.get(job.job_id) or ("COMPLETED" if progress["finished"] else "UNKNOWN")
        rows.append({"name": job.name, "job_id": job.job_id, "state": state, "work_dir": job.work_dir,
                     "stdout": job.stdout, "stderr": job.stderr, **progress})
    return rows


def cancel(root: str) -> list[str]:
    """Stop every job submitted from `root` (scancel; for the local executor SIGINT to its controller,
    which stops its tasks: submitit's tasks ignore SIGTERM); returns their ids."""
    sub = Submission.load(root)
    if sub is None:
        return []
    ids = [j.job_id for j in sub.jobs] + list(sub.extra_job_ids)
    if sub.executor == "slurm":
        subprocess.run(["scancel", *ids], check=False)
    else:   # only live ones: a pid of a job that ended may be another process's by now
        states = [_local_state(sub.folder, j.job_id) for j in sub.jobs]
        live = [j.job_id for j, st in zip(sub.jobs, states) if st == "RUNNING"]
        for jid in live + (list(sub.extra_job_ids) if {"RUNNING", "PENDING"} & set(states) else []):
            try:
                os.kill(int(jid), signal.SIGINT)
            except (OSError, ValueError):
                pass   # already gone
    return ids


def format_status(rows: list[dict]) -> str:
    """One line per job: name, id, state, round, last mIoU, then the log paths."""
    lines = []
    for r in rows:
        miou = "-" if r["miou"] is None else f"{r['miou']:.4f}"
        rnd = "-" if r["round"] is None else str(r["round"])
        lines.append(f"{r['name']}  job {r['job_id']}  {r['state']}  round {rnd}  mIoU {miou}")
        lines.append(f"    stdout {r['stdout']}")
        lines.append(f"    stderr {r['stderr']}")
        if r["log"]:
            lines.append(f"    log    {r['log']}")
    return "\n".join(lines)


def job_extra(work_dir: str) -> dict[str, str]:
    """The scheduler's view of one work dir (a run's, or a sweep point's, whose jobs.json is in the sweep
    root): lines for `workdir.RunStatus.extra`, so the local `segal status` shows the job too. {} if none."""
    wd = osp.abspath(work_dir)
    for root in (wd, osp.dirname(wd)):
        sub = Submission.load(root)
        rec = next((j for j in sub.jobs if osp.abspath(j.work_dir) == wd), None) if sub else None
        if rec is None:
            continue
        rows = {r["job_id"]: r for r in slurm_status(root) or []}
        state = rows.get(rec.job_id, {}).get("state", "UNKNOWN")
        return {"job": f"{sub.executor} {rec.job_id} {state}", "job stdout": rec.stdout, "job stderr": rec.stderr}
    return {}
