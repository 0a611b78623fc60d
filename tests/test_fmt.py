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
from segal_dsl.frontend.fmt import comment_texts, format_source, quote
from segal_dsl.frontend.parse import parse
from segal_dsl.source import Source


def parses(path) -> bool:
    return parse(Source(str(path), path.read_text()), Diagnostics()) is not None


FILES = [p for p in sorted(EXAMPLES.glob("*.seg")) + sorted((EXAMPLES / "invalid").glob("*.seg"))
         + sorted((FIXTURES / "bad").glob("*.seg")) if parses(p)]


def fmt(text: str, path: str = "t.seg") -> str:
    out = format_source(Source(path, text), Diagnostics())
    assert out is not None
    return out


def comments(text: str) -> list[str]:
    found = []
    parse(Source("c.seg", text), Diagnostics(), found)
    return comment_texts(found)


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
    assert run(str(broken)).returncode == 2 and broken.read_text() == "experiment a { seed = 1 }\n"


# ---- issue 10: every comment in its place ------------------------------------------------------------
def test_a_comment_inside_a_multi_line_dict_call_stays_after_its_item():
    text = ('experiment a {\n    mmseg {\n        optimizer = dict(\n            type="SGD",  # the paper\'s\n'
            "            lr=0.01,\n        )\n    }\n}\n")
    assert fmt(text) == text
    squeezed = 'experiment a {\n  mmseg { optimizer = dict(type="SGD",  # the paper\'s\n lr=0.01) }\n}\n'
    assert fmt(squeezed) == text


def test_a_comment_after_the_first_item_of_a_base_list_stays_on_its_line():
    text = 'experiment a {\n    base "a.py",  # the model\n         "b.py"\n    seed 1\n}\n'
    assert fmt(text) == text
    assert fmt('experiment a {\nbase "a.py", # the model\n  "b.py"\nseed 1 }\n') == text


def test_an_own_line_comment_between_values_stays_on_its_own_line():
    text = 'experiment a {\n    base "a.py",\n         # the data\n         "b.py"\n}\n'
    assert fmt(text) == text


def test_a_trailing_comment_stays_on_the_line_of_the_item_it_follows():
    text = ("experiment a {  # the experiment\n"
            "    heuristic ripu {  # RIPU\n        k 1  # window\n        use_entropy true\n    }  # heuristic\n"
            "    schedule epochs {\n        train 10  # warm-up\n        query; train 2 x4  # four rounds\n"
            "        (\n            train 1; query  # inside a group\n        ) x2\n        train 14\n    }\n"
            "    mmseg {\n        a = [\n            1,  # one\n            2,\n        ]  # the list\n"
            "        b = 1  # the last override\n    }\n"
            "}  # the end\n")
    assert fmt(text) == text


def test_comments_after_the_last_item_stay_before_the_closing_bracket():
    text = ("experiment a {\n    pool {\n        images 10\n        # pool, last\n    }\n"
            "    mmseg {\n        a = dict(\n            k=1,\n            # dict, last\n        )\n        b = [\n"
            "            # empty list\n        ]\n        # mmseg, last\n    }\n"
            "    schedule epochs {\n        train 2\n        # schedule, last\n    }\n    # experiment, last\n}\n"
            "\n# end of file\n")
    assert fmt(text) == text


def test_a_comment_anywhere_forces_its_block_or_literal_over_lines():
    text = "experiment a { pool { images 10  # ten\n} ; mmseg { a = [1, # one\n 2] } }"
    assert fmt(text) == ("experiment a {\n    pool {\n        images 10  # ten\n    }\n    mmseg {\n"
                         "        a = [\n            1,  # one\n            2,\n        ]\n    }\n}\n")


def test_a_trailing_comma_keeps_its_comment_on_the_statements_line():
    # `,` takes the line break after it: `,;` ends the statement, the comment stays after it.
    assert fmt('experiment a {\nbase "a.py", "b.py",  # both\n;seed 1\n}\n') == \
        'experiment a {\n    base "a.py", "b.py",;  # both\n    seed 1\n}\n'


