"""Issue 11: the class-balanced pixel selector (`sample pixel { class_balanced true }`): hand-made cases with
known answers, an exhaustive search on small images, the front end's SEG416, the contract, one toy run."""

import itertools

import numpy as np
import pytest
from conftest import EXAMPLES

from segal_dsl.api import analyse, compile_source
from segal_dsl.runtime.selection import class_balanced_quotas, select_class_balanced
from segal_dsl.source import Source

TOY = (EXAMPLES / "toy_pixel.seg").as_posix()


def test_quotas_fill_the_classes_evenly_and_pass_on_what_a_small_class_lacks():
    no_tie = lambda c, t: 0.0
    assert class_balanced_quotas([5, 5, 5], 6, no_tie).tolist() == [2, 2, 2]
    # class 1 has one pixel: its unused share goes to the others; the odd pick goes to the better next score
    assert class_balanced_quotas([5, 1, 5], 6, lambda c, t: {0: 0.2, 2: 0.7}[c]).tolist() == [2, 1, 3]
    assert class_balanced_quotas([5, 1, 5], 6, lambda c, t: {0: 0.7, 2: 0.2}[c]).tolist() == [3, 1, 2]
    assert class_balanced_quotas([5, 1, 5], 6, no_tie).tolist() == [3, 1, 2]  # a tie: the lower class
    assert class_balanced_quotas([2, 1], 10, no_tie).tolist() == [2, 1]       # more quota than pixels
    assert class_balanced_quotas([4], 3, no_tie).tolist() == [3]
    assert class_balanced_quotas([3, 3], 0, no_tie).tolist() == [0, 0]


def test_one_image_by_hand():
    # predicted classes and scores of a 2x4 image; pixel (0, 0) is labelled
    classes = np.array([[0, 0, 0, 0], [0, 0, 1, 2]])
    scores = np.array([[9.0, 8.0, 7.0, 6.0], [5.0, 4.0, 1.0, 0.5]])
    lab = np.zeros((2, 4), bool)
    lab[0, 0] = True
    got = select_class_balanced(scores, lab, 3, classes)
    # top-3 would be 8, 7, 6 (all class 0); balanced: one per predicted class, each its best
    assert np.argwhere(got).tolist() == [[0, 1], [1, 2], [1, 3]]
    got = select_class_balanced(scores, lab, 5, classes)  # class 1 and 2 run out: class 0 takes the rest
    assert np.argwhere(got).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3]]
    assert select_class_balanced(scores, lab, 100, classes).sum() == 7  # all that is unlabelled
    assert not select_class_balanced(scores, lab, 0, classes).any()


def _brute(scores, lab, quota, classes, n_classes):
    """Exhaustively: the most balanced class counts (sorted counts smallest in lexicographic order, i.e. the
    largest class as small as possible, then the next…), then the largest total score."""
    unl = np.flatnonzero(~lab.ravel())
    k = min(quota, unl.size)
    best = None
    for subset in itertools.combinations(unl.tolist(), k):
        counts = np.bincount(classes.ravel()[list(subset)], minlength=n_classes)
        key = (tuple(sorted(counts.tolist(), reverse=True)), -float(scores.ravel()[list(subset)].sum()))
        if best is None or key < best[0]:
            best = (key, set(subset))
    return best[1]


def test_selection_matches_an_exhaustive_search_on_small_images():
    rng = np.random.default_rng(11)
    for _ in range(60):
        h, w = int(rng.integers(1, 4)), int(rng.integers(2, 4))
        c = int(rng.integers(1, 4))
        classes = rng.integers(0, c, size=(h, w))
        scores = rng.random((h, w))  # continuous: no ties, one best selection
        lab = rng.random((h, w)) < 0.25
        quota = int(rng.integers(0, h * w + 1))
        got = set(np.flatnonzero(select_class_balanced(scores, lab, quota, classes)).tolist())
        assert got == _brute(scores, lab, quota, classes, c)


def _seg(sample: str, heuristic: str = "entropy") -> str:
    return (f'experiment cb {{\n    extends "{TOY}"\n    delete visualize\n    sample pixel {{ {sample} }}\n'
            f"    heuristic {heuristic}\n    schedule iters {{ train 1; query; train 1 }}\n}}\n")


def test_class_balanced_compiles_into_the_pixel_settings():
    result = compile_source(Source("cb.seg", _seg("budget 20 px per image; class_balanced true")), "o/c.py")
    assert result.ok, [d.message for d in result.diagnostics]
    assert "sample_class_balanced=True" in result.config


