"""SEG232 (issue 11): an MC-dropout heuristic on a model whose config has no dropout is found by `segal check`,
from the effective config (bases merged), before anything runs."""

import pytest
from conftest import EXAMPLES

from segal_dsl.api import analyse
from segal_dsl.source import Source

TOY = (EXAMPLES / "toy_pixel.seg").as_posix()


def _codes(tmp_path, body: str, base: str | None = None) -> list[str]:
    head = f'    extends "{TOY}"\n    delete visualize\n'
    if base is not None:
        (tmp_path / "model.py").write_text(base)
        head = '    base "model.py"\n    sample pixel { budget 1% per image }\n'
    seg = tmp_path / "m.seg"
    seg.write_text(f"experiment m {{\n{head}    schedule epochs {{ train 1; query; train 1 }}\n{body}}}\n")
    return [d.code for d in analyse(Source(str(seg), seg.read_text())).diagnostics]


@pytest.mark.parametrize("heuristic", ["bald { passes 2 }", "variation_ratio"])
def test_the_toy_model_has_no_dropout(tmp_path, heuristic):
    assert _codes(tmp_path, f"    heuristic {heuristic}\n") == ["SEG232"]


def test_the_fix_in_the_help_clears_it(tmp_path):
    fixed = "    heuristic bald\n    mmseg { model.decode_head.dropout_ratio = 0.1 }\n"
    assert _codes(tmp_path, fixed) == []
    (d,) = analyse(Source("x.seg", (tmp_path / "m.seg").read_text().replace(
        "    mmseg { model.decode_head.dropout_ratio = 0.1 }\n", ""))).diagnostics
    assert "model.decode_head.dropout_ratio = 0.1" in d.help


def test_other_heuristics_do_not_care(tmp_path):
    assert _codes(tmp_path, "    heuristic entropy\n") == []


HEAD = "model = dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c'{bb}), decode_head=dict(type='FCNHead'{dh}){aux})\n"


@pytest.mark.parametrize(("bb", "dh", "aux", "codes"), [
    ("", ", dropout_ratio=0", "", ["SEG232"]),
    ("", ", dropout_ratio=0.0", ", auxiliary_head=dict(type='FCNHead', dropout_ratio=0)", ["SEG232"]),
    ("", "", "", []),                                     # mmseg's head default: dropout_ratio=0.1
    ("", ", dropout_ratio=0", ", auxiliary_head=dict(type='FCNHead')", []),    # the auxiliary head has 0.1
    (", drop_rate=0.1", ", dropout_ratio=0", "", []),     # a backbone dropout layer
    (", drop_path_rate=0.1", ", dropout_ratio=0", "", ["SEG232"]),  # stochastic depth is no dropout layer
])
def test_what_counts_as_dropout_in_a_base(tmp_path, bb, dh, aux, codes):
    assert _codes(tmp_path, "    heuristic bald\n", HEAD.format(bb=bb, dh=dh, aux=aux)) == codes
