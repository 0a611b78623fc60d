"""The hard toy variant: a rare class, thin lines, small blobs, void regions; deterministic; selected by
the dataset's `variant` setting (segal_dsl/runtime/toy/generate.py, configs/toy_hard_unet.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from segal_dsl.runtime.toy import generate
from segal_dsl.spec.config import PixelSettings

HARD = generate.VARIANTS["hard"]
DOT, LINE, BLOB = (HARD.classes.index(c) for c in ("dot", "line", "blob"))


@pytest.fixture(scope="module")
def train_labels() -> np.ndarray:
    return np.stack([HARD.render(i, 0)[1] for i in range(HARD.splits["train"])])


def test_render_hard_is_a_pure_function_of_index_and_seed():
    a, b = HARD.render(5, 0), HARD.render(5, 0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(HARD.render(5, 1)[1], a[1])
    assert not np.array_equal(HARD.render(6, 0)[1], a[1])


def test_class_frequencies_are_imbalanced_with_a_rare_class(train_labels):
    freq = {c: float((train_labels == c).mean()) for c in range(len(HARD.classes))}
    assert 0.005 <= freq[DOT] <= 0.025                 # the rare class: ~1-2% of the pixels
    assert freq[0] >= 0.6                              # background dominates
    assert all(f > 0 for f in freq.values())
    assert freq[DOT] == min(freq.values())
    assert set(np.unique(train_labels).tolist()) == set(range(len(HARD.classes))) | {generate.VOID}


def test_void_regions_carry_the_default_ignore_index(train_labels):
    assert generate.VOID == PixelSettings.model_fields["ignore_index"].default == 255
    void = train_labels == generate.VOID
    assert 0.03 <= void.mean() <= 0.12
    assert 0.5 <= np.mean([v.any() for v in void]) < 1.0     # most images have void, not all
    # void comes in patches (rectangles at least 5 px across), not scattered pixels
    for v in void:
        comp, _ = ndimage.label(v)
        for sl in ndimage.find_objects(comp):
            assert sl[0].stop - sl[0].start >= 5 and sl[1].stop - sl[1].start >= 5


def test_lines_are_one_or_two_pixels_wide(train_labels):
    lines = train_labels == LINE
    assert lines.any(axis=(1, 2)).all()                # every image has lines
    # a 3x3 erosion removes a structure at most 2 px wide; only crossings and overlaps survive it
    survivors = np.stack([ndimage.binary_erosion(m, np.ones((3, 3))) for m in lines])
    assert survivors.sum() <= 0.05 * lines.sum()


def test_blobs_and_dots_are_small(train_labels):
    for cls in (BLOB, DOT):
        areas = []
        for lab in train_labels:
            comp, n = ndimage.label(lab == cls)
            areas += np.bincount(comp.ravel())[1:].tolist()
        assert areas and np.median(areas) <= 40 and np.mean(np.asarray(areas) <= 60) >= 0.9


def test_ensure_writes_the_same_bytes_twice_and_refuses_another_variant(tmp_path):
    a = generate.ensure(tmp_path / "a", variant="hard")
    b = generate.ensure(tmp_path / "b", variant="hard")
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(files) == 2 * sum(HARD.splits.values())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "DONE").read_text() == "segal-dsl toy dataset hard v1 seed 0\n"
    lab = np.array(Image.open(a / "ann_dir" / "train" / "toy_0000.png"))
    assert np.array_equal(lab, HARD.render(0, 0)[1])
    with pytest.raises(ValueError, match="hard v1 seed 0"):
        generate.ensure(a, variant="easy")            # a folder is never read as the other variant
    with pytest.raises(ValueError, match="not 'segal-dsl toy dataset hard v1 seed 1'"):
        generate.ensure(a, seed=1, variant="hard")


def test_default_roots_of_the_variants_differ(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGAL_TOY_DIR", str(tmp_path / "toy"))
    assert generate.default_root() == tmp_path / "toy"
    assert generate.default_root("hard") == tmp_path / "toy-hard"
    monkeypatch.delenv("SEGAL_TOY_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert generate.default_root("hard") == tmp_path / "segal-dsl" / "toy-hard-v1"
    assert generate.default_root() == tmp_path / "segal-dsl" / "toy-v1"


def test_dataset_variant_setting_selects_the_hard_data_and_its_classes(tmp_path):
    from segal_dsl.runtime.toy.dataset import SegalToyDataset

    root = generate.ensure(tmp_path / "hard", variant="hard")
    ds = SegalToyDataset(data_root=str(root), variant="hard", img_dir="img_dir/val", ann_dir="ann_dir/val",
                         pipeline=[])
    assert len(ds) == HARD.splits["val"] and tuple(ds.CLASSES) == HARD.classes
    assert tuple(SegalToyDataset.CLASSES) == generate.CLASSES     # the class attribute stays the easy one's
    gt = ds.get_gt_seg_map_by_idx(0)
    assert np.array_equal(gt, HARD.render(HARD.splits["train"], 0)[1])
    with pytest.raises(ValueError, match="unknown variant 'medium'"):
        SegalToyDataset(data_root=str(root), variant="medium", img_dir="img_dir/val", pipeline=[])


def test_the_hard_base_config_sets_the_variant_on_every_split():
    import mmcv

    from segal_dsl.runtime.toy.dataset import config_path

    cfg = mmcv.Config.fromfile(config_path().replace("toy_unet.py", "toy_hard_unet.py"))
    easy = mmcv.Config.fromfile(config_path())
    for split in ("train", "query", "val", "test"):
        assert cfg.data[split].variant == "hard" and cfg.data[split].type == "SegalToyDataset"
        assert "variant" not in easy.data[split]
    assert cfg.model == easy.model
