"""House rules, checked on the source: no import cycles, no private names across modules, ruff clean,
docstrings on the data model, comments that cite only files of the repository, one home per fact."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "segal_dsl"
MODULES = {p: ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
           for p in sorted(PACKAGE.rglob("*.py"))}
BY_NAME = {name: path for path, name in MODULES.items()}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of a segal_dsl module, lazy ones included;
    imports under `if TYPE_CHECKING:` are left out (they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = MODULES[path]
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and getattr(node.test, "id", "") ==
            "TYPE_CHECKING" for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("segal_dsl")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if not base.startswith("segal_dsl"):
                continue
            names = [a.name for a in node.names]
            for name in names:  # `from segal_dsl.spec import budget` imports the module segal_dsl.spec.budget
                if f"{base}.{name}" in BY_NAME:
                    out.append((f"{base}.{name}", [], node.lineno))
            out.append((base, [n for n in names if f"{base}.{n}" not in BY_NAME], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in BY_NAME}
    for path, name in MODULES.items():
        for target, _, _ in _imports(path):
            while target not in BY_NAME and "." in target:
                target = target.rpartition(".")[0]
            if target in BY_NAME and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_point_one_way():
    """spec/ imports no front end, importer or runtime; the front end, importer and language server never import
    the runtime; only the CLI imports the language server."""
    graph = _graph()
    for name, targets in graph.items():
        if ".spec" in name:
            assert not {t for t in targets if re.search(r"\.(frontend|importer|runtime|api|cli)\b", t)}, name
        if re.search(r"\.(spec|pyconfig|frontend|importer|lsp)\b", name) or name.endswith((".api", ".render")):
            assert not {t for t in targets if ".runtime" in t}, name
        if not re.search(r"\.(lsp|cli)\b", name):  # the language server (pygls) is reached only by `segal lsp`
            assert not {t for t in targets if re.search(r"\.lsp\b", t)}, name


def test_spec_imports_neither_torch_nor_lark():
    for path in (PACKAGE / "spec").glob("*.py"):
        tree = ast.parse(path.read_text())
        tops = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        tops |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not tops & {"torch", "lark", "mmcv", "mmseg", "numpy"}, path.name


def _module_aliases(path: Path) -> dict[str, str]:
    """Local names bound to segal_dsl modules (`from segal_dsl.spec import budget as b` -> {"b": ...})."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = MODULES[path]
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                if f"{base}.{a.name}" in BY_NAME:
                    out[a.asname or a.name] = f"{base}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in BY_NAME and a.asname:
                    out[a.asname] = a.name
    return out


def test_no_private_names_across_modules():
    offenders = []
    for path in MODULES:
        for target, names, line in _imports(path):
            offenders += [f"{path.relative_to(ROOT)}:{line} imports {n} from {target}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
        offenders += [f"{path.relative_to(ROOT)} binds {alias} to {target}" for alias, target in _module_aliases(path).items()
                      if alias.startswith("_")]  # a private alias of another module's name hides the import
        aliases = _module_aliases(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert offenders == []


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is installed by scripts/setup.sh (test extras)")
def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    done = subprocess.run([ruff, "check", "--no-cache", "segal_dsl", "tests", "scripts", "benchmarks"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:]


DATA_MODEL = ("segal_dsl/frontend/nodes.py", "segal_dsl/frontend/model.py", "segal_dsl/spec/modes.py",
              "segal_dsl/spec/budget.py", "segal_dsl/spec/heuristics.py", "segal_dsl/spec/schedule.py",
              "segal_dsl/spec/config.py", "segal_dsl/spec/plan.py", "segal_dsl/diagnostics.py", "segal_dsl/source.py",
              "segal_dsl/codes.py", "segal_dsl/pyconfig/load.py", "segal_dsl/pyconfig/evaluate.py",
              "segal_dsl/frontend/bases.py", "segal_dsl/frontend/emit.py", "segal_dsl/api.py")


@pytest.mark.parametrize("rel", DATA_MODEL)
def test_data_model_classes_have_docstrings(rel):
    tree = ast.parse((ROOT / rel).read_text())
    missing = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and not ast.get_docstring(n)]
    assert missing == [], f"{rel}: classes without a docstring: {missing}"


CITATION = re.compile(r"(?<![\w./-])((?:\.\./)*[\w.-]+(?:/[\w.-]+)+\.(?:md|py|lark|j2|seg|sh|toml|json))\b")


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    import io
    import tokenize

    out = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and tok.string.startswith(('"""', "'''"))):
            out.append((tok.start[0], tok.string))
    return out


def test_comments_cite_only_files_of_the_repository():
    """A path named in a comment or docstring exists here (relative to the repository or the package);
    the reference system is cited through docs/reference.md, never through files outside the repository."""
    wrong = []
    for path in MODULES:
        for line, text in _comments_and_docstrings(path):
            if "segal-reference" in text or "shared/" in text:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: cites a file outside the repository")
            for cited in CITATION.findall(text):
                if cited.startswith(("work_dirs/", "data/", "~")) or "<" in cited:
                    continue
                if not any((base / cited).exists() for base in (ROOT, PACKAGE, path.parent)):
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: {cited} is not in the repository")
    assert wrong == []


def test_reference_sections_cited_in_code_exist():
    doc = (ROOT / "docs" / "reference.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+[a-z]?)\.", doc, flags=re.M))
    cited = {m for path in MODULES for _, t in _comments_and_docstrings(path)
             for m in re.findall(r"reference(?:\.md)? §(\d+[a-z]?)", t)}
    assert cited and cited <= sections, sorted(cited - sections)


# ---- one home per fact: the names of the spec layer are spelled out nowhere else ------------------------
FACTS = {
    "region area": re.compile(r"\(\s*2\s*\*\s*\w+\s*\+\s*1\s*\)\s*\*\*\s*2"),
    "the unit list": re.compile(r"""["']px/img["']\s*,\s*["']%/img["']"""),
    "the mode list": re.compile(r"""["']image["']\s*,\s*["']pixel["']\s*,\s*["']region["']"""),
    "the heuristic list": re.compile(r"""["']random["']\s*,\s*["']entropy["']\s*,\s*["']margin["']"""),
}


@pytest.mark.parametrize("fact", FACTS)
def test_one_home_per_fact(fact):
    homes = []
    for path in MODULES:
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        if FACTS[fact].search(code):
            homes.append(path.relative_to(PACKAGE).as_posix())
    assert len(homes) <= 1 and all(h.startswith("spec/") for h in homes), homes
