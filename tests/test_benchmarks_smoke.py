"""Every benchmark runs in --quick mode and prints at least one ratio line. No timing is asserted: the
figures live in benchmarks/README.md, measured against a baseline of the same run."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
RUNTIME = {"bench_query.py", "bench_scaling.py", "bench_labels.py", "bench_runner.py"}
HAS_MMSEG = importlib.util.find_spec("mmseg") is not None and importlib.util.find_spec("torch") is not None

pytestmark = pytest.mark.slow  # ~45 s together on a loaded 2-core box


def test_every_benchmark_is_covered():
    assert {p.name for p in BENCHMARKS} == RUNTIME | {"bench_frontend.py"}


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_quick_prints_a_ratio(path, tmp_path_factory):
    if path.name in RUNTIME and not HAS_MMSEG:
        pytest.skip("needs torch + mmseg")
    env = {**os.environ, "SEGAL_TOY_DIR": os.environ.get("SEGAL_TOY_DIR") or str(tmp_path_factory.getbasetemp() / "toy")}
    out = subprocess.run([sys.executable, str(path), "--quick"], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert re.search(r"^ratio .*\d\.\d+x", out.stdout, re.M), out.stdout[-2000:]
