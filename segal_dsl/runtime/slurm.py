"""`segal run --executor slurm|local`: a run as one job, a sweep as a job array, through submitit.

Inside a job, submitit starts one task per rank with `srun` (one per GPU); a job of several tasks gets
torch.distributed's variables from Slurm's (submitit's TorchDistributedEnvironment) and runs with the
`pytorch` launcher. A job that is pre-empted, timed out or requeued (`scontrol requeue`) starts again
with the exact `--resume` of docs/runtime.md: labels are committed atomically after every query, so
none is lost or bought twice. Job ids and submitit's folder are kept under <work dir>/slurm/.
"""

from __future__ import annotations

import os
import os.path as osp
import shlex
import sys
import time
from dataclasses import dataclass

import submitit

from segal_dsl.cluster import JOBS_DIR, JobRecord, Submission

from .runner import STATE_DIR


@dataclass(frozen=True)
class ClusterSettings:
    """Where and how big a job is: the `launch { slurm { … } }` block, overridden by the command line."""

    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None     # default: one per GPU, else 1
    cpus_per_task: int | None = None
    time_min: int = 60
    account: str | None = None
    sbatch: tuple[str, ...] = ()          # extra sbatch flags, `--qos=high`, `--exclusive`
    max_parallel: int | None = None       # array tasks running at once
    max_requeues: int = 3                 # after a time-out (pre-emptions do not count)

    @property
    def tasks(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)


def sbatch_flags(flags: tuple[str, ...]) -> dict:
    """`--qos=high` -> {"qos": "high"}, `--exclusive` -> {"exclusive": True} (submitit's additional_parameters)."""
    out: dict = {}
    for flag in flags:
        key, eq, value = flag.lstrip("-").partition("=")
        if not flag.startswith("--") or not key:
            raise ValueError(f"sbatch flag {flag!r} must look like --name=value or --name")
        out[key.replace("-", "_")] = value if eq else True
    return out


class ExperimentJob(submitit.helpers.Checkpointable):
    """One run in a job: every task is a rank; a restarted job always resumes what its work dir holds.

    Checkpointable: on Slurm's time-out / pre-emption signal submitit requeues the same call, which
    continues from the last committed step (the state on disk is the checkpoint)."""

    def __init__(self, cfg: str, seg_path: str | None, work_dir: str, seed: int | None) -> None:
        self.cfg, self.seg_path, self.work_dir, self.seed = cfg, seg_path, work_dir, seed

    def __call__(self) -> int:
        env = submitit.JobEnvironment()
        launcher = "none"
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            launcher = "pytorch"
        resume = osp.isdir(osp.join(self.work_dir, STATE_DIR)) or osp.isfile(osp.join(self.work_dir, "masks",
                                                                                         "labels.json"))
        from .train import run_config

        code = run_config(self.cfg, self.seg_path, work_dir=self.work_dir, resume=resume, seed=self.seed,
                          launcher=launcher)
        if code != 0:
            raise RuntimeError(f"segal run of {self.cfg} exited with {code}; see its log in {self.work_dir}")
        return code


@dataclass(frozen=True)
class PointRef:
    """A sweep point as the report job needs it (a checked point itself does not pickle)."""

    name: str
    values: dict


class SweepReportJob:
    """After every point of an array: the sweep's combined report (it runs whatever the points did)."""

    def __init__(self, root: str, name: str, jobs: list) -> None:
        self.root, self.name = root, name
        self.jobs = [(PointRef(p.name, dict(p.values)), cfg, d) for p, cfg, d in jobs]

    def __call__(self) -> str:
        from .sweep_run import combined_report

        combined_report(self.root, self.name, self.jobs)
        return osp.join(self.root, "sweep_report.json")


def executor(kind: str, folder: str, settings: ClusterSettings, name: str):
    """A submitit executor for `kind` (slurm | local) with the job's size and limits."""
    if kind == "local":
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=settings.time_min, tasks_per_node=settings.tasks, nodes=1)
        return ex
    ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=settings.max_requeues)
    params = dict(job_name=name, time=settings.time_min, nodes=settings.nodes, ntasks_per_node=settings.tasks,
                  cpus_per_task=settings.cpus_per_task, partition=settings.partition, account=settings.account,
                  gpus_per_node=settings.gpus_per_node or None, array_parallelism=settings.max_parallel or 256,
                  additional_parameters={"requeue": True, **sbatch_flags(settings.sbatch)})
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def _record(name: str, job, work_dir: str) -> JobRecord:
    return JobRecord(name, str(job.job_id), work_dir, str(job.paths.stdout).replace("%t", "0"),
                     str(job.paths.stderr).replace("%t", "0"))


def submit_run(kind: str, cfg: str, seg_path: str | None, work_dir: str, seed: int | None,
               settings: ClusterSettings, name: str) -> Submission:
    """Submit one compiled run; the job ids go to <work_dir>/slurm/jobs.json before this returns."""
    folder = osp.abspath(osp.join(work_dir, JOBS_DIR))
    job = executor(kind, folder, settings, name).submit(ExperimentJob(osp.abspath(cfg), seg_path,
                                                                      osp.abspath(work_dir), seed))
    sub = Submission(kind, "run", (_record(name, job, osp.abspath(work_dir)),), folder)
    sub.save(work_dir)
    return sub


