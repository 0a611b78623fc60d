"""Jobs that outlive their limits or their shell: a Slurm job whose time limit runs out mid-run is signalled,
requeued by submitit and resumed exactly (real daemons, scripts/slurm-local.sh), and a sweep through
submitit's local executor, at most `--max-parallel` points at once, seen finished by `segal status`.

The time-out is Slurm's own: `--signal=USR2@90` (submitit's sbatch script: the signal 90 s before the
limit), sent by slurmctld's time-limit check, which runs every 30 s. The job is submitted with a 10-minute
limit and, once its initial labels are committed, `scontrol update JobId=… EndTime=now+60` brings the end
of the limit to a minute away (what an administrator does to a running job), so the next check signals
it. submitit counts a USR2 as a time-out when the job has used min(80 %, limit − 10 min) of its limit,
i.e. always for a limit of 10 minutes or less, so the run meets the time-out path itself (requeue with
one time-out fewer left), not the pre-emption one. Once requeued, its limit is put back to 10 minutes,
and it resumes: the labels, records and per-round mIoU must equal those of an uninterrupted run. Four
rounds of 120 iterations keep the job running past that check (up to 30 s after the update; ~50 s of
training at 0.1 s an iteration) wherever the signal lands, and a resumed job replays at most one of them
(a round's training is committed as one step); `entropy` makes every round's labels depend on the
weights trained before them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mmseg")
pytest.importorskip("submitit")

from _cluster_helpers import DEADLINE_S, ENDED, job_env, local_cluster, segal, status_rows, wait_rows
from _runtime_helpers import label_digest, records, report

pytestmark = [pytest.mark.runtime, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIN = 10   # submitit treats any USR2 as a time-out at this limit (module docstring)
TIMEOUT_SEG = """experiment toy_timeout {{
    extends "{root}/examples/toy_pixel.seg"
    heuristic entropy
    schedule iters {{ train 2; query; (train 120; query) x4; train 2 }}
    delete visualize
}}
"""
SWEEP_SEG = """experiment toy_local {{
    extends "{root}/examples/toy_pixel.seg"
    heuristic random
    schedule iters {{ train 2; query; train 2; query; train 1 }}
    delete visualize
    sweep {{ seed 0, 1 }}
}}
"""
LONG_POINT = "train 2; query; train 2; query; train 1", "train 2; query; train 100; query; train 1"


@pytest.fixture(scope="session")
def slurm(tmp_path_factory) -> dict:
    """A running one-host cluster: the environment that reaches it (tests/_cluster_helpers.py)."""
    yield from local_cluster(tmp_path_factory)


def _show(env: dict, job_id: str) -> dict:
    """`scontrol show job` as a dict of its KEY=VALUE fields."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, env=env,
                         check=True).stdout
    return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)


def _wait_for(path: Path) -> bool:
    """Whether `path` appeared (polled; DEADLINE_S guards a hung job)."""
    end = time.monotonic() + DEADLINE_S
    while not path.is_file() and time.monotonic() < end:
        time.sleep(0.2)
    return path.is_file()


def _wait_job(env: dict, job_id: str, done) -> dict:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        fields = _show(env, job_id)
        if done(fields):
            return fields
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never got there: {fields}")


def test_time_limit_mid_run_requeues_and_resumes_exactly(slurm, tmp_path):
    """Slurm signals the job its limit is near, submitit requeues it (a time-out), the job resumes from its
    committed state and ends with the labels, records and per-round mIoU of an uninterrupted run."""
    (tmp_path / "exp.seg").write_text(TIMEOUT_SEG.format(root=ROOT))
    with (tmp_path / "ref.err").open("w") as ref_log:   # the uninterrupted run, at the same time as the job
        ref = subprocess.Popen([sys.executable, "-m", "segal_dsl.cli", "run", "exp.seg", "--work-dir",
                                str(tmp_path / "ref")], cwd=tmp_path, env=slurm, stdout=subprocess.DEVNULL, stderr=ref_log)
    wd = tmp_path / "wd"
    try:
        segal(slurm, "run", "exp.seg", "--executor", "slurm", "--work-dir", str(wd), "--cpus-per-task", "1",
              "--time", str(LIMIT_MIN), cwd=tmp_path)
        job_id = json.loads((wd / "slurm" / "jobs.json").read_text())["jobs"][0]["job_id"]
        _time_out_once(slurm, wd, job_id)
        rows = wait_rows(slurm, wd, done=lambda rows: rows[0]["state"] in ENDED)
        assert ref.wait(timeout=DEADLINE_S) == 0, (tmp_path / "ref.err").read_text()[-3000:]
    finally:
        ref.kill()
        segal(slurm, "cancel", str(wd), cwd=tmp_path, check=False)
    assert rows[0]["state"] == "COMPLETED", rows
    assert rows[0]["finished"] and rows[0]["round"] == 5
    assert _show(slurm, job_id)["Restarts"] == "1"
    log = Path(rows[0]["stdout"]).read_text() + Path(rows[0]["stderr"]).read_text()  # both starts: --open-mode=append
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log, log[-3000:]
    assert f"Requeued job {job_id} (2 remaining timeouts)" in log, log[-3000:]
    first, second = sorted(wd.glob("*.log"))   # one mmcv log per process start: it really ran twice
    assert "resumed at workflow step" not in first.read_text()
    assert re.search(r"resumed at workflow step [1-9]", second.read_text())   # not from the start again

    reference = tmp_path / "ref"
    assert label_digest(wd) == label_digest(reference)
    assert records(wd) == records(reference)
    assert [r["mIoU"] for r in report(wd)["rounds"]] == [r["mIoU"] for r in report(reference)["rounds"]]


