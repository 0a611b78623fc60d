"""`segal run`: check the .seg file once, compile it into the work dir, check every path, then train.

The reference found missing data roots, checkpoints and base files only when they were first used,
possibly hours in (docs/reference.md §10). Every path is checked here before any work, one clear error
line each; `--dry-run` stops after that, with the plan resolved against the pool found on disk.
"""

from __future__ import annotations

import errno
import logging
import os
import os.path as osp
import shutil
import sys
from pathlib import Path

AUTO_ROOT_DATASETS = {"SegalToyDataset"}   # generated on first use: nothing to check


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def os_error_line(e: OSError, work_dir: str | None) -> str:
    """One line for a failed read/write: what, where, and the fix (the label state is never at risk:
    every state file is replaced atomically, so the last committed one still loads)."""
    where = e.filename or work_dir or "the work dir"
    resume = "then continue with `segal run --resume` (the saved label state is intact)"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device writing {where}: free some space, {resume}"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"cannot write {where} ({e.strerror}): make {work_dir or 'the work dir'} writable or pass "
                f"another --work-dir")
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and work_dir:
        return f"cannot create the work dir {work_dir} ({e.strerror}: {where}): pass another --work-dir"
    return f"{e.strerror or e} ({where}); fix the cause, {resume}"


def missing_paths(cfg) -> list[str]:
    """One message per missing path of a loaded config: load_from, dataset roots and dirs."""
    problems = []
    if cfg.get("load_from") and not osp.isfile(cfg.load_from):
        problems.append(f"load_from checkpoint not found: {cfg.load_from} (fix: correct `load_from`; a relative "
                        "path is relative to the directory `segal run` starts in)")
    for split in ("train", "query", "val", "test"):
        sub = cfg.data.get(split) if cfg.get("data") else None
        for i, ds in enumerate(sub if isinstance(sub, (list, tuple)) else [sub] if sub else []):
            problems += _dataset_paths(ds, f"data.{split}" + (f"[{i}]" if isinstance(sub, (list, tuple)) else ""))
    return problems


def missing_bases(cfg_path: str) -> list[str]:
    """One message per `_base_` file that does not exist, at any depth (mmcv stops at the first, with a
    traceback). Read as data: nothing is imported or run."""
    from segal_dsl.diagnostics import Diagnostics
    from segal_dsl.pyconfig.evaluate import read_module
    from segal_dsl.pyconfig.load import read_text
    from segal_dsl.source import Source

    problems: list[str] = []
    seen: set[str] = set()

    def walk(path: str) -> None:
        if path in seen:
            return
        seen.add(path)
        try:
            module = read_module(Source(path, read_text(path)), Diagnostics())
        except (OSError, UnicodeDecodeError):
            return
        bases = module.values().get("_base_") if module is not None else None
        for base in [bases] if isinstance(bases, str) else bases if isinstance(bases, (list, tuple)) else []:
            if not isinstance(base, str):
                continue
            full = osp.normpath(base if osp.isabs(base) else osp.join(osp.dirname(path), base))
            if osp.isfile(full):
                walk(full)
            else:
                problems.append(f"`_base_` file not found: {base} (resolved to {full})")

    walk(cfg_path)
    return problems


def _dataset_paths(ds: dict, where: str) -> list[str]:
    if ds.get("type") in AUTO_ROOT_DATASETS and ds.get("data_root") in (None, "auto"):
        return []
    if "dataset" in ds:  # RepeatDataset & co.
        return _dataset_paths(ds["dataset"], where + ".dataset")
    out, root = [], ds.get("data_root")
    fix = " (fix: create it, or correct the path in the config / the .seg file's `mmseg` block)"
    if root and not osp.isdir(root):
        return [f"{where}.data_root not found: {root}{fix}"]
    for key, is_dir in (("img_dir", True), ("ann_dir", True), ("split", False)):
        val = ds.get(key)
        for v in val if isinstance(val, (list, tuple)) else [val] if val else []:
            full = v if osp.isabs(v) or not root else osp.join(root, v)
            if not (osp.isdir(full) if is_dir else osp.isfile(full)):
                out.append(f"{where}.{key} not found: {full}{fix}")
    return out


def check_experiment(seg_path: str):
    """The front end, once: the analysed `.seg` file, or None after printing its errors."""
    from segal_dsl.api import analyse, read_source

    try:
        checked = analyse(read_source(seg_path))
    except (OSError, UnicodeDecodeError) as e:
        _err(f"cannot read {seg_path}: {e}")
        return None
    if checked.diagnostics:
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
        _err(f"experiment file not found: {seg_path}")
        return 1
    is_seg = not seg_path.endswith(".py")  # a .py is an already compiled config
    from .train import init_distributed

    distributed = init_distributed(launcher) if not dry_run else False
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    if is_seg and rank == 0 and checked is None:
        checked = check_experiment(seg_path)
        if checked is None:
            return 1
    if is_seg and rank == 0 and checked.is_sweep:
        from .sweep_run import run_sweep

        return run_sweep(seg_path, checked, work_dir=work_dir, resume=resume, seed=seed, launcher=launcher,
                         print_commands=print_commands, dry_run=dry_run)
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
                _err(os_error_line(e, work_dir))
        if distributed:  # the other ranks wait here for rank 0's compile (a barrier, not a sleep)
            import torch.distributed as dist

            dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            return 1
        cfg_path, work_dir = box
    return launch_config(cfg_path, seg_path if is_seg else None, work_dir=work_dir, resume=resume, seed=seed,
                         launcher=launcher)


def launch_config(cfg_path: str, seg_path: str | None, *, work_dir: str | None, resume: bool, seed: int | None,
                  launcher: str) -> int:
    """Check the paths of a compiled config, then train it; every failure is one line."""
    from .configfile import LoadFailure, load_config
    from .train import train_config

    problems = missing_bases(cfg_path)
    if not problems:
        try:
            cfg, _ = load_config(cfg_path, seg_path=seg_path)
        except LoadFailure as e:
            _err(str(e))
            return 1
        problems = missing_paths(cfg)
    for p in problems:
        _err(p)
    if problems:
        return 1
    debug = bool(os.environ.get("SEGAL_DEBUG"))
    if not debug:  # a full disk fails the log file too: no "--- Logging error ---" tracebacks, one line
        logging.raiseExceptions = False
    try:
        return train_config(cfg_path, work_dir=work_dir, resume=resume, seed=seed, launcher=launcher,
                            seg_path=seg_path)
    except KeyboardInterrupt:
        _err("interrupted; continue with `segal run --resume`")
        return 130
    except OSError as e:  # a full disk, an unwritable work dir: one line with the fix
        if debug:
            raise
        _err(os_error_line(e, work_dir))
        return 1
    except (ValueError, RuntimeError) as e:  # config / state problems: one line (SEGAL_DEBUG=1: traceback)
        if debug:
            raise
        _err(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 1
