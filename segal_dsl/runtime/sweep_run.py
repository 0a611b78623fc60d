"""`segal run` of a file with a `sweep`: every point in sequence (or the commands for a cluster), then
one report with all learning curves. Work dirs: <work_dir or work_dirs/<sweep>>/<point>/."""

from __future__ import annotations

import json
import os
import os.path as osp
import shlex
import shutil
import sys
from pathlib import Path

from segal_dsl.api import analyse, compile_source, read_source, write_atomic
from segal_dsl.render import render_text


def run_sweep(seg_path: str, *, work_dir: str | None, resume: bool, seed: int | None, launcher: str,
              print_commands: bool = False) -> int:
    source = read_source(seg_path)
    probe = analyse(source)  # checks the file and names the sweep, without emitting anything
    if not probe.ok:
        for d in probe.diagnostics:
            print(render_text(d, probe.sources.get(d.span.path) if d.span else None), file=sys.stderr)
        return 1
    sweep_name = probe.points[0].plan.sweep["name"]
    root = work_dir or osp.join("work_dirs", sweep_name)
    # Every point's config sits at the same depth (<root>/<point>/<point>.py): one compile serves all.
    result = compile_source(source, osp.join(root, "point", "point.py"))
    jobs = []
    for point in result.points:
        point_dir = osp.join(root, point.name)
        cfg = osp.join(point_dir, f"{point.name}.py")
        write_atomic({Path(cfg): point.config, Path(osp.join(point_dir, f"{point.name}.plan.json")): point.plan_json})
        shutil.copyfile(seg_path, osp.join(point_dir, "experiment.seg"))
        jobs.append((point, cfg, point_dir))
    write_atomic({Path(osp.join(root, "sweep.json")): json.dumps(
        {"sweep": sweep_name, "source": source.path, "points": [
            {"name": p.name, "values": p.values, "config": c, "work_dir": d} for p, c, d in jobs]},
        indent=2, sort_keys=True) + "\n"})
    if print_commands:
        for _, cfg, point_dir in jobs:
            extra = (["--seed", str(seed)] if seed is not None else []) + (["--resume"] if resume else [])
            print(shlex.join([sys.executable, "-m", "segal_dsl.runtime.train", cfg, "--work-dir", point_dir,
                              "--launcher", launcher, *extra]))
        return 0
    from .launch import missing_paths
    from .train import train_config

    failed = []
    for point, cfg, point_dir in jobs:
        print(f"== sweep point {point.name} ({', '.join(f'{k}={v}' for k, v in point.values.items())})",
              file=sys.stderr)
        problems = missing_paths(cfg)
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        if problems:
            return 1
        resume_point = resume or _finished(point_dir)
        if train_config(cfg, work_dir=point_dir, resume=resume_point, seed=seed, launcher=launcher) != 0:
            failed.append(point.name)
    _combined_report(root, sweep_name, jobs)
    if failed:
        print(f"error: sweep points failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _finished(point_dir: str) -> bool:
    # A point whose report exists already completed: rerunning the sweep continues, it never re-buys.
    return osp.isfile(osp.join(point_dir, "report.json"))


def _combined_report(root: str, name: str, jobs) -> None:
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
