"""Parsing: the conformance sketch, syntax errors in words with positions, never a crash."""

import re

import pytest
from conftest import EXAMPLES, ROOT

from segal_dsl.api import analyse
from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend.build import unescape
from segal_dsl.source import Source

INTERNAL_TERMINALS = re.compile(r"\b(NAME|NUMBER|PERCENT|STRING|DIMS|REPEAT|COMMA|_SEP|LBRACE|RBRACE|LPAR|RPAR|"
                                r"__ANON\w*|\$END)\b")


def diags_of(text: str):
    return analyse(Source("t.seg", text)).diagnostics


def test_design_sketch_parses_and_checks_clean():
    result = analyse(Source("examples/design_sketch.seg", (EXAMPLES / "design_sketch.seg").read_text()))
    assert result.diagnostics == [] and not result.bases_unread
    exp = result.experiment
    assert result.plan.experiment == exp.name == "gtav2cs_ripu"
    assert exp.base == ("configs/_base_/models/deeplabv3plus_r50-d8.py", "dataset/gtav2cityscapes.py",
                                    "configs/_base_/default_runtime.py")
    assert exp.overrides == {"optimizer": {"lr": 0.01}, "data": {"samples_per_gpu": 2}}


def test_missing_separator_points_at_the_second_statement():
    (d,) = diags_of("experiment a {\n  schedule epochs { train 1 query }\n}")
    assert (d.code, d.span.line, d.span.column) == ("SEG104", 2, 29)


def test_equals_sign_gets_a_plain_help():
    (d,) = diags_of("experiment a { seed = 3 }")
    assert d.code == "SEG100" and "without `=`" in d.help


def test_unclosed_block_and_string():
    assert [d.code for d in diags_of("experiment a {\n seed 1\n")] == ["SEG102"]
    assert [d.code for d in diags_of('experiment a {\n load_from "x\n}')] == ["SEG101"]


def test_parse_errors_never_name_internal_terminals():
    bad = ["experiment a { seed 3 @ }", "experiment", "experiment a { schedule epochs { (train 1; query) } }",
           "experiment a { mmseg { a. = 1 } }", "experiment a { mmseg { a = [1,, 2] } }", "exp a {}",
           "experiment a { sample pixel { budget 1% per image", "experiment a {} }"]
    for text in bad:
        diags = diags_of(text)
        assert diags, text
        for d in diags:
            rendered = " ".join(filter(None, [d.message, d.label, d.help]))
            assert not INTERNAL_TERMINALS.search(rendered), (text, rendered)


def test_multiple_syntax_errors_on_different_lines_are_all_reported():
    text = "experiment a {\n  seed = 1\n  work_dir = \"x\"\n}"
    diags = diags_of(text)
    assert [(d.code, d.span.line) for d in diags] == [("SEG100", 2), ("SEG100", 3)]


def test_string_escapes():
    assert unescape(r"a\"b\\c\nd") == 'a"b\\c\nd'
    assert unescape(r"C:\data") == r"C:\data"  # unknown escapes are kept as written
    assert unescape(r"\u00e9") == "é"


def test_comments_and_line_continuation_after_commas():
    text = ('experiment a {  # c\n  base "a.py",  # first\n       "b.py"\n  sample pixel { budget 1% per image }\n'
            '  heuristic random\n  schedule epochs { train 1; query; train 1 }\n}\n')
    result = analyse(Source("t.seg", text))
    assert result.diagnostics == [] and result.experiment.base == ("a.py", "b.py")


def _spans(node):
    from segal_dsl.source import Span
    from segal_dsl.values import Value

    if isinstance(node, Span):
        yield node
    elif isinstance(node, Value):  # an AST node (frontend/nodes.py)
        for value in node.values():
            yield from _spans(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _spans(item)


@pytest.mark.parametrize("variant", ["as is", "crlf", "tabs and non-ascii"])
def test_spans_from_lark_positions_match_offsets(variant):
    """The AST takes line/column from lark's tokens; they must be what Source.span computes from offsets."""
    from segal_dsl.frontend.build import build
    from segal_dsl.frontend.parse import parse

    checked = 0
    for path in sorted((ROOT / "examples").glob("*.seg")):
        text = path.read_text(encoding="utf-8")
        if variant == "crlf":
            text = text.replace("\n", "\r\n")
        elif variant == "tabs and non-ascii":
            text = text.replace("    ", "\t").replace("# ", "# ünïcødé × ")
        source = Source(str(path), text)
        tree = parse(source, Diagnostics())
        assert tree is not None, path
        for span in _spans(build(tree, source)):
            assert span == source.span(span.start, span.end), (path, span)
            checked += 1
    assert checked > 1000


# ---- number suffixes and `query at` ---------------------------------------------------------------------
def _built(text: str):
    from segal_dsl.frontend.build import build
    from segal_dsl.frontend.parse import parse

    diags = Diagnostics()
    tree = parse(Source("t.seg", text), diags)
    assert tree is not None, [d.message for d in diags]
    return build(tree, Source("t.seg", text))


def test_number_suffixes_scale_exactly():
    from segal_dsl.frontend.build import parse_number

    assert parse_number("10k") == 10000 and isinstance(parse_number("10k"), int)
    assert parse_number("2.5M") == 2_500_000 and isinstance(parse_number("2.5M"), int)
    assert parse_number("1_000k") == 1_000_000
    assert parse_number("1.00001k") == 1000.01  # not whole: a count refuses it (SEG408)
    assert parse_number("0.1k") == 100          # decimal arithmetic: no 100.00000000000001


def test_suffixed_numbers_in_settings_and_schedules():
    exp = _built('experiment t {\n seed 1k\n schedule iters { train 20k; query at 10k, 12k,\n 14k }\n}\n')
    seed, sched = exp.block.items
    assert seed.args[0].value == 1000 and seed.args[0].text == "1k"
    train, query = sched.items
    assert train.length.value == 20000
    assert [(p.value, p.text) for p in query.at] == [(10000, "10k"), (12000, "12k"), (14000, "14k")]
    assert query.at[0].span.column == query.span.column + len("query at ")


def test_a_suffix_needs_a_word_boundary():
    exp = _built("experiment t {\n budget 10kg\n}\n")  # a number and a unit word, not 10k and `g`
    (setting,) = exp.block.items
    assert [type(a).__name__ for a in setting.args] == ["Number", "Word"]
    assert (setting.args[0].value, setting.args[1].name) == (10, "kg")


def test_suffix_in_an_override_is_not_python():
    result = analyse(Source("t.seg", 'experiment t {\n base "m.py"\n sample pixel { budget 1% per image }\n'
                                     ' heuristic entropy\n schedule iters { train 10k; query; train 10k }\n'
                                     ' mmseg { x = 40k }\n}\n'))
    (d,) = [d for d in result.diagnostics if d.code != "SEG222"]
    assert (d.code, d.message, d.help) == ("SEG213", "`40k` is not a Python number",
                                           "write `40000`: `mmseg` values are Python literals")


def test_fmt_keeps_query_at_and_suffixes():
    from segal_dsl.frontend.fmt import format_source

    text = ('experiment t {\n    base "m.py"\n    sample region { budget 2.2% per image total }\n'
            '    heuristic ripu\n    schedule iters { train 40k;  query at 10k,12k }\n}\n')
    out = format_source(Source("t.seg", text), Diagnostics())
    assert "schedule iters { train 40k; query at 10k, 12k }" in out
    assert format_source(Source("t.seg", out), Diagnostics()) == out