def _time_out_once(env: dict, wd: Path, job_id: str) -> None:
    """Once the job has committed its initial labels, bring the end of its limit to a minute away; when
    submitit has requeued it, give it its limit back."""
    assert _wait_for(wd / "masks" / "labels.json"), "the job never committed its initial labels"
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "EndTime=now+60"], check=True, env=env)
    fields = _wait_job(env, job_id, lambda f: int(f["Restarts"]) >= 1 or f["JobState"] in ENDED)
    assert int(fields["Restarts"]) == 1, ("the job ended before Slurm's next time-limit check signalled it "
                                          f"(lengthen its rounds): {fields}")
    subprocess.run(["scontrol", "update", f"JobId={job_id}", f"TimeLimit={LIMIT_MIN}"], check=True, env=env)


def test_local_executor_sweep_one_point_at_a_time(tmp_path_factory, tmp_path):
    """`segal run SWEEP --executor local --max-parallel 1`: submitit's local executor runs the points one
    after the other (a point's job is submitted only once the previous one has written its result),
    every point's report is written, and `segal status` from a new process shows them finished."""
    env = job_env(tmp_path_factory)
    (tmp_path / "sweep.seg").write_text(SWEEP_SEG.format(root=ROOT))
    root = tmp_path / "sweep"
    proc = segal(env, "run", "sweep.seg", "--executor", "local", "--work-dir", str(root), "--max-parallel", "1",
                 cwd=tmp_path)
    assert "submitted 1 job(s) (local)" in proc.stderr and "(1 more as these end)" in proc.stderr, proc.stderr
    jobs = json.loads((root / "slurm" / "jobs.json").read_text())
    assert jobs["executor"] == "local" and len(jobs["jobs"]) == 2 and all(j["job_id"] for j in jobs["jobs"])
    folder, (first, second) = Path(jobs["folder"]), (j["job_id"] for j in jobs["jobs"])
    # submitit pickles a call just before it starts it, and writes its result when it ends
    assert (folder / f"{first}_0_result.pkl").stat().st_mtime <= (folder / f"{second}_submitted.pkl").stat().st_mtime

    index = json.loads((root / "sweep.json").read_text())
    for point in index["points"]:
        wd = Path(point["work_dir"])
        assert (wd / "report.json").is_file()
        assert [(r["planned"], r["added"]) for r in records(wd)] == [(2560, 2560)] * 3
    assert label_digest(Path(index["points"][0]["work_dir"])) != label_digest(Path(index["points"][1]["work_dir"]))
    assert sorted(json.loads((root / "sweep_report.json").read_text())) == sorted(p["name"] for p in index["points"])

    rows = status_rows(env, root)
    assert [r["name"] for r in rows] == [p["name"] for p in index["points"]]
    assert [(r["state"], r["finished"], r["round"]) for r in rows] == [("COMPLETED", True, 2)] * 2, rows


def test_cancel_a_local_sweep_from_a_new_process(tmp_path_factory, tmp_path):
    """`segal cancel` of a local sweep while its first point trains: the point's job is interrupted (its
    run says so), the second never starts, the submitting `segal run` stops with 130."""
    env = job_env(tmp_path_factory)
    (tmp_path / "sweep.seg").write_text(SWEEP_SEG.format(root=ROOT).replace(*LONG_POINT))
    root = tmp_path / "sweep"
    with (tmp_path / "run.err").open("w") as err:
        run = subprocess.Popen([sys.executable, "-m", "segal_dsl.cli", "run", "sweep.seg", "--executor", "local",
                                "--work-dir", str(root), "--max-parallel", "1"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=err)
    try:
        _wait_for(root / "sweep.json")   # the points' work dirs, written before the first job starts
        first = json.loads((root / "sweep.json").read_text())["points"][0]["work_dir"]
        assert _wait_for(Path(first, "masks", "labels.json")), (tmp_path / "run.err").read_text()[-3000:]
        segal(env, "cancel", str(root), cwd=tmp_path)
        assert run.wait(timeout=DEADLINE_S) == 130, (tmp_path / "run.err").read_text()[-3000:]
    finally:
        run.kill()
    assert "interrupted: 1 running job(s) stopped, 1 not started" in (tmp_path / "run.err").read_text()
    rows = status_rows(env, root)
    assert [(r["state"], r["finished"]) for r in rows] == [("FAILED", False), ("PENDING", False)], rows
    assert "interrupted; continue with `segal run --resume`" in Path(rows[0]["stderr"]).read_text()
