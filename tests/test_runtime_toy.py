"""The embedded toy dataset: deterministic, mmseg layout, several classes (numpy + Pillow only)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from segal_dsl.runtime.toy import generate


def test_render_is_deterministic_and_has_several_classes():
    img1, lab1 = generate.render(3)
    img2, lab2 = generate.render(3)
    assert np.array_equal(img1, img2) and np.array_equal(lab1, lab2)
    classes = set()
    for i in range(20):
        classes |= set(np.unique(generate.render(i)[1]).tolist())
    assert classes == set(range(len(generate.CLASSES)))


def test_ensure_writes_mmseg_layout_once(tmp_path):
    root = generate.ensure(tmp_path / "toy")
    for split, n in generate.SPLITS.items():
        imgs = sorted((root / "img_dir" / split).glob("*.png"))
        anns = sorted((root / "ann_dir" / split).glob("*.png"))
        assert len(imgs) == len(anns) == n
    lab = np.array(Image.open(anns[0]))
    assert lab.dtype == np.uint8 and lab.shape == (generate.SIZE, generate.SIZE)
    stamp = (root / "DONE").stat().st_mtime_ns
    assert generate.ensure(tmp_path / "toy") == root and (root / "DONE").stat().st_mtime_ns == stamp
