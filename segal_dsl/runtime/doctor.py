"""`segal doctor`: which parts of the runtime stack are installed, which are missing, and the fix.

Reads versions from package metadata and imports each package in turn, so a broken install (e.g. an
mmcv-full wheel built against another torch: undefined symbols) shows as broken, not as present.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import platform
import sys

FIX = "bash scripts/setup.sh"

# (import name, distribution, wanted version or None, why it is needed)
STACK = (
    ("torch", "torch", None, "models and training"),
    ("torchvision", "torchvision", None, "imported by mmcv.runner"),
    ("mmcv", "mmcv-full", "1.7.2", "runner, hooks, registries"),
    ("mmseg", "mmsegmentation", "0.30.0", "segmentors, datasets, evaluation"),
    ("wandb", "wandb", None, "WandbLoggerHookWithVal (optional unless the .seg logs to wandb)"),
    ("matplotlib", "matplotlib", None, "score maps and the learning curve"),
    ("yapf", "yapf", "0.40.1", "mmcv Config.dump (newer yapf breaks it)"),
)


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check() -> list[tuple[str, str, str]]:
    """Rows of (package, status, detail); status is ok / missing / broken / mismatch."""
    rows = [("python", "ok" if sys.version_info >= (3, 11) else "mismatch",
             f"{platform.python_version()} (needs >= 3.11)")]
    for mod, dist, want, why in STACK:
        ver = _version(dist)
        if ver is None:
            extra = " (plain `mmcv` is installed: mmseg needs mmcv-full)" if dist == "mmcv-full" and _version("mmcv") else ""
            rows.append((dist, "missing", f"needed for {why}{extra}"))
            continue
        try:
            m = importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001 - any import failure is what we report
            rows.append((dist, "broken", f"{ver}: import fails: {type(e).__name__}: {str(e)[:120]}"))
            continue
        detail = ver
        if mod == "torch":
            detail += f", CUDA {'available' if m.cuda.is_available() else 'not available (CPU)'}"
        if mod == "mmcv":
            try:
                importlib.import_module("mmcv.ops")
                detail += ", ops compiled"
            except Exception as e:  # noqa: BLE001
                rows.append((dist, "broken", f"{ver}: mmcv.ops does not load ({str(e)[:100]})"))
                continue
        status = "ok" if want is None or ver == want else "mismatch"
        if status == "mismatch":
            detail += f" (wanted {want})"
        rows.append((dist, status, detail))
    return rows


def doctor() -> int:
    """Print the table; 0 when the runtime stack is usable, 1 otherwise."""
    rows = check()
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="segal runtime stack")
        for col in ("package", "status", "detail"):
            table.add_column(col)
        colour = {"ok": "green", "missing": "red", "broken": "red", "mismatch": "yellow"}
        for name, status, detail in rows:
            table.add_row(name, f"[{colour[status]}]{status}[/]", detail)
        Console().print(table)
    except ImportError:
        for row in rows:
            print("  ".join(row))
    required = {"python", "torch", "torchvision", "mmcv-full", "mmsegmentation"}
    bad = [n for n, s, _ in rows if s in ("missing", "broken") and n in required]
    if bad or any(s != "ok" for n, s, _ in rows if n in required):
        print(f"the runtime stack is not ready ({', '.join(bad) or 'version mismatch'}); fix: {FIX}")
        return 1
    print("runtime stack ready: `segal run examples/toy_pixel.seg`")
    return 0
