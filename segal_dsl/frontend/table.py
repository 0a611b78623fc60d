"""Render a Plan as the table `segal plan` prints (rich, colour only on a terminal)."""

from __future__ import annotations

import io

from segal_dsl.spec.budget import Estimate as Budget
from segal_dsl.spec.plan import Plan


def _fmt_px(b: Budget | None) -> tuple[str, str]:
    if b is None:
        return "—", "—"
    if b.unit == "images":
        return "—", f"{b.total:,} img" if b.total is not None else "?"
    if b.unit == "superpixels":  # clicks; their pixels are counted at run time (report.json)
        def sp(v):
            return "?" if v is None else f"{v:,.0f} sp" if float(v).is_integer() else f"{v:,.1f} sp"
        return sp(b.per_image), sp(b.total) if b.total is not None else "—"
    if b.per_image is not None:
        per = f"{b.per_image:,.0f} px" if float(b.per_image).is_integer() else f"{b.per_image:,.1f} px"
        if b.per_image_percent is not None:
            per += f" ({b.per_image_percent:.4g}%)"
    elif b.per_image_percent is not None:
        per = f"{b.per_image_percent:.4g}%"
    else:
        per = "?"
    total = f"{b.total:,} px" if b.total is not None else "—"
    return per, total


def _fmt_regions(plan: Plan, b: Budget | None) -> str:
    """Region mode: the regions a per-image quota makes (the last one cut to the quota)."""
    regions = plan.regions(b.per_image) if b is not None else None
    if regions is None:
        return "—" if b is None or b.per_image is None else "?"
    return f"{regions:,.0f}" if float(regions).is_integer() else f"{regions:,.1f}"


def render_plan(plan: Plan, colour: bool = False, width: int = 140) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if colour else None, highlight=False,
                      force_terminal=colour, soft_wrap=False)
    unit = plan.unit
    mode = plan.sample_mode
    console.print(f"experiment [bold]{plan.experiment}[/bold]: runner {plan.runner}, sample {mode}, "
                  f"heuristic {plan.heuristic}, schedule in {unit}")
    pool = plan.pool
    pool_text = ", ".join(x for x in (f"{pool.images:,} images" if pool.images else "",
                                      f"{pool.resolution[0]}x{pool.resolution[1]}" if pool.resolution else "") if x)
    console.print(f"pool: {pool_text or 'size not stated (budgets resolved at run time)'}")
    ipe = {r.iters_per_epoch for r in plan.rounds} - {None}
    if plan.batch_size and len(ipe) == 1 and mode != "image":
        console.print(f"iterations: {ipe.pop():,} per epoch on one GPU (samples_per_gpu {plan.batch_size})")
    if plan.warmup_only:
        console.print(f"MAE warm-up only: {plan.warmup} {unit}, no queries")
        return _strip(buf.getvalue())
    regions = mode == "region"
    per, total = _fmt_px(plan.initial)
    if mode == "image":
        console.print(f"initial labels: {total}")
    else:
        console.print(f"initial labels: {per} per image" + (f" = {_fmt_regions(plan, plan.initial)} regions"
                                                             if regions and plan.initial.per_image else "")
                      + (f", {total} in total" if total != "—" else ""))
    iters = unit != "iters" and any(r.iters is not None for r in plan.rounds)
    table = Table(show_lines=False, header_style="bold" if colour else None, box=None, pad_edge=False)
    columns = [("round", "right"), (f"train ({unit})", "right"), *([("iters", "right")] if iters else []),
               ("at", "right"), ("reset", "center"), ("trains on / image", "right"), ("trains on", "right"),
               ("query", "center"), ("buys / image", "right"), *([("regions / image", "right")] if regions else []),
               ("buys in total", "right")]
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=True)
    if plan.warmup:
        warm = [str(plan.warmup_iters) if plan.warmup_iters is not None else "?"] if iters else []
        table.add_row("0", str(plan.warmup), *warm, f"0→{plan.warmup}", "—", "MAE warm-up", "—", "—", "—",
                      *(["—"] if regions else []), "—")
    for r in plan.rounds:
        b_per, b_total = _fmt_px(r.budget)
        t_per, t_total = _fmt_px(r.trained_on)
        table.add_row(str(r.index), str(r.train), *([f"{r.iters:,}" if r.iters is not None else "?"] if iters else []),
                      f"{r.train_start}→{r.train_start + r.train}", "yes" if r.reset else "—", t_per, t_total,
                      "yes" if r.query else "—", b_per, *([_fmt_regions(plan, r.budget)] if regions else []), b_total)
    console.print(table)
    final_per, final_total = _fmt_px(plan.rounds[-1].cumulative)
    held = (final_total if mode == "image" else
            f"{final_per} per image" + (f" = {_fmt_regions(plan, plan.rounds[-1].cumulative)} regions"
                                        if regions and plan.rounds[-1].cumulative.per_image else "")
            + (f", {final_total} in total" if final_total != "—" else ""))
    total_iters = plan.total_iters if plan.batch_size else None
    in_iters = f" ({total_iters:,} iterations on one GPU)" if total_iters is not None and unit != "iters" else ""
    console.print(f"total: {plan.total_train + plan.warmup} {unit} of training{in_iters}, {plan.queries} queries, "
                  f"labels at the end: {held}")
    if mode == "superpixel":
        console.print("superpixels (sp): one click each; the pixels they cover are counted at run time (report.json)")
    if plan.reset_each_round:
        console.print("reset: weights, optimizer state and LR schedule start again after every query")
    return _strip(buf.getvalue())


def _strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def render_explain(rows: list[tuple[str, str, str]], colour: bool = False, width: int = 200) -> str:
    """`segal plan --explain`: (key, effective value, where it comes from) for the settings that decide the run."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if colour else None, highlight=False,
                      force_terminal=colour, soft_wrap=False)
    table = Table(show_lines=False, header_style="bold" if colour else None, box=None, pad_edge=False)
    table.add_column("setting (compiled key)", no_wrap=True)
    table.add_column("value", no_wrap=True, max_width=60)
    table.add_column("from", no_wrap=True)
    for key, value, origin in rows:
        table.add_row(key, value, origin)
    console.print()
    console.print(table)
    return _strip(buf.getvalue())
