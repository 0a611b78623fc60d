"""Every `.seg` snippet of README.md and docs/ passes `segal check`: whole experiments as they are (as if they
were in examples/, where their bases are), fragments wrapped in a minimal experiment. A snippet that shows a
mistake on purpose is preceded by a line containing `segal: expect SEGnnn` and must produce that code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from segal_dsl.api import analyse
from segal_dsl.source import Source

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\n(.*?)^```", re.S | re.M)
EXPECT = re.compile(r"segal: expect ((?:SEG\d{3}[ ,]*)+)")
AT = re.compile(r"segal: at (\S+)")
WITH = re.compile(r"segal: with ([^>]+?)\s*(?:-->|$)")
REQUIRED = {"base": 'base "m.py"', "sample": "sample pixel { budget 1% per image }", "heuristic": "heuristic entropy",
            "schedule": "schedule epochs { train 2; query; train 2 }"}


def snippets() -> list[tuple[str, int, str, list[str]]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) != "seg":
                continue
            line = text.count("\n", 0, m.start()) + 1
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            expect, at, with_ = EXPECT.search(before), AT.search(before), WITH.search(before)
            codes = re.findall(r"SEG\d{3}", expect.group(1)) if expect else []
            context = with_.group(1) if with_ else ""
            out.append((f"{doc.relative_to(ROOT)}:{line}", at.group(1) if at else None, m.group(2), codes, context))
    return out


SNIPPETS = snippets()


def statements(fragment: str) -> list[str]:
    """The top-level statements of a fragment (a statement goes on while a `{` or `(` is open)."""
    out, depth = [], 0
    for line in fragment.splitlines():
        if not line.strip():
            continue
        if depth == 0:
            out.append(line)
        else:
            out[-1] += "\n" + line
        depth += line.count("{") + line.count("(") - line.count("}") - line.count(")")
    return out


def alternatives(fragment: str) -> list[str]:
    """A fragment that lists alternatives (the same statement several times) is checked one by one."""
    stmts = statements(fragment)
    keys = [re.match(r"\s*([\w-]+)", st).group(1) for st in stmts if re.match(r"\s*[\w-]+", st)]
    return stmts if len(keys) != len(set(keys)) else [fragment]


def wrap(fragment: str, context: str = "") -> str:
    """A fragment inside an experiment that has every required statement the fragment lacks, plus the
    statements `segal: with …` names (e.g. `runner multitask` for a multitask-only setting)."""
    keys = {re.match(r"\s*([\w-]+)", ln).group(1) for ln in (fragment + "\n" + context).splitlines()
            if re.match(r"\s*[\w-]+", ln)}
    lines = [stmt for key, stmt in REQUIRED.items() if key not in keys] + ([context] if context else [])
    return "experiment snippet {\n" + "\n".join(lines) + "\n" + fragment + "\n}\n"


def test_the_docs_have_seg_snippets():
    where = {s[0].split(":")[0] for s in SNIPPETS}
    assert {"README.md", "docs/language.md", "docs/diagnostics.md"} <= where
    assert len(SNIPPETS) > 40


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """Where fragments are checked: the bad fixtures' bases (`m.py`, `bases/…`) and the parents of `extends`."""
    root = tmp_path_factory.mktemp("snippets")
    shutil.copy(FIXTURES / "bad" / "m.py", root / "m.py")
    shutil.copytree(FIXTURES / "bad" / "bases", root / "bases")
    for p in (FIXTURES / "extends").glob("*.seg"):
        shutil.copy(p, root / p.name)
    return root


@pytest.mark.parametrize("where, at, text, codes, context", SNIPPETS, ids=[s[0] for s in SNIPPETS])
def test_snippet_checks(where, at, text, codes, context, sandbox):
    whole = re.search(r"^\s*experiment\s+[\w-]+\s*\{", text, re.M) is not None
    if whole:  # as if it were an example (or where `segal: at PATH` puts it): its bases resolve from there
        sources = [Source(str(ROOT / (at or "examples/_snippet.seg")), text)]
    else:
        parts = alternatives(text) if not codes else [text]  # a deliberate duplicate is not a list of choices
        sources = [Source(str(sandbox / "_snippet.seg"), wrap(alt, context)) for alt in parts]
    found = []
    for source in sources:
        result = analyse(source)
        found += [d.code for d in result.diagnostics]
        if not codes:
            assert result.ok, f"{where}: " + "; ".join(f"{d.code} {d.message}" for d in result.diagnostics)
            assert not [d for d in result.diagnostics if d.severity.value == "warning"], f"{where}: {found}"
    if codes:
        assert set(codes) <= set(found), f"{where}: expected {codes}, got {found}"
