"""The core never imports torch, mmcv or mmseg (nor numpy, wandb, or pydantic, which spec/typed.py stands in
for): run the CLI where importing them is impossible."""

import os
import subprocess
import sys

from conftest import ROOT

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'mmcv', 'mmseg', 'torchvision', 'numpy', 'wandb', 'pydantic',
                                  'pydantic_core'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Block())
from segal_dsl.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'mmcv', 'mmseg', 'numpy', 'wandb', 'pydantic'))
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


def test_lark_loads_without_regex_and_regex_stays_importable():
    """The front end keeps lark from importing the unused `regex` back end; other code can still import it."""
    code = ("import importlib.util, sys\nimport segal_dsl.frontend.parse\n"
            "assert 'regex' not in sys.modules, 'lark pulled in regex'\n"
            "if importlib.util.find_spec('regex') is not None:\n    import regex\n    assert regex.compile('a').match('a')\n"
            "from segal_dsl.api import analyse, read_source\n"
            "assert analyse(read_source('examples/toy_pixel.seg')).ok\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
