"""The core never imports torch, mmcv or mmseg: run the CLI where importing them is impossible."""

import os
import subprocess
import sys

from conftest import ROOT

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'mmcv', 'mmseg', 'torchvision', 'numpy', 'wandb'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Block())
from segal_dsl.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'mmcv', 'mmseg', 'numpy', 'wandb'))
assert not heavy, heavy
sys.exit(code)
"""


def run_blocked(*args):
    return subprocess.run([sys.executable, "-c", BLOCKER, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NO_COLOR": "1"})


def test_check_plan_compile_schema_work_without_the_runtime(tmp_path):
    assert run_blocked("check", "examples/design_sketch.seg", "examples/multitask_gtav2cs.seg").returncode == 0
    assert run_blocked("plan", "examples/ripu_region_gtav2cs.seg").returncode == 0
    result = run_blocked("compile", "examples/ripu_region_gtav2cs.seg", "-o", str(tmp_path / "c.py"))
    assert result.returncode == 0, result.stderr
    assert run_blocked("schema").returncode == 0
    assert run_blocked("check", "tests/fixtures/bad/SEG201_unknown_key.seg").returncode == 1


def test_run_without_runtime_says_how_to_fix():
    result = run_blocked("run", "examples/design_sketch.seg")
    assert result.returncode == 2 and "scripts/setup.sh" in result.stderr
