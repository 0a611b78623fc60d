"""Visualisation helpers: the right pixels change colour, PNGs are written atomically."""

import os

import numpy as np
import pytest

from segal_dsl.runtime import labels as L
from segal_dsl.runtime import viz


def _img(h=12, w=16):
    g = np.random.default_rng(0)
    return g.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_overlay_dims_unlabelled_lightens_labelled_highlights_new():
    img = _img()
    lab = np.zeros((12, 16), dtype=bool)
    lab[2:5, 3:6] = True
    new = np.zeros_like(lab)
    new[8, 8] = True
    out = viz.overlay(img, lab, new)
    assert out.shape == img.shape and out.dtype == np.uint8
    plain = ~lab & ~new
    assert np.abs(out[plain].astype(int) - img[plain] // 2).max() <= 1  # dimmed
    assert (out[lab].astype(int) >= 127).all()  # blended towards white
    assert out[8, 8].tolist() == [int(0.25 * c + 0.75 * n + 0.5) for c, n in zip(img[8, 8], viz.NEW_COLOUR)]


def test_overlay_resizes_image_to_mask_size():
    pytest.importorskip("PIL")
    out = viz.overlay(_img(6, 8), np.zeros((12, 16), dtype=bool))
    assert out.shape == (12, 16, 3)


def test_overlay_rejects_mismatched_masks_and_float_images():
    with pytest.raises(ValueError, match="does not match"):
        viz.overlay(_img(), np.zeros((12, 16), bool), np.zeros((12, 15), bool))
    with pytest.raises(ValueError, match="uint8"):
        viz.overlay(_img().astype(np.float32), np.zeros((12, 16), bool))


def test_side_by_side():
    img = _img()
    m = np.zeros((12, 16), dtype=bool)
    m[0, 0] = True
    out = viz.side_by_side(img, m)
    assert out.shape == (12, 32, 3)
    assert np.array_equal(out[:, :16], img)
    assert out[0, 16].tolist() == [255, 255, 255] and out[0, 17].tolist() == [0, 0, 0]


def test_score_map_renders_with_colour_bar():
    pytest.importorskip("matplotlib")
    scores = np.linspace(0, 1, 12 * 16, dtype=np.float32).reshape(12, 16)
    out = viz.score_map(_img(), scores, title="round 1")
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[1] > out.shape[0]  # image plus colour bar
    assert len(np.unique(out.reshape(-1, 3), axis=0)) > 50  # a colour map, not a blank canvas


def test_save_png_is_atomic_and_readable(tmp_path, monkeypatch):
    PIL = pytest.importorskip("PIL.Image")
    path = tmp_path / "viz" / "round1" / "3.png"
    viz.save_png(path, _img())
    assert np.array_equal(np.asarray(PIL.open(path)), _img())
    old = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(L.os, "replace", crash)
    with pytest.raises(OSError):
        viz.save_png(path, np.zeros((4, 4, 3), np.uint8))
    assert path.read_bytes() == old
    assert os.listdir(path.parent) == ["3.png"]
