"""`segal import`: legacy reference configs -> .seg, without executing them (segal_dsl/importer.py).

Round trips over generated/ (compiled from examples/), hand-written legacy configs with golden .seg and
diagnostics, one fixture per SEG6xx code (marked `# expect:`), and proof that nothing is executed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, GOLDEN, ROOT, assert_golden
from test_emit import evaluate_config

from segal_dsl.api import compile_source
from segal_dsl.codes import CODES
from segal_dsl.importer import import_source
from segal_dsl.importer.literals import seg_literal, seg_string
from segal_dsl.importer.roundtrip import config_differences
from segal_dsl.render import render_text
from segal_dsl.source import Source

GENERATED = sorted((ROOT / "generated").glob("*.py"))
LEGACY = sorted((FIXTURES / "legacy").glob("*.py"))
EXPECT = re.compile(r"#\s*expect:\s*((?:SEG\d{3}\s*)+)")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(path: Path):
    return import_source(path.read_text(encoding="utf-8"), rel(path))


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_round_trip_over_generated(path):
    """import, then compile to the original's location: every top-level value is equal (segal_meta aside)."""
    result = imported(path)
    assert result.ok, [d.message for d in result.diagnostics]
    assert {d.code for d in result.diagnostics} <= {"SEG605"}  # nothing changes, nothing is dropped
    compiled = compile_source(Source(rel(path)[:-3] + ".seg", result.seg_text), rel(path))
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    original, again = evaluate_config(path.read_text()), evaluate_config(compiled.config)
    original.pop("segal_meta"), again.pop("segal_meta")
    assert list(original) == list(again)
    for key in original:
        assert again[key] == original[key], key
        assert repr(again[key]) == repr(original[key]), key  # same types too: tuples stay tuples, ints ints


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_legacy_fixture_reports_marked_codes(path):
    result = imported(path)
    actual = sorted((d.span.line if d.span else 0, d.code) for d in result.diagnostics)
    expected = sorted((n, code) for n, line in enumerate(path.read_text().splitlines(), 1)
                      if (m := EXPECT.search(line)) for code in m.group(1).split())
    assert actual == expected


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_legacy_fixture_goldens(path, update_golden):
    result = imported(path)
    text = "\n\n".join(render_text(d, result.source) for d in result.diagnostics) + "\n"
    assert_golden(GOLDEN / "import" / (path.stem + ".txt"), text, update_golden)
    if result.seg_text is not None:
        assert_golden(GOLDEN / "import" / (path.stem + ".seg"), result.seg_text, update_golden)
    else:
        assert not (GOLDEN / "import" / (path.stem + ".seg")).exists()


@pytest.mark.parametrize("path", [p for p in LEGACY if not p.name.startswith("SEG6")], ids=lambda p: p.name)
def test_legacy_import_compiles_to_the_legacy_values(path):
    """What the importer does not report as changed or dropped is equal after compiling, bases merged."""
    from segal_dsl.importer.roundtrip import comparable, reference_schedule, runtime_schedule
    from segal_dsl.pyconfig.load import load

    result = imported(path)
    if result.seg_text is None:
        pytest.skip("an error stops this import (its diagnostics are the golden)")
    compiled = compile_source(Source(rel(path)[:-3] + ".seg", result.seg_text), rel(path))
    assert compiled.ok
    loaded = load(rel(path))
    legacy = loaded.values if loaded.complete else _legacy_values(path)
    again = compiled.points[0].effective.values if loaded.complete else evaluate_config(compiled.config)
    changed = {".".join(map(str, p)) for p, _, _ in config_differences(comparable(legacy, reference_schedule(legacy)),
                                                                      comparable(again, runtime_schedule(again)))}
    reported = " ".join(d.message for d in result.diagnostics if d.code in ("SEG603", "SEG604", "SEG606", "SEG610",
                                                                             "SEG611", "SEG613", "SEG605"))
    for key in changed:
        top = key.split(".")[0]
        assert top in reported or key.split(".")[-1] in reported, f"{key} changed silently"


def _legacy_values(path: Path) -> dict:
    return _legacy_values_text(path.read_text(), rel(path))


def test_upper_case_constants_f_strings_and_arithmetic_are_evaluated():
    result = imported(FIXTURES / "legacy" / "ada_region.py")
    assert "budget 24371200 px per round" in result.seg_text  # int(1280*640*0.01) * 2975
    assert 'name "ada_ripu_region_s123_c512-3e-03"' in result.seg_text  # f-string with a format spec
    assert 'work_dir "work_dirs/ada_ripu_region_s123_c512"' in result.seg_text
    assert "min_lr=0.0001" in result.seg_text  # LR / 25
    assert "BUDGET" not in result.seg_text and "PIXELS_PER_IMAGE" not in result.seg_text


