"""`segal run` of a file with a `sweep`: every point in sequence (or the commands for a cluster), then
one report with all learning curves. Work dirs: <work_dir or work_dirs/<sweep>>/<point>/."""

from __future__ import annotations

import json
import os.path as osp
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from segal_dsl.api import write_atomic

from .runner import STATE_DIR


def run_sweep(seg_path: str, checked, *, work_dir: str | None, resume: bool, seed: int | None, launcher: str,
              print_commands: bool = False, dry_run: bool = False, rank: int = 0, submit=None) -> int:
    """Every point of an already checked sweep file (the front end ran once, in the caller).

    Under torchrun every rank comes here: rank 0 alone writes the point configs and prints, the others
    wait for it at a barrier, then all ranks train each point together."""
    source = checked.source
    sweep_name = checked.points[0].plan.sweep["name"]
    root = work_dir or osp.join("work_dirs", sweep_name)
    if rank != 0 and (dry_run or print_commands):
        return 0
    if dry_run:
        from .dryrun import dry_run_config

        code = 0
        with tempfile.TemporaryDirectory(prefix="segal-dry-run-") as tmp:
            for point in checked.points:
                cfg = osp.join(tmp, f"{point.name}.py")
                Path(cfg).write_text(point.render(source, cfg)[0], encoding="utf-8")
                print(f"== sweep point {point.name}")
                code = max(code, dry_run_config(cfg, seg_path, shown=f"{seg_path} [{point.name}]"))
        return code
    jobs = [(point, osp.join(root, point.name, f"{point.name}.py"), osp.join(root, point.name))
            for point in checked.points]
    if rank == 0:
        _write_points(seg_path, checked, jobs, root, sweep_name)
    if print_commands:  # rank 0 only (the others returned above)
        _print_commands(jobs, seed, resume, launcher)
        return 0
    if submit is not None:  # --executor slurm|local: one job per point (runtime/slurm.py)
        return submit(seg_path, root, sweep_name, jobs, seed)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # the other ranks read the configs rank 0 wrote
        dist.barrier()
    from .train import run_config

    failed = []
    for point, cfg, point_dir in jobs:
        print(f"== sweep point {point.name} ({', '.join(f'{k}={v}' for k, v in point.values.items())})",
              file=sys.stderr)
        resume_point = resume or _finished(point_dir)
        code = run_config(cfg, seg_path, work_dir=point_dir, resume=resume_point, seed=seed, launcher=launcher)
        if code != 0:
            failed.append(point.name)
            if not osp.isdir(osp.join(point_dir, STATE_DIR)):  # it stopped before training: so will the rest
                break
    if rank == 0:
        combined_report(root, sweep_name, jobs)
    if failed:
        print(f"error: sweep points failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _write_points(seg_path: str, checked, jobs: list, root: str, sweep_name: str) -> None:
    """Each point's config, plan and a copy of the .seg file, then sweep.json (the index of the points)."""
    for point, cfg, point_dir in jobs:
        text, plan = point.render(checked.source, cfg)
        write_atomic({Path(cfg): text, Path(osp.join(point_dir, f"{point.name}.plan.json")): plan})
        shutil.copyfile(seg_path, osp.join(point_dir, "experiment.seg"))
    write_atomic({Path(osp.join(root, "sweep.json")): json.dumps(
        {"sweep": sweep_name, "source": checked.source.path, "points": [
            {"name": p.name, "values": p.values, "config": c, "work_dir": d} for p, c, d in jobs]},
        indent=2, sort_keys=True) + "\n"})


def _print_commands(jobs: list, seed: int | None, resume: bool, launcher: str) -> None:
    """One `python -m segal_dsl.runtime.train` command per point, for a cluster's own scheduler."""
    for _, cfg, point_dir in jobs:
        extra = (["--seed", str(seed)] if seed is not None else []) + (["--resume"] if resume else [])
        print(shlex.join([sys.executable, "-m", "segal_dsl.runtime.train", cfg, "--work-dir", point_dir,
                          "--launcher", launcher, *extra]))


def _finished(point_dir: str) -> bool:
    # A point whose report exists already completed: rerunning the sweep continues, it never re-buys.
    return osp.isfile(osp.join(point_dir, "report.json"))


def combined_report(root: str, name: str, jobs) -> None:
    """sweep_report.json and learning_curves.png of the points that have a report (after a sweep, or its job array)."""
    from .report import curves

    series, unit, table = {}, "pixels", {}
    for point, _, point_dir in jobs:
        path = osp.join(point_dir, "report.json")
        if not osp.isfile(path):
            continue
        with open(path, encoding="utf-8") as fh:
            report = json.load(fh)
        rounds = report["rounds"] if isinstance(report, dict) else report
        label = ", ".join(f"{k}={v}" for k, v in point.values.items()) or point.name
        series[label] = rounds
        table[point.name] = {"values": point.values, "rounds": rounds}
        if isinstance(report, dict) and report.get("unit"):
            unit = report["unit"]
    write_atomic({Path(osp.join(root, "sweep_report.json")): json.dumps(table, indent=2, sort_keys=True) + "\n"})
    if series:
        curves(osp.join(root, "learning_curves.png"), series, unit, f"sweep {name}")
    print(f"sweep report: {osp.join(root, 'sweep_report.json')}, {osp.join(root, 'learning_curves.png')}",
          file=sys.stderr)
    if series:  # the page with the intervals over seeds (segal report ROOT makes the same one)
        from segal_dsl.report import write_report

        page, _ = write_report([root], osp.join(root, "report.html"))
        print(f"sweep report page: {page}", file=sys.stderr)
