"""Short fuzzing in CI (scripts/fuzz.py has the long mode): grammar-aware programs and mutations of every
shipped .seg never crash the front end, compile to literal-only Python, and fmt stays idempotent.
Inputs the long runs found are kept below as regressions."""

import random
import sys

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(ROOT / "scripts"))
import fuzz


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzz.programs())
def test_grammar_aware_programs(text):
    fuzz.check(text)


def test_mutations_of_examples_and_fixtures():
    rng = random.Random(0)
    seeds = fuzz.corpus()
    assert len(seeds) > 40
    for _ in range(250):
        path, text = fuzz.mutate(rng, seeds)
        try:
            fuzz.check(text, path)
        except fuzz.FuzzFailure as e:
            raise AssertionError(f"{e}\n--- input (mutated {path}):\n{text}") from None


@pytest.mark.parametrize("text", [
    # fmt crashed (AttributeError): overrides of an `mmseg` block nested in a setting's block kept
    # raw Number atoms, only top-level ones were converted to literals.
    "experiment e {\n    n { mmseg { a.b = 1; c = dict(k=2) } }\n}\n",
    "experiment e {\n    n 1 , { mmseg { a = [1, \"s\"] } }\n}\n",
    # fmt output did not re-parse: after a line break the lexer read a key named like a keyword as the
    # keyword, though the same key parsed right after `{`.
    "experiment e {\n    mmseg { train = 6\na = 0 }\n}\n",
    "experiment e {\n    p { experiment { s { } }\n    mmseg { dict = 0; query.x = 1 } }\n}\n",
    "experiment e {\n    q { train { }\n    warmup 3 }\n}\n",
    # fmt output changed meaning: a trailing comma swallowed the line break before the next statement.
    "experiment e {\n    e { y,;u{\n} }\n}\n",
    "experiment e {\n    base \"" + "a" * 60 + "\", \"" + "b" * 60 + "\",;\n    seed 1\n}\n",
    # the compiled config was not Python (`a-b = dict(...)`): top-level override keys must be names.
    'experiment e {\n    base "m.py"\n    sample pixel { budget 1% per image }\n    heuristic entropy\n'
    '    schedule epochs { train 5; query; train 5 }\n    mmseg { a-b.c = 1; class = 2; model.x-y = 3 }\n}\n',
    # SEG900 (TypeError in validate): an override below a key whose inherited value is not a dict.
    "experiment e {\n    mmseg { a = dict(m=None, b=None)\n    a.b.w = 0 }\n}\n",
    # SEG900 (ValueError from open()): a NUL byte in an `extends` path; now SEG215 like any unreadable parent.
    'experiment e {\n    extends "\x00"\n}\n',
], ids=["nested-mmseg-number", "nested-mmseg-list", "keyword-override-key", "keyword-keys", "keyword-setting",
        "trailing-comma", "trailing-comma-wrapped", "override-key-not-a-name",
        "override-below-a-non-dict", "extends-nul-byte"])
def test_regressions(text):
    fuzz.check(text)


def test_override_key_that_is_not_a_name_is_an_error():
    from segal_dsl.api import analyse
    from segal_dsl.source import Source

    text = ('experiment e {\n    base "m.py"\n    sample pixel { budget 1% per image }\n    heuristic entropy\n'
            '    schedule epochs { train 5; query; train 5 }\n    mmseg { a-b.c = 1; class = 2; model.x-y = 3 }\n}\n')
    codes = [d.code for d in analyse(Source("e.seg", text)).diagnostics]
    assert codes == ["SEG220", "SEG220"]


def test_override_below_a_value_that_is_not_a_dict_is_a_conflict():
    from segal_dsl.api import analyse
    from segal_dsl.source import Source

    text = "experiment e {\n    mmseg { a = dict(m=None, b=None)\n    a.b.w = 0 }\n}\n"
    assert "SEG211" in [d.code for d in analyse(Source("e.seg", text)).diagnostics]


@pytest.mark.parametrize("text,code", [
    (fuzz.VALID_HEAD + "    schedule epochs { (train 1; query) x100000000 }\n}\n", "SEG320"),
    (fuzz.VALID_HEAD + "    schedule epochs { train 1; ((train 1 x1000) x1000) x1000; train 1 }\n}\n", "SEG320"),
    (fuzz.VALID_HEAD + "    schedule epochs { train 1; query; train 1 }\n    mmseg { a = " + "[" * 800 + "]" * 800
     + " }\n}\n", "SEG105"),
    (fuzz.VALID_HEAD + "    schedule epochs { " + "(" * 3000 + "train 1; query" + ") x2" * 3000 + " }\n}\n", "SEG105"),
    ("experiment e { mmseg { a = " + "dict(b=" * 400 + "1" + ")" * 400 + " } }\n", "SEG105"),
    (fuzz.VALID_HEAD + "    seed " + "9" * 5000 + "\n    schedule epochs { train 1; query; train 1 }\n}\n", "SEG213"),
    (fuzz.VALID_HEAD + "    schedule epochs { train 1; query; train 1 x" + "9" * 5000 + " }\n}\n", "SEG320"),
], ids=["repeat", "nested-repeats", "deep-literal", "deep-groups", "deep-dict-calls", "5000-digit-seed",
        "5000-digit-repeat"])
def test_resource_bombs_are_diagnosed_with_bounded_memory(text, code):
    """Each bomb gets its diagnostic (no SEG900, no traceback) and allocates at most fuzz.BOMB_PEAK_BYTES;
    the same inputs made minutes of work and gigabytes, or a RecursionError, before."""
    assert fuzz.check_bounded(text) == "error"
    from segal_dsl.api import analyse
    from segal_dsl.source import Source

    assert code in {d.code for d in analyse(Source("bomb.seg", text)).diagnostics}


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzz.bombs())
def test_generated_resource_bombs(text):
    fuzz.check_bounded(text)