def test_every_import_code_has_a_legacy_fixture():
    covered = {code for p in LEGACY for line in p.read_text().splitlines()
               if (m := EXPECT.search(line)) for code in m.group(1).split()}
    missing = {c for c in CODES if c.startswith("SEG6")} - covered
    assert not missing, f"SEG6xx codes without a legacy fixture: {sorted(missing)}"


def test_import_never_executes_code(tmp_path):
    legacy = tmp_path / "evil.py"
    marker = tmp_path / "IMPORT_RAN_CODE"
    legacy.write_text((FIXTURES / "legacy" / "never_executes.py").read_text()
                      .replace("touch IMPORT_RAN_CODE", f"touch {marker}"))
    out = tmp_path / "evil.seg"
    run = subprocess.run([sys.executable, "-m", "segal_dsl", "import", str(legacy), "-o", str(out)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1
    assert "SEG601" in run.stderr and "not a constant expression" in run.stderr
    assert not out.exists() and not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.py"]


def test_hostile_values_survive_as_literals():
    text = (FIXTURES / "legacy" / "trailing_comma.py").read_text() + (
        "weird = dict(q='a\"b\\'c', nl='x\\ny\\t\\\\z \\x01 \\u2028 {{ }} __import__(\"os\")', "
        "keys={'not an id': 1, 3: (1,), None: [], 'dict': -2.5e-07}, empty=dict(), t=())\n")
    result = import_source(text, "tests/fixtures/legacy/hostile.py")
    assert result.ok, [d.message for d in result.diagnostics]
    compiled = compile_source(Source("tests/fixtures/legacy/hostile.seg", result.seg_text),
                              "tests/fixtures/legacy/hostile.py")
    assert compiled.ok
    assert evaluate_config(compiled.config)["weird"] == _legacy_values_text(text)["weird"]


def _legacy_values_text(text: str, path: str = "x.py") -> dict:
    """The file's own values, helper constants left out (as the importer leaves them out)."""
    from segal_dsl.diagnostics import Diagnostics
    from segal_dsl.pyconfig.evaluate import read_module

    module = read_module(Source(path, text), Diagnostics())
    return {k: v for k, v in module.values().items() if not k.isupper()}


@pytest.mark.parametrize("expr, ok", [
    ("1 + 2 * 3 ** 2 // 4 % 5 - -1", True), ("int(2.7) + float(1) + round(2.567, 2)", True),
    ("'a' + 'b'", True), ("f'{1:03d}-{\"x\"!r}'", True), ("[1] + [2]", True),
    ("10 ** 10 ** 10", False), ("1 / 0", False), ("len('ab')", True), ("(1).real", False), ("[i for i in ()]", True),
    ("[(('train', 2), ('query', 1)) for _ in range(3)] + [(('train', 3),)]", True), ("{k: k * 2 for k in 'ab'}", True),
    ("1 if True else 2", True), ("{1, 2}", False), ("'a' * 3", True), ("f'{1:99999}'", False),
    ("lambda: 0", False), ("print", False), ("dict(**{'a': 1})", True), ("open('x').read()", False),
    ("[0 for _ in range(10 ** 6)]", False), ("(1, 2)[1]", True), ("__import__('os')", False),
])
def test_evaluator_accepts_constants_only(expr, ok):
    result = import_source(f"X = {expr}\n", "x.py")
    assert any(d.code == "SEG601" for d in result.diagnostics) is not ok


def test_seg_literals_read_back():
    assert seg_string('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\u0001"'
    assert seg_literal((1,)) == "(1,)" and seg_literal({}) == "dict()" and seg_literal({"a b": None}) == '{"a b": None}'


def test_cli_import(tmp_path):
    def segal(*args):
        return subprocess.run([sys.executable, "-m", "segal_dsl", *args], capture_output=True, text=True, cwd=ROOT)

    out = tmp_path / "sub" / "exp.seg"
    done = segal("import", "tests/fixtures/legacy/ada_region.py", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "note[SEG605]" in done.stderr
    text = out.read_text()
    assert str(Path("examples/dataset/gtav2cityscapes.py")) in text  # _base_ rebased for the new location
    assert segal("check", str(out)).returncode == 0
    stdout = segal("import", "tests/fixtures/legacy/trailing_comma.py")
    assert stdout.returncode == 0 and stdout.stdout.startswith("# Imported by `segal import`")
    failing = segal("import", "--format", "json", "tests/fixtures/legacy/function_call.py")
    assert failing.returncode == 1 and failing.stdout == ""
    assert {d["code"] for d in json.loads(failing.stderr)} == {"SEG601", "SEG602"}
    assert segal("import", "nope.py").returncode == 2
