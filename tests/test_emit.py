"""The compiled config: literal-only, deterministic, reference-shaped, written atomically; generated/ in sync."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, FIXTURES, ROOT, assert_golden, valid_examples

from segal_dsl.api import compile_file, compile_source, read_source
from segal_dsl.diagnostics import SegalError
from segal_dsl.source import Source

GENERATED = ROOT / "generated"


def compiled(path: Path) -> tuple[str, str]:
    """Compile an example as `make generated` does: into generated/, paths relative to the repo root."""
    rel = path.relative_to(ROOT).as_posix()
    out = f"generated/{path.stem}.py"
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = compile_source(read_source(rel), out)
    finally:
        os.chdir(cwd)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.config, result.plan_json


@pytest.mark.parametrize("path", valid_examples(), ids=lambda p: p.name)
def test_generated_matches_compiler(path, update_golden):
    config, plan = compiled(path)
    assert_golden(GENERATED / f"{path.stem}.py", config, update_golden)
    assert_golden(GENERATED / f"{path.stem}.plan.json", plan, update_golden)


def test_no_stale_generated_files():
    stems = {p.stem for p in valid_examples()}
    stale = [p.name for p in GENERATED.glob("*") if p.name.split(".")[0] not in stems]
    assert not stale, f"generated/ has files without an example: {stale}; run `make generated`"


def _literal_only(tree: ast.Module) -> None:
    """Every statement is `NAME = <literal>`, where dict(k=v) calls are the only calls allowed."""
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Call):
                assert isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args
            else:
                assert isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.keyword, ast.Name,
                                         ast.Load, ast.UnaryOp, ast.USub)), ast.dump(node)
                if isinstance(node, ast.Name):
                    assert node.id == "dict"


def evaluate_config(text: str) -> dict:
    """Evaluate a literal-only config without executing anything else."""
    tree = ast.parse(text)
    _literal_only(tree)

    def value(node):
        if isinstance(node, ast.Call):
            return {kw.arg: value(kw.value) for kw in node.keywords}
        if isinstance(node, ast.List):
            return [value(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return {value(k): value(v) for k, v in zip(node.keys, node.values)}
        return ast.literal_eval(node)

    out = {}
    for stmt in tree.body:
        out[stmt.targets[0].id] = value(stmt.value)
    return out


@pytest.mark.parametrize("path", valid_examples(), ids=lambda p: p.name)
def test_compiled_config_is_reference_shaped(path):
    config, plan_text = compiled(path)
    cfg = evaluate_config(config)
    plan = json.loads(plan_text)
    assert cfg["custom_imports"]["imports"][0] == "segal_dsl.runtime"
    run = cfg["runner"]
    assert run["type"] in ("ActiveLearningRunner", "MultiTaskActiveRunner")
    assert run["sample_mode"] == plan["sample_mode"]
    if plan["warmup_only"]:
        return
    wf = cfg["workflow"]
    # The reference's rules: irregular form (every element of workflow[0] a tuple), len == sample_rounds + 1,
    # each round exactly [train] or {train, query} once each.
    assert all(isinstance(step, tuple) for step in wf[0])
    assert len(wf) == run["sample_rounds"] + 1
    for rnd in wf:
        modes = [m for m, _ in rnd]
        assert modes in (["train"], ["train", "query"])
    assert [(r[0][1], len(r) == 2) for r in wf] == [(r["train"], r["query"]) for r in plan["rounds"]]


def test_output_is_deterministic_across_processes(tmp_path):
    src = EXAMPLES / "ripu_region_gtav2cs.seg"
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}" / "cfg.py"
        subprocess.run([sys.executable, "-m", "segal_dsl", "compile", str(src), "-o", str(out)], check=True,
                       cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": str(i)})
        outs.append((out.read_bytes(), out.with_name("cfg.plan.json").read_bytes()))
    assert outs[0] == outs[1]


def test_failed_compile_writes_nothing_and_keeps_old_output(tmp_path):
    out = tmp_path / "cfg.py"
    out.write_text("old config")
    with pytest.raises(SegalError) as info:
        compile_file(FIXTURES / "bad" / "SEG303_consecutive_queries.seg", out)
    assert info.value.diagnostics[0].code == "SEG303"
    assert out.read_text() == "old config"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.py"]


def test_base_paths_are_rebased_for_the_output_directory(tmp_path):
    seg = tmp_path / "exps" / "a.seg"
    seg.parent.mkdir()
    seg.write_text('experiment a {\n base "../configs/m.py", "/abs/b.py"\n sample pixel { budget 1% per image }\n'
                   ' heuristic random\n schedule epochs { train 1; query; train 1 }\n}\n')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = compile_source(read_source("exps/a.seg"), "out/deep/cfg.py")
    finally:
        os.chdir(cwd)
    assert evaluate_config(result.config)["_base_"] == ["../../configs/m.py", "/abs/b.py"]


HOSTILE = [
    "quote ' and \" both",
    "new\nline and \r return",
    "__import__('os').system('echo pwned')",
    "{{ jinja }} {% raw %} {0} f'{x}'",
    "back\\slash\\ \\n not a newline",
    "'''triple''' \"\"\"too\"\"\"",
    "\u2028 line separator \x0c form feed \t tab é ü 中",
    "# not a comment",
    "'); import os; ('",
]


def _seg_string(s: str) -> str:
    """Write `s` as a .seg string literal (the language's escapes)."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{out}"'


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_stay_literal_and_round_trip(hostile, tmp_path):
    h = _seg_string(hostile)
    # Paths may hold anything but a NUL or a line break (SEG229); `imports` are module names (SEG228).
    path = hostile.replace("\n", " ").replace("\r", " ")
    p = _seg_string(path)
    text = (f"experiment hostile {{\n base {p}\n imports \"pkg.mod\"\n load_from {p}\n work_dir {p}\n"
            f" runner active {{ mask_dir {p} }}\n sample pixel {{ budget 1% per image }}\n heuristic random\n"
            f" visualize {{ size 2; dir {p} }}\n schedule epochs {{ train 1; query; train 1 }}\n"
            f" log every 10 iters {{ text; wandb {{ entity {h}; project {h}; name {h}; group {h}; tags {h}, {h} }} }}\n"
            f" evaluation every 1 epochs {{ metric {h}; save_best {h} }}\n"
            f" mmseg {{ model.type = {h}; data.train = dict(note={h}, items=[{h}, ({h},)], more={{{h}: {h}}}) }}\n}}\n")
    result = compile_source(Source("hostile.seg", text), "cfg.py")
    assert result.ok, [d.message for d in result.diagnostics]
    cfg = evaluate_config(result.config)  # asserts literal-only
    al = cfg["active_learning"]
    wandb = cfg["log_config"]["hooks"][1]["init_kwargs"]
    values = [cfg["_base_"][0], cfg["custom_imports"]["imports"][1], cfg["load_from"], cfg["work_dir"],
              cfg["mask_dir"], al["visualize"]["dir"], wandb["entity"], wandb["project"], wandb["name"],
              wandb["group"], *wandb["tags"], cfg["evaluation"]["metric"], cfg["evaluation"]["save_best"],
              cfg["model"]["type"], cfg["data"]["train"]["note"], *cfg["data"]["train"]["items"][:1],
              cfg["data"]["train"]["items"][1][0], *cfg["data"]["train"]["more"].keys(),
              *cfg["data"]["train"]["more"].values()]
    expected = [path, "pkg.mod", path, path, path, path] + [hostile] * (len(values) - 6)
    assert [v for v in values[1:]] == expected[1:]
    # The header comment cannot be broken out of either.
    compile_source(Source(hostile + ".seg", text), "cfg.py")
    assert ast.parse(compile_source(Source(hostile + ".seg", text), "cfg.py").config)
    # And executing it as Python (the way mmcv loads configs) yields the same values, no side effects.
    namespace: dict = {}
    exec(compile(result.config, "cfg.py", "exec"), {"__builtins__": {"dict": dict}}, namespace)
    assert namespace["load_from"] == path and namespace["model"]["type"] == hostile


def test_outputs_get_ordinary_file_permissions(tmp_path):
    out = tmp_path / "cfg.py"
    compile_file(EXAMPLES / "design_sketch.seg", out)
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_compiled_config_doc_lists_the_contract():
    """docs/compiled-config.md's key table is the contract's own (`make docs` rewrites it)."""
    from segal_dsl.spec.config import render_contract_table

    text = (ROOT / "docs" / "compiled-config.md").read_text()
    table = text.split("<!-- generated: contract keys -->\n", 1)[1].split("<!-- end generated -->", 1)[0]
    assert table == render_contract_table(), "docs/compiled-config.md is stale: run `make docs`"


# ---- `budget X total` and `query at` in the compiled config ---------------------------------------------------
def _compiled_values(body: str) -> dict:
    text = f'experiment t {{\n base "m.py"\n heuristic entropy\n {body}\n}}\n'
    result = compile_source(Source("t.seg", text), "t.py")
    assert result.config is not None, [d.message for d in result.diagnostics]
    values = evaluate_config(result.config)
    values.pop("segal_meta")
    return values


def test_query_at_compiles_as_the_split_schedule():
    sample = "sample pixel { budget 1% per image }"
    at = _compiled_values(f"{sample}\n schedule iters {{ train 20k; query at 10k, 12k }}")
    split = _compiled_values(f"{sample}\n schedule iters {{ train 10000; query; train 2000; query; train 8000 }}")
    assert at == split
    assert at["workflow"] == [(("train", 10000), ("query", 1)), (("train", 2000), ("query", 1)), (("train", 8000),)]


def test_budget_total_compiles_one_share_per_query():
    sched = "schedule epochs { train 1 x5; train 1 }"
    image = _compiled_values(f"sample image {{ budget 12 images total }}\n {sched}")
    assert image["active_learning"]["settings"]["image"] == {"budget_per_round": 3, "budget_per_query": [3, 3, 2, 2, 2]}
    region = _compiled_values(f"sample region {{ budget 2.2% per image total }}\n {sched}")["active_learning"]
    shares = [{"value": 2.2, "unit": "%/img", "share": [k, 5]} for k in range(1, 6)]
    assert region["settings"]["region"] == {"budget_per_round": shares[0], "budget_per_query": shares}
    regions = _compiled_values(f"sample region {{ budget 11 regions total; radius 2 }}\n {sched}")
    assert regions["active_learning"]["settings"]["region"]["budget_per_query"] == [75, 50, 50, 50, 50]  # 3,2,2,2,2 × 25


def test_an_even_total_compiles_to_what_the_reference_reads():
    values = _compiled_values("sample pixel { budget 50k px total }\n schedule epochs { train 1 x5; train 1 }")
    assert values["active_learning"]["settings"]["pixel"] == {"budget_per_round": 10000}
    same = _compiled_values("sample pixel { budget 10000 px per round }\n schedule epochs { train 1 x5; train 1 }")
    assert values == same