def local_run(cfg: str, seg_path: str | None, work_dir: str, seed: int | None, settings: ClusterSettings,
              name: str) -> int:
    """`segal run exp.seg --executor local`: the run as one local job, waited for."""
    wd = osp.abspath(work_dir)
    return run_local([(name, ExperimentJob(osp.abspath(cfg), seg_path, wd, seed), wd)], work_dir, "run", settings, name)


def submit_sweep(kind: str, seg_path: str, root: str, sweep_name: str, jobs: list, seed: int | None,
                 settings: ClusterSettings) -> Submission:
    """Every point as one task of a job array (at most `max_parallel` at once), then a report job that
    depends on the whole array (Slurm's afterany)."""
    folder = osp.abspath(osp.join(root, JOBS_DIR))
    ex = executor(kind, folder, settings, sweep_name)
    with ex.batch():
        handles = [ex.submit(ExperimentJob(osp.abspath(cfg), seg_path, osp.abspath(d), seed)) for _, cfg, d in jobs]
    records = tuple(_record(p.name, h, osp.abspath(d)) for (p, _, d), h in zip(jobs, handles, strict=True))
    extra: tuple[str, ...] = ()
    if kind == "slurm":
        rex = executor(kind, folder, ClusterSettings(partition=settings.partition, account=settings.account,
                                                     time_min=10, cpus_per_task=1), f"{sweep_name}-report")
        rex.update_parameters(dependency=f"afterany:{handles[0].job_id.split('_')[0]}")
        extra = (str(rex.submit(SweepReportJob(osp.abspath(root), sweep_name, jobs)).job_id),)
    sub = Submission(kind, "sweep", records, folder, extra)
    sub.save(root)
    return sub


def submit_for_sweep(kind: str, seg_path: str, root: str, sweep_name: str, jobs: list, seed: int | None,
                     settings: ClusterSettings, wait: bool) -> int:
    """`segal run sweep.seg --executor …` after the point configs are written: submit, tell, maybe wait
    (the local executor always waits, then writes the sweep's report itself)."""
    if kind == "local":
        calls = [(p.name, ExperimentJob(osp.abspath(cfg), osp.abspath(seg_path), osp.abspath(d), seed), osp.abspath(d))
                 for p, cfg, d in jobs]
        code = run_local(calls, root, "sweep", settings, sweep_name)
        SweepReportJob(osp.abspath(root), sweep_name, jobs)()
        return code
    sub = submit_sweep(kind, osp.abspath(seg_path), root, sweep_name, jobs, seed, settings)
    print(describe(sub, root), file=sys.stderr)
    return wait_all(sub) if wait else 0


def run_local(calls: list, root: str, kind: str, settings: ClusterSettings, name: str) -> int:
    """submitit's local executor: each (name, ExperimentJob, work dir) of `calls` in a subprocess of this
    shell, at most `settings.max_parallel` at once (all when unset), waited for here. jobs.json is
    rewritten as each one starts, so `segal status` from another shell sees them (one not started yet
    has no job id: PENDING there), and it names this process too, which `segal cancel` interrupts with
    the jobs so that no further one starts. 0 when all succeed, 130 when interrupted."""
    folder = osp.abspath(osp.join(root, JOBS_DIR))
    ex = executor("local", folder, settings, name)
    limit = settings.max_parallel or len(calls)
    records = [JobRecord(n, "", wd, "", "") for n, _, wd in calls]
    running: dict = {}
    code, started = 0, 0
    try:
        while started < len(calls) or running:
            told = started > 0
            while started < len(calls) and len(running) < limit:
                n, call, wd = calls[started]
                running[started] = ex.submit(call)
                records[started] = _record(n, running[started], wd)
                sub = Submission("local", kind, tuple(records), folder, (str(os.getpid()),))
                sub.save(root)
                started += 1
            if not told:
                print(describe(sub, root), file=sys.stderr)
            for i, job in list(running.items()):
                if job.done():  # its controller process has exited (after writing the result pickle)
                    del running[i]
                    code |= _job_failed(records[i], job)
            if running:
                time.sleep(1)
    except KeyboardInterrupt:
        for job in running.values():
            job.cancel()   # SIGINT to the controller, which stops its tasks
        print(f"interrupted: {len(running)} running job(s) stopped, {len(calls) - started} not started",
              file=sys.stderr)
        return 130
    return code


def _job_failed(rec: JobRecord, job) -> int:
    """1 (and one line naming it) when the job failed, else 0; its traceback is in its log."""
    try:
        job.result()
    except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as e:
        print(f"error: {rec.name} (job {rec.job_id}) failed: {str(e).strip().splitlines()[-1]}", file=sys.stderr)
        return 1
    return 0


def wait_all(sub: Submission) -> int:
    """Wait for every Slurm job of a submission (`--wait`): 0 when all succeed (each failure named, one line)."""
    return max((_job_failed(rec, submitit.SlurmJob(sub.folder, rec.job_id)) for rec in sub.jobs), default=0)


def describe(sub: Submission, root: str) -> str:
    """What to tell the user after submitting."""
    started = [j.job_id for j in sub.jobs if j.job_id]   # a local job not started yet has no id
    later = f" ({len(sub.jobs) - len(started)} more as these end)" if len(started) < len(sub.jobs) else ""
    return (f"submitted {len(started)} job(s) ({sub.executor}): {', '.join(started)}{later}\n"
            f"    state:  segal status {shlex.quote(root)}\n    cancel: segal cancel {shlex.quote(root)}")
