"""`segal run --dry-run` and `python -m segal_dsl.runtime.train cfg.py --dry-run`: everything a run does
before training, then the plan `segal plan` prints, resolved against the pool found on disk. Trains nothing.

The config is loaded exactly as a run loads it (configfile.load_config: import roots, custom imports,
mmcv, the contract). Missing data is reported, one line each, as what would stop the real run; the
plan then uses the pool the `.seg` file states.
"""

from __future__ import annotations

import os.path as osp
import sys
import tempfile

from segal_dsl.spec.plan import Plan, Pool, plan_of


def dry_run_experiment(seg_path: str, checked, out=None) -> int:
    """A checked `.seg` file (compiled into a temporary folder), or a compiled config when `checked` is None."""
    if checked is None:
        return dry_run_config(seg_path, None, out=out)
    with tempfile.TemporaryDirectory(prefix="segal-dry-run-") as tmp:
        point = checked.points[0]
        cfg_path = osp.join(tmp, f"{point.plan.experiment}.py")
        text, _ = point.render(checked.source, cfg_path)
        with open(cfg_path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return dry_run_config(cfg_path, seg_path, shown=seg_path, out=out)


def dry_run_config(cfg_path: str, seg_path: str | None, *, cfg_options: dict | None = None,
                   shown: str | None = None, out=None) -> int:
    """0 when the run would start (missing data is listed, not fatal here), 1 when it could not."""
    from segal_dsl.frontend.table import render_plan

    from .preflight import load_checked

    out = out or sys.stdout
    name = shown or cfg_path
    loaded, problems, missing = load_checked(cfg_path, seg_path=seg_path, cfg_options=cfg_options)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if loaded is None:
        return 1
    cfg, contract = loaded
    imports = ", ".join(contract.imports) or "none"
    print(f"dry run of {name}: the config loads, its contract holds, imports work ({imports})", file=out)
    for p in missing:
        print(f"warning: {p} (a real run stops here)", file=out)
    plan, where = resolved_plan(cfg, contract, pool_found=not missing)
    print(f"pool: {where}", file=out)
    out.write(render_plan(plan))
    print("nothing was trained (dry run)", file=out)
    return 0


def resolved_plan(cfg, contract, *, pool_found: bool) -> tuple[Plan, str]:
    """The plan against the real pool when its data is there, else against the pool the `.seg` states."""
    stated = Pool(contract.pool_images, tuple(contract.scale_size) if contract.scale_size else None)
    if not pool_found or not cfg.get("data"):
        why = "data not found" if cfg.get("data") else "the config has no `data`"
        return plan_of(contract, stated), f"{why}: budgets from the pool the .seg file states"
    from mmseg.datasets import build_dataset

    from .pipelines import pool_sizes, query_cfg_of

    query = build_dataset(query_cfg_of(cfg, contract), dict(test_mode=True))
    sizes = tuple(pool_sizes(query, contract.scale_size)) if contract.mode != "image" else None
    pool = Pool(len(query), stated.resolution, sizes)
    if sizes and len(set(sizes)) == 1:
        pool = Pool(len(query), (sizes[0][1], sizes[0][0]))
    return plan_of(contract, pool), f"{len(query):,} images found on disk ({'data.query' if cfg.data.get('query') else 'data.train'})"
