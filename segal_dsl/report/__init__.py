"""`segal report WORK_DIR…`: one self-contained HTML page and the same numbers as JSON (no torch).

data.py reads the work dirs and computes the numbers, stats.py the intervals, page.py draws the page.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from segal_dsl.workdir import read_json

from .data import collect, summarise

__all__ = ["collect", "summarise", "write_report"]


def write_report(dirs: list[str], out: str | os.PathLike, *, fraction: float = 0.9,
                 ceiling: float | None = None) -> tuple[Path, Path]:
    """Write OUT (HTML) and OUT with .data.json (the summary, paths relative to OUT's folder); returns both.

    Raises ValueError when no dir holds a finished round."""
    from segal_dsl.api import write_atomic

    from .page import render

    out = Path(out)
    base = out.parent.resolve()
    runs = collect([Path(d).resolve() for d in dirs], base)
    if not runs:
        raise ValueError(f"no finished round in {', '.join(dirs)} (nothing to report yet)")
    summary = summarise(runs, fraction=fraction, ceiling=ceiling)
    sweep = read_json(Path(dirs[0]) / "sweep.json") if len(dirs) == 1 else None
    title = (f"sweep {sweep['sweep']}" if isinstance(sweep, dict) else
             runs[0]["plan"].get("experiment") or runs[0]["name"] if len(runs) == 1 else
             f"{len(runs)} runs")
    summary["title"] = title
    json_path = out.with_suffix(".data.json")  # never the run's own report.json
    write_atomic({out: render(summary, base, f"segal report: {title}"),
                  json_path: json.dumps(summary, indent=1, sort_keys=True) + "\n"})
    return out, json_path
