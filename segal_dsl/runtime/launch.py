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
                   dry_run: bool = False, checked=None) -> int:
    """`segal run`: 0 on success, 1 on a failed check or run, 130 when interrupted.

    `checked` is the front end's result when the caller already has it (the CLI checks before it
    imports the runtime); the `.seg` file is analysed once either way.
    """
    if not osp.isfile(seg_path):
        preflight.error_line(f"experiment file not found: {seg_path}")
        return 1
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
