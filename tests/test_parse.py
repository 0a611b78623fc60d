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
    import dataclasses

    from segal_dsl.source import Span

    if isinstance(node, Span):
        yield node
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _spans(getattr(node, f.name))
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
