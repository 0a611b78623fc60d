"""Checks of a compiled config before any work: missing `_base_` files, checkpoints and data, one line each,
and the one-line form of a failed read or write. The reference found these only when it first used them,
possibly hours in (docs/reference.md §10)."""

from __future__ import annotations

import errno
import os.path as osp
import sys

AUTO_ROOT_DATASETS = {"SegalToyDataset"}   # generated on first use: nothing to check


def error_line(msg: str) -> None:
    """Print one `error: …` line (every problem found before or during a run is one line with its fix)."""
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


def load_checked(cfg_path: str, *, seg_path: str | None = None, cfg_options: dict | None = None):
    """(mmcv Config, Contract) or None, the problems that stop the load (missing `_base_` files, a config
    that does not load), and the missing paths of the loaded config (`--cfg-options` applied first).
    `segal run` stops on either list; `--dry-run` reports the second as what a real run would stop on."""
    from .configfile import LoadFailure, load_config

    problems = missing_bases(cfg_path)
    if problems:
        return None, problems, []
    try:
        cfg, contract = load_config(cfg_path, seg_path=seg_path, cfg_options=cfg_options)
    except LoadFailure as e:
        return None, [str(e)], []
    return (cfg, contract), [], missing_paths(cfg)