def test_a_keyword_named_argument_survives_a_broken_dict_call():
    # After `dict(` and a line break the lexer read `train` as the keyword: fmt's broken layout did not parse.
    long = ", ".join(f"key_{i}={i}" for i in range(12))
    once = fmt(f"experiment a {{ mmseg {{ a = dict(train=1, {long}); b = [schedule] }} }}")
    assert once.splitlines()[3] == "            train=1,"
    assert fmt(once) == once


def test_line_breaks_are_the_files_and_the_text_ends_with_one():
    crlf = "experiment a {\r\n    seed 1  # one\r\n}\r\n"
    assert fmt(crlf) == crlf
    assert fmt("experiment a {\r\nseed 1}") == "experiment a {\r\n    seed 1\r\n}\r\n"
    assert fmt("experiment a { seed 1 }  # no final line break") == \
        "experiment a {\n    seed 1\n}  # no final line break\n"


def test_fmt_refuses_output_that_would_not_read_back_the_same(monkeypatch):
    from segal_dsl.frontend import fmt as module

    monkeypatch.setattr(module, "quote", lambda value: '"changed"')
    diags = Diagnostics()
    assert format_source(Source("q.seg", 'experiment a { load_from "x" }\n'), diags) is None
    assert [d.code for d in diags] == ["SEG900"]


def test_deeply_nested_input_is_a_diagnostic_not_a_traceback(tmp_path):
    deep = tmp_path / "deep.seg"
    deep.write_text("experiment a { mmseg { a = " + "[" * 500 + "]" * 500 + " } }\n")
    run = subprocess.run([sys.executable, "-m", "segal_dsl", "fmt", str(deep)], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "error[SEG1" in run.stderr
    diags = Diagnostics()
    assert format_source(Source("d.seg", deep.read_text()), diags) is None and diags


def segal_fmt(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "segal_dsl", "fmt", *args], capture_output=True, input=stdin)


def test_stdin_check_and_diff():
    messy, tidy = b"experiment a{seed 1}\n", b"experiment a {\n    seed 1\n}\n"
    check = segal_fmt("--check", "-", stdin=messy)
    assert (check.returncode, check.stdout) == (1, b"") and b"would reformat <stdin>" in check.stderr
    diff = segal_fmt("--diff", "-", stdin=messy)
    assert diff.returncode == 1
    assert diff.stdout.decode().splitlines()[:3] == ["--- a/<stdin>", "+++ b/<stdin>", "@@ -1 +1,3 @@"]
    assert (segal_fmt("--check", "-", stdin=tidy).returncode, segal_fmt("--diff", "-", stdin=tidy).stdout) == (0, b"")
    plain = segal_fmt("-", stdin=messy)
    assert (plain.returncode, plain.stdout) == (0, tidy)
    assert segal_fmt("-", stdin=messy.replace(b"\n", b"\r\n")).stdout == tidy.replace(b"\n", b"\r\n")


def test_exit_codes_tell_would_reformat_from_cannot_parse_or_read(tmp_path):
    messy, broken = tmp_path / "m.seg", tmp_path / "b.seg"
    messy.write_text("experiment a{seed 1}\n")
    broken.write_text("experiment a { seed = 1 }\n")
    assert segal_fmt("--check", str(messy)).returncode == 1
    for args in (["--check", str(broken)], ["--check", str(messy), str(broken)], [str(tmp_path / "none.seg")]):
        run = segal_fmt(*args)
        assert run.returncode == 2 and b"Traceback" not in run.stderr, args
    stdin = segal_fmt("--check", "-", stdin=b"experiment a { seed = 1 }\n")
    assert (stdin.returncode, stdin.stdout) == (2, b"") and b"SEG100" in stdin.stderr
    assert segal_fmt("-", stdin=b"\xff").returncode == 2
    assert segal_fmt("-", str(messy)).returncode == 2
    assert messy.read_text() == "experiment a{seed 1}\n" and broken.read_text() == "experiment a { seed = 1 }\n"
    help_ = subprocess.run([sys.executable, "-m", "segal_dsl", "fmt", "--help"], capture_output=True, text=True)
    assert "1 a file would be reformatted" in " ".join(help_.stdout.split())


def test_query_positions_keep_their_comments():
    text = ("experiment a {\n    schedule iters {\n        train 10k\n        query at 10k,  # first\n"
            "                 12k\n        train 2k; query at 14k, 16k; train 4k\n    }\n}\n")
    assert fmt(text) == text
