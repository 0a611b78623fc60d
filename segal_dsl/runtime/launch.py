"""`segal run`: compile the .seg file into the work dir, check every path it names, then train.

Reference §10 found missing data roots, checkpoints and base files only when they were first used,
possibly hours in. Every path is checked here before any work, one clear error line each.
"""

from __future__ import annotations

import ast
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


def _base_files(cfg_path: str) -> list[str]:
    """`_base_` entries of a config file, read with ast (mmcv fails on a missing one with a traceback)."""
    tree = ast.parse(Path(cfg_path).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_base_" for t in node.targets):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def missing_paths(cfg_path: str) -> list[str]:
    """One message per missing path: `_base_` files, load_from, dataset roots and dirs."""
    problems = []
    here = osp.dirname(osp.abspath(cfg_path))
    for base in _base_files(cfg_path):
        full = base if osp.isabs(base) else osp.join(here, base)
        if not osp.isfile(full):
            problems.append(f"`_base_` file not found: {base} (resolved to {osp.normpath(full)})")
    if problems:
        return problems  # the config cannot be loaded without them
    import mmcv

    try:
        cfg = mmcv.Config.fromfile(cfg_path)
    except ImportError as e:
        return [f"custom import failed: {e}"]
    if cfg.get("load_from") and not osp.isfile(cfg.load_from):
        problems.append(f"load_from checkpoint not found: {cfg.load_from} (fix: correct `load_from`; a relative "
                        "path is relative to the directory `segal run` starts in)")
    for split in ("train", "query", "val", "test"):
        sub = cfg.data.get(split)
        for i, ds in enumerate(sub if isinstance(sub, (list, tuple)) else [sub] if sub else []):
            problems += _dataset_paths(ds, f"data.{split}" + (f"[{i}]" if isinstance(sub, (list, tuple)) else ""))
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


def _compile(seg_path: str, work_dir: str | None) -> tuple[str, str]:
    """Compile into <work_dir>/<experiment>.py (work dir default: work_dirs/<experiment>); returns
    (config path, work dir). The experiment's name comes from checking the file, before anything is written."""
    from segal_dsl.api import analyse, compile_file, read_source
    from segal_dsl.diagnostics import SegalError

    checked = analyse(read_source(seg_path))
    if not checked.ok:
        raise SegalError(checked.diagnostics, checked.sources)
    name = checked.plan.experiment.name
    work_dir = work_dir or osp.join("work_dirs", name)
    os.makedirs(work_dir, exist_ok=True)
    out = osp.join(work_dir, f"{name}.py")
    compile_file(seg_path, out)  # compiled in place: `_base_` paths are relative to this file
    shutil.copyfile(seg_path, osp.join(work_dir, "experiment.seg"))
    return out, work_dir


def _report_compile_error(e: Exception) -> None:
    diags = getattr(e, "diagnostics", None)
    if not diags:
        _err(f"cannot compile: {e}")
        return
    from segal_dsl.render import render_text

    sources = getattr(e, "sources", {}) or {}
    for d in diags:
        src = sources.get(d.span.path) if getattr(d, "span", None) is not None else None
        print(render_text(d, src), file=sys.stderr)


def _is_sweep(seg_path: str) -> bool:
    from segal_dsl.api import analyse, read_source

    return analyse(read_source(seg_path)).is_sweep


def run_experiment(seg_path: str, *, work_dir: str | None = None, resume: bool = False,
                   seed: int | None = None, launcher: str = "none", print_commands: bool = False) -> int:
    """`segal run`: 0 on success, 1 on a failed check or run, 130 when interrupted."""
    if not osp.isfile(seg_path):
        _err(f"experiment file not found: {seg_path}")
        return 1
    if seg_path.endswith(".seg") and _is_sweep(seg_path):
        from .sweep_run import run_sweep

        return run_sweep(seg_path, work_dir=work_dir, resume=resume, seed=seed, launcher=launcher,
                         print_commands=print_commands)
    from .train import init_distributed, train_config

    distributed = init_distributed(launcher)
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    cfg_path = seg_path
    if not seg_path.endswith(".py"):  # a .seg file; a .py is an already compiled config
        box = [None, work_dir]
        if rank == 0:
            try:
                box = list(_compile(seg_path, work_dir))
            except OSError as e:  # an unwritable or full work dir
                _err(os_error_line(e, work_dir))
            except Exception as e:  # noqa: BLE001 - report any compile failure, then stop
                _report_compile_error(e)
        if distributed:  # the other ranks wait here for rank 0's compile (a barrier, not a sleep)
            import torch.distributed as dist

            dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            return 1
        cfg_path, work_dir = box
    problems = missing_paths(cfg_path)
    for p in problems:
        _err(p)
    if problems:
        return 1
    debug = bool(os.environ.get("SEGAL_DEBUG"))
    if not debug:  # a full disk fails the log file too: no "--- Logging error ---" tracebacks, one line
        logging.raiseExceptions = False
    try:
        return train_config(cfg_path, work_dir=work_dir, resume=resume, seed=seed, launcher=launcher)
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