@pytest.mark.parametrize(("extra", "heuristic", "what"), [
    ("threshold top 5%", "entropy", "`threshold`"),
    ("evenly false", "entropy", "`evenly false`"),
    ("suppress 2", "entropy", "`suppress`"),
    ("", "entropy { prop 0.5 }", "`prop`"),
])
def test_what_undoes_the_balance_is_seg416(extra, heuristic, what):
    result = analyse(Source("cb.seg", _seg(f"budget 20 px per image; class_balanced true; {extra}".rstrip("; "),
                                           heuristic)))
    assert [d.code for d in result.diagnostics] == ["SEG416"]
    assert result.diagnostics[0].message == f"`class_balanced` cannot be combined with {what}"


def test_class_balanced_is_a_pixel_sampling_setting():
    seg = (f'experiment cb {{\n    extends "{TOY}"\n    delete visualize\n'
           "    sample region { budget 1% per image; radius 1; class_balanced true }\n"
           "    schedule iters { train 1; query; train 1 }\n}\n")
    (d,) = analyse(Source("cb.seg", seg)).diagnostics
    assert d.code == "SEG201" and "`class_balanced` is not a setting of `sample region`" in d.message


def test_the_contract_refuses_a_hand_written_conflict():
    from segal_dsl.spec.config import ConfigError, read_config

    result = compile_source(Source("cb.seg", _seg("budget 20 px per image; class_balanced true")), "o/c.py")
    values = result.points[0].effective.values
    assert read_config(values).settings.sample_class_balanced is True
    pixel = dict(values["active_learning"]["settings"]["pixel"], sample_threshold=5.0)
    bad = dict(values, active_learning=dict(values["active_learning"], settings={"pixel": pixel}))
    with pytest.raises(ConfigError, match="sample_class_balanced"):
        read_config(bad)


@pytest.mark.runtime
def test_a_class_balanced_query_on_the_toy_buys_what_the_selector_says(tmp_path, monkeypatch):
    """One real query: every image's new labels are select_class_balanced of the query-time model's entropy
    and argmax, recomputed here from the step checkpoint the query used; and the balance changed what plain
    top-k would have bought. lr 0 keeps the initial weights, which predict several classes per image (a few
    toy iterations predict the background everywhere, where balanced and plain picks are the same)."""
    pytest.importorskip("mmseg")
    import mmcv
    from _runtime_helpers import toy_env
    from mmcv.parallel import collate
    from mmcv.runner import load_checkpoint
    from mmseg.datasets import build_dataset
    from mmseg.models import build_segmentor

    from segal_dsl.runtime.heuristics import get_heuristic
    from segal_dsl.runtime.labels import LabelState
    from segal_dsl.runtime.launch import run_experiment
    from segal_dsl.runtime.query import initial_labels, posteriors, void_reader
    from segal_dsl.runtime.selection import select_pixels
    from segal_dsl.spec.config import read_config

    toy_env(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    seg = tmp_path / "cb.seg"
    seg.write_text(_seg("initial 1% per image; budget 20 px per image; class_balanced true")
                   .replace("train 1; query; train 1", "train 2; query")
                   .replace("    delete visualize\n", "    delete visualize\n    mmseg { optimizer.lr = 0.0 }\n"))
    work = tmp_path / "run"
    assert run_experiment(str(seg), work_dir=str(work)) == 0
    state = LabelState.load(work / "masks")
    assert [(r["round"], r["added"]) for r in state.records][1] == (1, 20 * len(state))
    cfg = mmcv.Config.fromfile(str(work / "cb.py"), import_custom_modules=False)
    model = build_segmentor(cfg.model)
    load_checkpoint(model, str(work / "al_state" / "step_0.pth"), map_location="cpu")
    model.eval()
    fresh = LabelState.for_pixels(state.sizes)
    initial_labels(fresh, read_config(dict(cfg.items())), state.meta["seeds"]["initial_labels"])
    pool = build_dataset(cfg.data.query)
    void_of = void_reader(pool, 255)
    entropy, differs = get_heuristic("entropy"), 0
    for i in range(len(state)):
        with torch_no_grad():
            probs = posteriors(model, collate([pool[i]], samples_per_gpu=1), state.sizes[i])
            scores = entropy(probs)[0].double().numpy()
        lab = fresh.mask(i) | void_of(i, state.sizes[i])
        want = select_class_balanced(scores, lab, 20, probs[0].argmax(dim=0).numpy())
        np.testing.assert_array_equal(state.mask(i), fresh.mask(i) | want, err_msg=f"image {i}")
        differs += not np.array_equal(want, select_pixels(scores, lab, 20))
    assert differs > 0, "the balance never changed a pick: the test model predicts one class only"


def torch_no_grad():
    import torch

    return torch.no_grad()


def test_segal_import_reads_it_back(tmp_path):
    from segal_dsl.importer import import_source

    result = compile_source(Source(str(tmp_path / "cb.seg"), _seg("budget 20 px per image; class_balanced true")),
                            str(tmp_path / "cb.py"))
    back = import_source(result.config, str(tmp_path / "cb.py"))
    assert "class_balanced true" in back.seg_text and not [d for d in back.diagnostics if d.code == "SEG610"]
