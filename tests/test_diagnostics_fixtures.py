"""Every bad fixture yields exactly the codes marked `# expect:` on their lines; every code has one."""

import json
import re
from pathlib import Path

import pytest
from conftest import EXAMPLES, FIXTURES, GOLDEN, ROOT, assert_golden

from segal_dsl.api import analyse, read_source
from segal_dsl.codes import CODES, render_catalogue
from segal_dsl.render import render_concise, render_github, render_json, render_text

BAD = sorted((FIXTURES / "bad").glob("*.seg")) + sorted((EXAMPLES / "invalid").glob("*.seg"))
EXPECT = re.compile(r"#\s*expect:\s*((?:SEG\d{3}\s*)+)")
# Codes no .seg text can trigger: a float that is not finite is stopped by SEG213 first, and SEG502/SEG900
# are bugs. SEG222 is said once per run by the CLI, not per file (tests/test_cli.py).
UNREACHABLE = {"SEG501", "SEG502", "SEG900"}
RUN_LEVEL = {"SEG222"}
# SEG001 is about a file that cannot be read, so no text shows it: tests/test_cli.py reads missing files,
# directories and non-UTF-8 bytes.
IO_LEVEL = {"SEG001"}


def expected_pairs(path: Path) -> list[tuple[int, str]]:
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            pairs += [(number, code) for code in match.group(1).split()]
    return sorted(pairs)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_fixture_reports_marked_codes(path):
    result = analyse(read_source(path))
    actual = sorted((d.span.line if d.span else 0, d.code) for d in result.diagnostics)
    expected = expected_pairs(path)
    assert expected, f"{path} has no `# expect:` marker"
    # SEG102 (end of file) is marked on the last line.
    actual = [(ln if code != "SEG102" else expected[0][0], code) for ln, code in actual]
    assert actual == expected


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_rendered_diagnostics_golden(path, update_golden):
    source = read_source(path)
    rel = path.relative_to(ROOT).as_posix()
    source = type(source)(rel, source.text)
    result = analyse(source)
    text = "\n\n".join(render_text(d, source) for d in result.diagnostics) + "\n"
    golden = (path.with_suffix(".expected") if path.parent.name == "invalid"
              else GOLDEN / "diagnostics" / (path.stem + ".txt"))
    assert_golden(golden, text, update_golden)


def test_every_code_has_a_bad_fixture():
    others = sorted((FIXTURES / "extends").glob("*.seg")) + sorted((FIXTURES / "legacy").glob("*.py"))
    covered = {code for p in BAD + others for _, code in expected_pairs(p)}
    import_codes = {c for c in CODES if c.startswith("SEG6")}  # legacy .py fixtures: tests/test_importer.py
    missing = set(CODES) - covered - UNREACHABLE - RUN_LEVEL - IO_LEVEL - import_codes
    assert not missing, f"codes without a bad fixture: {sorted(missing)}"


def test_docs_diagnostics_in_sync(update_golden):
    assert_golden(ROOT / "docs" / "diagnostics.md", render_catalogue(), update_golden)


def test_text_rendering_has_location_caret_and_help():
    source = read_source(FIXTURES / "bad" / "SEG304_query_after_last_train.seg")
    (d,) = analyse(source).diagnostics
    text = render_text(d, source)
    lines = text.splitlines()
    assert lines[0] == "warning[SEG304]: `query` after the last `train` buys labels no model will use"
    assert lines[1].endswith("SEG304_query_after_last_train.seg:5:50")
    caret = next(line for line in lines if "^" in line)
    assert caret.index("^") == lines[lines.index(caret) - 1].index("query }")
    assert "^^^^^ nothing trains after this query" in caret
    assert lines[-1].startswith("help: remove this `query`")


def test_json_and_github_formats():
    source = read_source(FIXTURES / "bad" / "SEG206_unknown_name.seg")
    diags = analyse(source).diagnostics
    (entry,) = json.loads(render_json(diags))
    assert entry["code"] == "SEG206" and entry["name"] == "unknown-name" and entry["severity"] == "error"
    assert entry["start"] == {"line": 4, "column": 15} and entry["end"] == {"line": 4, "column": 22}
    assert "did you mean `entropy`?" == entry["label"]
    gh = render_github(diags[0])
    assert gh.startswith("::error file=") and ",line=4,col=15," in gh and "title=SEG206 unknown-name" in gh
    assert render_concise(diags[0]).endswith("error[SEG206] `entorpy` is not a valid heuristic")


def test_github_annotations_escape_newlines_and_percent():
    from segal_dsl.diagnostics import Diagnostic, Severity

    d = Diagnostic("SEG204", Severity.ERROR, "50% of\nlines", None)
    assert render_github(d) == "::error title=SEG204 wrong-type::50%25 of%0Alines"
