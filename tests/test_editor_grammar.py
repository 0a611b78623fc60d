"""The editor files under editors/: the TextMate grammar (valid JSON, compiles, is what
segal_dsl/lsp/textmate.py builds, and colours the comments, strings, numbers and keywords of every
example the way the parser reads them), the VS Code extension manifest and the Helix configuration."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, assert_golden

from segal_dsl.frontend import language
from segal_dsl.lsp import scan
from segal_dsl.lsp.textmate import SCOPE, grammar

EDITORS = ROOT / "editors"
TM = EDITORS / "vscode" / "syntaxes" / "seg.tmLanguage.json"
EXAMPLES = sorted((ROOT / "examples").rglob("*.seg"))


def _rules(node):
    """Every rule of the grammar with a regular expression, the repository's included."""
    if isinstance(node, dict):
        if any(k in node for k in ("match", "begin", "end")):
            yield node
        for value in node.values():
            yield from _rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rules(value)


class Highlighter:
    """A small TextMate engine, enough for this grammar: `match` rules with captures, single-level
    `begin`/`end` rules with inner patterns, `include` of the repository. Returns a scope per character."""

    def __init__(self, doc: dict):
        self.repo = doc["repository"]
        self.top = self.flatten(doc["patterns"])

    def flatten(self, patterns: list) -> list[dict]:
        out = []
        for p in patterns:
            if "include" in p:
                out += self.flatten([self.repo[p["include"][1:]]])
            elif "patterns" in p and "begin" not in p:
                out += self.flatten(p["patterns"])
            else:
                out.append(p)
        return out

    @staticmethod
    def earliest(rules: list[dict], line: str, pos: int):
        best = None
        for rule in rules:
            m = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
            if m and (best is None or m.start() < best[1].start()):
                best = (rule, m)
        return best

    def scopes(self, text: str) -> list[str]:
        out: list[str] = []
        for line in text.split("\n"):
            marks = [""] * len(line)
            pos = 0
            while pos < len(line):
                found = self.earliest(self.top, line, pos)
                if found is None:
                    break
                rule, m = found
                if "begin" in rule:
                    end, inner_pos = None, m.end()
                    inner = self.flatten(rule.get("patterns", []))
                    while end is None:
                        e = re.compile(rule["end"]).search(line, inner_pos)
                        i = self.earliest(inner, line, inner_pos)
                        if i is not None and (e is None or i[1].start() < e.start()):
                            inner_pos = max(i[1].end(), inner_pos + 1)
                        else:
                            end = e.end() if e else len(line)
                    marks[m.start():end] = [rule["name"]] * (end - m.start())
                    pos = max(end, pos + 1)
                    continue
                for group, capture in rule.get("captures", {}).items():
                    if m.group(int(group)) is not None:
                        s, e = m.span(int(group))
                        marks[s:e] = [capture["name"]] * (e - s)
                if "name" in rule:
                    marks[m.start():m.end()] = [rule["name"]] * (m.end() - m.start())
                pos = max(m.end(), pos + 1)
            out += marks + ["\n"]
        return out


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(TM.read_text(encoding="utf-8"))


def test_the_grammar_is_generated_from_the_language(update_golden):
    assert_golden(TM, json.dumps(grammar(), indent=2, ensure_ascii=False) + "\n", update_golden)


def test_the_grammar_is_valid_and_every_pattern_compiles(doc):
    assert doc["scopeName"] == SCOPE and doc["fileTypes"] == ["seg"]
    rules = list(_rules(doc))
    assert len(rules) >= 10
    for rule in rules:
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])
                assert "(?P" not in rule[key], "named groups in Python's syntax: Oniguruma writes (?<name>…)"
    includes = re.findall(r'"include": "#([\w-]+)"', json.dumps(doc))
    assert includes and set(includes) <= set(doc["repository"])


def _expected(tok: scan.Token, statement_start: bool) -> str | None:
    """The scope family a token must get: what the parser reads it as."""
    if tok.kind in ("comment", "string"):
        return tok.kind
    if tok.kind == "number":
        return "constant.numeric"
    if tok.kind == "word" and (tok.text in scan.keywords() or statement_start and tok.text in KEYS):
        return "keyword"
    return None


KEYS = {k.name for b in language.blocks().values() for k in b.keys.values()}


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLES])
def test_every_example_is_coloured_as_it_parses(path, doc):
    text = path.read_text(encoding="utf-8")
    marks = Highlighter(doc).scopes(text)
    wrong = []
    checked = 0
    previous = None
    for tok in scan.tokens(text):
        start = previous is None or previous.kind == "sep" or previous.text in "{;"
        expected = _expected(tok, start)
        if tok.kind != "comment":
            previous = tok
        if expected is None:
            continue
        checked += 1
        got = set(marks[tok.start:tok.end])
        if len(got) != 1 or expected not in got.pop():
            line = text.count("\n", 0, tok.start) + 1
            wrong.append(f"{path.name}:{line}: {tok.text!r} should be {expected}, got {sorted(set(marks[tok.start:tok.end]))}")
    assert checked > 3 and wrong == []


def test_the_highlighter_tells_scopes_apart(doc):
    """The engine above is not vacuous: a word in a comment is a comment, `1%` a number, a key a key."""
    text = 'experiment e {  # seed 1\n    seed 1\n    sample pixel { budget 1% per image }\n    load_from "x # y"\n}'
    marks = Highlighter(doc).scopes(text)

    def at(needle: str, nth: int = 0) -> str:
        return marks[[m.start() for m in re.finditer(re.escape(needle), text)][nth]]

    assert at("seed").startswith("comment") and at("seed", 1).startswith("keyword.other")
    assert at("1%").startswith("constant.numeric") and at("pixel").startswith("support.constant")
    assert at("# y").startswith("string") and at("e {").startswith("entity.name")


def test_vscode_extension_points_at_the_grammar_and_the_server():
    manifest = json.loads((EDITORS / "vscode" / "package.json").read_text())
    [grammar_entry] = manifest["contributes"]["grammars"]
    assert grammar_entry["scopeName"] == SCOPE
    assert (EDITORS / "vscode" / grammar_entry["path"]).resolve() == TM
    [lang] = manifest["contributes"]["languages"]
    assert lang["extensions"] == [".seg"] and (EDITORS / "vscode" / lang["configuration"]).exists()
    json.loads((EDITORS / "vscode" / lang["configuration"]).read_text())
    client = (EDITORS / "vscode" / manifest["main"]).read_text()
    assert 'args: ["lsp"]' in client


def test_helix_and_neovim_start_segal_lsp():
    helix = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    assert helix["language-server"]["segal"] == {"command": "segal", "args": ["lsp"]}
    assert helix["language"][0]["file-types"] == ["seg"]
    assert '"lsp"' in (EDITORS / "neovim" / "seg.lua").read_text()


def test_the_editor_files_are_where_the_docs_say():
    doc = (ROOT / "docs" / "editor.md").read_text()
    for path in ("editors/vscode", "editors/helix/languages.toml", "editors/neovim/seg.lua", "segal lsp"):
        assert path in doc
    assert Path(TM).exists()
