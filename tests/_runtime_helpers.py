"""Shared set-up for tests/test_runtime_*.py: real mmseg runs of the hand-written toy configs.

Runs stay tiny (a few iterations per round on 64x64 images) so the runtime suite fits a 2-core CI box.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CONFIGS = Path(__file__).parent / "runtime_configs"

# A few iterations per round: train 2 iters, query, train 2 iters, query, train 1 iter.
SHORT_ITERS = [(("train", 2), ("query", 1)), (("train", 2), ("query", 1)), (("train", 1),)]


def toy_env(tmp_root: Path) -> None:
    """Generate the toy data once per test session in a shared temp dir (not the user cache)."""
    os.environ.setdefault("SEGAL_TOY_DIR", str(tmp_root / "segal-toy"))


def run(config: str, work_dir: Path, *, seed: int = 0, resume: bool = False, iters: bool = True,
        workflow=None, **options) -> int:
    """Train a config in-process with cfg overrides; returns train_config's exit code."""
    from segal_dsl.runtime.train import train_config

    opts = dict(options)
    if iters:
        opts.setdefault("runner.schedule_unit", "iters")
        opts.setdefault("workflow", workflow or SHORT_ITERS)
    elif workflow is not None:
        opts["workflow"] = workflow
    return train_config(str(CONFIGS / config), work_dir=str(work_dir), resume=resume, seed=seed,
                        cfg_options=opts)


def label_digest(work_dir: Path) -> str:
    """sha256 of the saved label payload (identical labels <=> identical digest)."""
    manifest = json.loads((work_dir / "masks" / "labels.json").read_text())
    return manifest["sha256"]


def records(work_dir: Path) -> list[dict]:
    return json.loads((work_dir / "masks" / "labels.json").read_text())["records"]


def report(work_dir: Path) -> dict:
    return json.loads((work_dir / "report.json").read_text())


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
