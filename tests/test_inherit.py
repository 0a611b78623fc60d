"""`extends`: nested merge, replacement, explicit delete, diagnostics pointing into the right file."""

import shutil

from conftest import FIXTURES
from test_emit import evaluate_config

from segal_dsl.api import analyse, compile_source, read_source
from segal_dsl.render import render_text

EXT = FIXTURES / "extends"


def compiled(path, out="out/cfg.py"):
    result = compile_source(read_source(path), out)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return evaluate_config(result.config)


def test_child_merges_replaces_and_deletes():
    base, child = compiled(EXT / "base.seg"), compiled(EXT / "child.seg")
    pixel_b, pixel_c = base["active_learning"]["settings"]["pixel"], child["active_learning"]["settings"]["pixel"]
    assert pixel_b["sample_threshold"] == 5.0 and "sample_threshold" not in pixel_c  # delete threshold
    assert pixel_c["initial_label_pixels"] == pixel_b["initial_label_pixels"]  # merged from the parent
    assert pixel_c["budget_per_round"] == {"value": 20, "unit": "px/img"}  # overridden by the child
    assert base["active_learning"]["heuristic"] == "entropy" and child["active_learning"]["heuristic"] == "ripu"
    assert "visualize" in base["active_learning"] and "visualize" not in child["active_learning"]
    assert child["optimizer"] == {"type": "SGD", "lr": 0.001, "momentum": 0.9}  # nested merge
    assert child["workflow"] == base["workflow"] and child["seed"] == 0
    assert child["_base_"] == base["_base_"]  # the parent's relative base path still resolves


def test_parent_base_paths_stay_relative_to_the_parent(tmp_path):
    (tmp_path / "shared").mkdir()
    shutil.copy(EXT / "base.seg", tmp_path / "shared" / "base.seg")
    (tmp_path / "exps").mkdir()
    (tmp_path / "exps" / "c.seg").write_text('experiment c {\n    extends "../shared/base.seg"\n}\n')
    cfg = compiled(tmp_path / "exps" / "c.seg", str(tmp_path / "exps" / "cfg.py"))
    base_cfg = compiled(tmp_path / "shared" / "base.seg", str(tmp_path / "shared" / "cfg.py"))
    # Both point at the same file: shared/<base path> seen from exps/.
    assert (tmp_path / "exps" / cfg["_base_"][0]).resolve() == (tmp_path / "shared" / base_cfg["_base_"][0]).resolve()


def test_errors_in_inherited_statements_point_into_the_parent(tmp_path):
    (tmp_path / "p.seg").write_text('experiment p {\n    base "m.py"\n    heuristic entorpy\n'
                                    '    sample pixel { budget 1% per image }\n'
                                    '    schedule epochs { train 1; query; train 1 }\n}\n')
    (tmp_path / "c.seg").write_text('experiment c {\n    extends "p.seg"\n    seed "x"\n}\n')
    result = analyse(read_source(tmp_path / "c.seg"))
    where = sorted((d.code, d.span.path.rsplit("/", 1)[-1], d.span.line) for d in result.diagnostics)
    assert where == [("SEG204", "c.seg", 3), ("SEG206", "p.seg", 3)]
    parent_diag = next(d for d in result.diagnostics if d.code == "SEG206")
    text = render_text(parent_diag, result.sources[parent_diag.span.path])
    assert "3 |     heuristic entorpy" in text


def test_delete_typo_cycle_and_missing_parent():
    codes = lambda name: sorted(d.code for d in analyse(read_source(EXT / name)).diagnostics)
    assert codes("bad_child.seg") == ["SEG217", "SEG401"]
    assert codes("cycle_a.seg") == ["SEG216"]
    assert codes("missing_parent.seg") == ["SEG215"]
