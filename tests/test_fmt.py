"""`segal fmt`: idempotent, comments kept, meaning unchanged (same compiled config), CI flags."""

import re
import subprocess
import sys

import pytest
from conftest import EXAMPLES, FIXTURES, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from segal_dsl.api import analyse, compile_source
from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend.fmt import format_source, quote
from segal_dsl.frontend.parse import parse
from segal_dsl.source import Source

FILES = sorted(EXAMPLES.glob("*.seg")) + sorted((EXAMPLES / "invalid").glob("*.seg")) + \
    [p for p in sorted((FIXTURES / "bad").glob("*.seg")) if not p.name.startswith("SEG1")]


def fmt(text: str, path: str = "t.seg") -> str:
    out = format_source(Source(path, text), Diagnostics())
    assert out is not None
    return out


def comments(text: str) -> list[str]:
    found = []
    parse(Source("c.seg", text), Diagnostics(), found)
    return [str(t).rstrip() for t in found]


def meaning(text: str) -> str:
    result = compile_source(Source("m.seg", text), "out/cfg.py")
    if result.ok:
        return re.sub(r"(sha256 [0-9a-f]+|source_sha256='[0-9a-f]+')", "", result.config)
    return repr([(d.code, d.message) for d in result.diagnostics])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fmt_is_idempotent_keeps_comments_and_meaning(path):
    text = path.read_text()
    once = fmt(text)
    assert fmt(once) == once
    assert comments(once) == comments(text)
    assert meaning(once) == meaning(text)


def test_examples_are_formatted_except_the_verbatim_design_sketch():
    for path in sorted(EXAMPLES.glob("*.seg")):
        if path.name != "design_sketch.seg":
            assert fmt(path.read_text()) == path.read_text(), f"run: segal fmt {path.relative_to(ROOT)}"


def test_layout_rules():
    text = ('# head\nexperiment   a{\nbase "m.py" ;seed 1   # trailing\n\n\n\n  sample pixel{budget 1% per image}\n'
            "heuristic ripu{\n# about k\nk 1\n}\nschedule epochs{train 2;query\ntrain 3}\n"
            'mmseg{optimizer=dict(type="SGD",lr=1e-4,betas=(0.9,))}\n}\n# tail\n')
    assert fmt(text) == (
        "# head\n"
        "experiment a {\n"
        '    base "m.py"\n'
        "    seed 1  # trailing\n"
        "\n"
        "    sample pixel { budget 1% per image }\n"
        "    heuristic ripu {\n"
        "        # about k\n"
        "        k 1\n"
        "    }\n"
        "    schedule epochs {\n"
        "        train 2; query; train 3\n"
        "    }\n"
        '    mmseg { optimizer = dict(type="SGD", lr=1e-4, betas=(0.9,)) }\n'
        "}\n"
        "\n"
        "# tail\n")


def test_quote_round_trips_every_character():
    value = 'a"b\\c\nd\te\r\x00\x01\u2028é'
    text = f"experiment a {{ load_from {quote(value)} }}"
    from segal_dsl.frontend.build import build

    diags = Diagnostics()
    exp = build(parse(Source("q.seg", text), diags), Source("q.seg", text))
    assert exp.block.items[0].args[0].value == value


SETTINGS = [
    'base "m.py"', 'base "a.py", "b.py"', "seed 3", "reset_each_round true", "heuristic entropy",
    "heuristic ripu { k 2; use_entropy false }", "sample pixel { budget 1% per image; threshold top 5% }",
    "sample region { initial 0; budget 2 px per image; radius 1 }", "pool { images 10; resolution 64x32 }",
    "visualize { size 2; overlay true }", "log every 5 iters { text }",
    "mmseg { a.b = [1, 2.5, \"x\"]; c = dict(k=(1,), d={\"e\": None}) }",
    "schedule epochs { train 3; query; (train 1; query) x2; train 4 }", "schedule iters { train 100 x3; train 5 }",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SETTINGS), st.sampled_from(["\n", "; ", "\n\n", "  # note\n", ";\n"]),
                          st.booleans()), min_size=1, max_size=8))
def test_random_programs_format_idempotently_with_the_same_meaning(parts):
    body = ""
    for setting, sep, comment_before in parts:
        if comment_before:
            body += "\n# before\n"
        body += setting + sep
    text = f"experiment r {{\n{body}\n}}\n"
    if format_source(Source("r.seg", text), Diagnostics()) is None:
        return  # e.g. `; ` right before a comment line is still valid; anything unparsable is skipped
    once = fmt(text)
    assert fmt(once) == once
    assert comments(once) == comments(text)
    assert meaning(once) == meaning(text)
    assert analyse(Source("r.seg", once)).ok == analyse(Source("r.seg", text)).ok


def test_cli_check_and_diff(tmp_path):
    messy = tmp_path / "m.seg"
    messy.write_text("experiment a{seed 1}\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "segal_dsl", "fmt", *a], capture_output=True, text=True)
    check = run("--check", str(messy))
    assert check.returncode == 1 and "would reformat" in check.stderr
    diff = run("--diff", str(messy))
    assert diff.returncode == 1 and "+    seed 1" in diff.stdout
    assert messy.read_text() == "experiment a{seed 1}\n"
    assert run(str(messy)).returncode == 0
    assert messy.read_text() == "experiment a {\n    seed 1\n}\n"
    assert run("--check", str(messy)).returncode == 0
    broken = tmp_path / "b.seg"
    broken.write_text("experiment a { seed = 1 }\n")
    assert run(str(broken)).returncode == 1 and broken.read_text() == "experiment a { seed = 1 }\n"
