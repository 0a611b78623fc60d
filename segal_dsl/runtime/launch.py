"""`segal run`: check the .seg file once, compile it into the work dir, check every path, then train.

The reference found missing data roots, checkpoints and base files only when they were first used,
possibly hours in (docs/reference.md §10). Every path is checked here before any work, one clear error
line each; `--dry-run` stops after that, with the plan resolved against the pool found on disk.
"""

from __future__ import annotations

import os
import os.path as osp
import shutil
import sys
from pathlib import Path

from . import preflight


def check_experiment(seg_path: str, quiet: bool = False):
    """The front end, once: the analysed `.seg` file, or None after printing its errors (`quiet`: on the
    ranks other than 0 of a distributed run, which print nothing)."""
    from segal_dsl.api import analyse, read_source

    try:
        checked = analyse(read_source(seg_path))
    except (OSError, UnicodeDecodeError) as e:
        if not quiet:
            preflight.error_line(f"cannot read {seg_path}: {e}")
        return None
    if checked.diagnostics and not quiet:
        _print_diagnostics(checked)
    return checked if checked.ok else None


def _print_diagnostics(checked) -> None:
    from segal_dsl.render import render_text

    for d in checked.diagnostics:
        src = checked.sources.get(d.span.path) if d.span is not None else None
        print(render_text(d, src), file=sys.stderr)


def _write_compiled(checked, seg_path: str, work_dir: str | None) -> tuple[str, str]:
    """<work_dir>/<experiment>.py (+ plan, + a copy of the .seg); work dir default work_dirs/<experiment>."""
    from segal_dsl.api import plan_path_for, write_atomic

    point = checked.points[0]
    name = point.plan.experiment
    work_dir = work_dir or osp.join("work_dirs", name)
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, f"{name}.py")
    text, plan = point.render(checked.source, out)  # `_base_` paths are relative to this file
    write_atomic({Path(out): text, plan_path_for(out): plan})
    shutil.copyfile(seg_path, osp.join(work_dir, "experiment.seg"))
    return out, work_dir


def run_experiment(seg_path: str, *, work_dir: str | None = None, resume: bool = False,
                   seed: int | None = None, launcher: str = "none", print_commands: bool = False,
                   dry_run: bool = False, checked=None, executor: str = "none", cluster=None,
                   wait: bool = False) -> int:
    """`segal run`: 0 on success, 1 on a failed check or run, 130 when interrupted.

    `checked` is the front end's result when the caller already has it (the CLI checks before it
    imports the runtime); the `.seg` file is analysed once either way. `executor` slurm|local submits
    the run (a sweep: a job array) through submitit with `cluster` (slurm.ClusterSettings) instead.
    """
    if not osp.isfile(seg_path):
        preflight.error_line(f"experiment file not found: {seg_path}")
        return 1
    if executor != "none":
        return _submit(seg_path, checked, work_dir=work_dir, seed=seed, executor=executor, cluster=cluster,
                       wait=wait)
    is_seg = not seg_path.endswith(".py")  # a .py is an already compiled config
    from .train import init_distributed

    distributed = init_distributed(launcher) if not dry_run else False
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    if is_seg and checked is None:  # every rank knows what the file is: a sweep runs on all of them
        checked = check_experiment(seg_path, quiet=rank != 0)
        if checked is None:
            return 1
    if is_seg and checked.is_sweep:
        from .sweep_run import run_sweep

        return run_sweep(seg_path, checked, work_dir=work_dir, resume=resume, seed=seed, launcher=launcher,
                         print_commands=print_commands, dry_run=dry_run, rank=rank)
    if dry_run:
        from .dryrun import dry_run_experiment

        return dry_run_experiment(seg_path, checked if is_seg else None)
    cfg_path = seg_path
    if is_seg:
        box = [None, work_dir]
        if rank == 0:
            try:
                box = list(_write_compiled(checked, seg_path, work_dir))
            except OSError as e:  # an unwritable or full work dir
                preflight.error_line(preflight.os_error_line(e, work_dir))
        if distributed:  # the other ranks wait here for rank 0's compile (a barrier, not a sleep)
            import torch.distributed as dist

            dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            return 1
        cfg_path, work_dir = box
    from .train import run_config

    return run_config(cfg_path, seg_path if is_seg else None, work_dir=work_dir, resume=resume, seed=seed,
                      launcher=launcher)


def _submit(seg_path: str, checked, *, work_dir: str | None, seed: int | None, executor: str, cluster,
            wait: bool) -> int:
    """Compile here, run in submitit jobs (runtime/slurm.py): the submitting shell may go away after."""
    from . import slurm

    settings = cluster or slurm.ClusterSettings()
    if seg_path.endswith(".py"):
        cfg, out_dir, name = seg_path, work_dir or osp.join("work_dirs", Path(seg_path).stem), Path(seg_path).stem
        seg = None
    else:
        if checked is None:
            checked = check_experiment(seg_path)
            if checked is None:
                return 1
        if checked.is_sweep:
            from .sweep_run import run_sweep

            def submit(seg, root, sweep_name, jobs, point_seed):
                return slurm.submit_for_sweep(executor, seg, root, sweep_name, jobs, point_seed, settings, wait)

            return run_sweep(seg_path, checked, work_dir=work_dir, resume=False, seed=seed, launcher="none",
                             submit=submit)
        try:
            cfg, out_dir = _write_compiled(checked, seg_path, work_dir)
        except OSError as e:
            preflight.error_line(preflight.os_error_line(e, work_dir))
            return 1
        seg, name = osp.abspath(seg_path), checked.points[0].plan.experiment
    if executor == "local":
        return slurm.local_run(cfg, seg, out_dir, seed, settings, name)
    sub = slurm.submit_run(executor, cfg, seg, out_dir, seed, settings, name)
    print(slurm.describe(sub, out_dir), file=sys.stderr)
    return slurm.wait_all(sub) if wait else 0


def torchrun_command(argv: list[str], *, nnodes: int, node_rank: int, nproc_per_node: int,
                     rdzv_endpoint: str | None) -> list[str]:
    """torchrun around `segal run ARGV --launcher pytorch`, for clusters without Slurm: the same command on
    every node, each with its `--node-rank`; node 0's `--rdzv-endpoint HOST:PORT` is where ranks meet
    (torchrun's static rendezvous, so node ranks are the ones given)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--node-rank={node_rank}",
           f"--nproc-per-node={nproc_per_node}"]
    if rdzv_endpoint:
        cmd.append(f"--rdzv-endpoint={rdzv_endpoint}")
    elif nnodes > 1:
        raise ValueError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (node 0's address, the same on every node)")
    return [*cmd, "-m", "segal_dsl.cli", "run", *argv, "--launcher", "pytorch"]


def run_torchrun(cmd: list[str]) -> int:
    """Run the torchrun command in the foreground; its exit code is the run's."""
    import subprocess

    try:
        return subprocess.run(cmd, check=False).returncode
    except KeyboardInterrupt:
        return 130
