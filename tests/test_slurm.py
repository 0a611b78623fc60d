"""`segal run --executor slurm` against real Slurm daemons (scripts/slurm-local.sh: slurmctld + slurmd + munged
on this host, the node sized to this machine): a sweep as a job array, a 2-rank `srun` job, a job requeued
mid-run, `segal status` / `segal cancel` from new processes.

Runs are the smallest toy schedule that shows each behaviour (a few iterations per round). The `random`
heuristic makes a run's labels depend on the seed, round and image only, so the labels of 2 ranks must
equal those of one process; the requeue test also compares the mIoU of every round, which depends on the
weights, so training resumed exactly too.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("mmseg")
pytest.importorskip("submitit")

from _cluster_helpers import DEADLINE_S, local_cluster, segal, status_rows, wait_rows
from _runtime_helpers import label_digest, records, report

pytestmark = [pytest.mark.runtime, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SEG = """experiment toy_slurm {{
    extends "{root}/examples/toy_pixel.seg"
    heuristic random
    schedule iters {{ train 2; query; train 2; query; train 1 }}
    delete visualize
}}
"""


@pytest.fixture(scope="session")
def slurm(tmp_path_factory) -> dict:
    """A running one-host cluster: the environment that reaches it (tests/_cluster_helpers.py)."""
    yield from local_cluster(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(slurm, tmp_path_factory) -> Path:
    """The same experiment in one process, without Slurm."""
    base = tmp_path_factory.mktemp("slurm-ref")
    (base / "exp.seg").write_text(SEG.format(root=ROOT))
    segal(slurm, "run", "exp.seg", "--work-dir", str(base / "wd"), cwd=base)
    return base / "wd"


def test_sweep_as_job_array(slurm, reference, tmp_path):
    """A 3-point sweep is one job array; every point writes its report, a dependent job the sweep's."""
    (tmp_path / "exp.seg").write_text(SEG.format(root=ROOT))
    (tmp_path / "sweep.seg").write_text('experiment toy_sweep {\n    extends "exp.seg"\n'
                                        '    sweep { seed 0, 1, 2 }\n}\n')
    root = tmp_path / "sweep"
    proc = segal(slurm, "run", "sweep.seg", "--executor", "slurm", "--work-dir", str(root), "--max-parallel", "2",
                 "--cpus-per-task", "1", "--time", "20", cwd=tmp_path)
    assert "segal status" in proc.stderr
    jobs = json.loads((root / "slurm" / "jobs.json").read_text())
    array_ids = {j["job_id"].split("_")[0] for j in jobs["jobs"]}
    assert len(jobs["jobs"]) == 3 and len(array_ids) == 1  # one array, three tasks
    rows = wait_rows(slurm, root)
    assert [r["state"] for r in rows] == ["COMPLETED"] * 3, rows
    assert [r["round"] for r in rows] == [2, 2, 2] and all(r["miou"] is not None for r in rows)
    index = json.loads((root / "sweep.json").read_text())
    for point in index["points"]:
        wd = Path(point["work_dir"])
        assert (wd / "report.json").is_file()
        assert [(r["planned"], r["added"]) for r in records(wd)] == [(2560, 2560)] * 3
    # seed 0 is the reference's own experiment
    assert label_digest(Path(index["points"][0]["work_dir"])) == label_digest(reference)
    report_job = jobs["extra_job_ids"][0]
    end = time.monotonic() + DEADLINE_S
    while not (root / "sweep_report.json").is_file() and time.monotonic() < end:
        time.sleep(1)
    assert sorted(json.loads((root / "sweep_report.json").read_text())) == sorted(p["name"] for p in index["points"])
    assert report_job


def test_srun_two_ranks_equal_one_process(slurm, reference, tmp_path):
    """`--tasks-per-node 2`: srun starts two ranks (gloo); their labels are those of one process."""
    (tmp_path / "exp.seg").write_text(SEG.format(root=ROOT))
    wd = tmp_path / "wd"
    segal(slurm, "run", "exp.seg", "--executor", "slurm", "--work-dir", str(wd), "--tasks-per-node", "2",
          "--cpus-per-task", "1", "--time", "20", cwd=tmp_path)
    rows = wait_rows(slurm, wd)
    assert rows[0]["state"] == "COMPLETED", rows
    assert label_digest(wd) == label_digest(reference)
    assert records(wd) == records(reference)
    log = next(wd.glob("*.log")).read_text()
    assert "world size 2" in log


def test_requeue_mid_run_resumes_exactly(slurm, reference, tmp_path):
    """`scontrol requeue` after the initial labels are committed: the job starts again, resumes, and ends
    with the labels and per-round mIoU of the uninterrupted run."""
    (tmp_path / "exp.seg").write_text(SEG.format(root=ROOT))
    wd = tmp_path / "wd"
    segal(slurm, "run", "exp.seg", "--executor", "slurm", "--work-dir", str(wd), "--cpus-per-task", "1",
          "--time", "20", cwd=tmp_path)
    job_id = json.loads((wd / "slurm" / "jobs.json").read_text())["jobs"][0]["job_id"]
    manifest = wd / "masks" / "labels.json"
    end = time.monotonic() + DEADLINE_S
    while not manifest.is_file() and time.monotonic() < end:
        time.sleep(0.2)
    assert manifest.is_file(), "the job never committed its initial labels"
    subprocess.run(["scontrol", "requeue", job_id], check=True, env=slurm)
    rows = wait_rows(slurm, wd, done=lambda rows: rows[0]["state"] == "COMPLETED" or rows[0]["state"] == "FAILED")
    assert rows[0]["state"] == "COMPLETED", rows
    show = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, env=slurm).stdout
    assert "Restarts=1" in show
    assert len(list(wd.glob("*.log"))) == 2  # one mmcv log per process start: it really ran twice
    assert label_digest(wd) == label_digest(reference)
    assert records(wd) == records(reference)
    assert [r["mIoU"] for r in report(wd)["rounds"]] == [r["mIoU"] for r in report(reference)["rounds"]]


def test_cancel_from_a_new_process(slurm, tmp_path):
    """A job held back by an extra sbatch flag (`--begin`) is cancelled by `segal cancel`."""
    (tmp_path / "exp.seg").write_text(SEG.format(root=ROOT))
    wd = tmp_path / "wd"
    segal(slurm, "run", "exp.seg", "--executor", "slurm", "--work-dir", str(wd), "--sbatch=--begin=now+1hour",
          "--time", "5", cwd=tmp_path)
    assert status_rows(slurm, wd)[0]["state"] == "PENDING"
    segal(slurm, "cancel", str(wd), cwd=tmp_path)
    assert wait_rows(slurm, wd)[0]["state"] == "CANCELLED"
