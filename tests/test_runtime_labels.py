"""LabelState: 1 bit per pixel, exact new-pixel counts, atomic save, corruption detected."""

import json
import os

import numpy as np
import pytest

from segal_dsl.runtime import labels as L
from segal_dsl.runtime.labels import LabelState, LabelStateError

SIZES = [(13, 17), (8, 8), (5, 31)]  # odd sizes: packed rows do not end on byte boundaries


def _filled(seed=0):
    st = LabelState.for_pixels(SIZES)
    g = np.random.default_rng(seed)
    for i, (h, w) in enumerate(SIZES):
        st.add(i, g.random((h, w)) < 0.3)
    return st


def test_add_counts_only_new_pixels_and_ors():
    st = LabelState.for_pixels(SIZES)
    a = np.zeros((13, 17), dtype=bool)
    a[2, 3] = a[4, 5] = True
    assert st.add(0, a) == 2
    b = a.copy()
    b[0, 0] = True
    assert st.add(0, b) == 1  # (2,3) and (4,5) were already labelled
    assert st.add(0, np.zeros_like(a)) == 0
    assert st.count(0) == 3 and st.total() == 3 and st.unlabelled(0) == 13 * 17 - 3
    assert np.array_equal(st.mask(0), a | b)
    assert st.mask(1).shape == (8, 8) and not st.mask(1).any()
    with pytest.raises(ValueError, match="shape"):
        st.add(1, np.ones((8, 9), dtype=bool))
    with pytest.raises(IndexError):
        st.mask(3)


def test_memory_is_at_most_one_bit_per_pixel():
    st = _filled()
    pixels = sum(h * w for h, w in SIZES)
    # ceil(H*W/8) per image + one int64 count per image
    assert st.nbytes <= pixels / 8 + len(SIZES) * (1 + 8)
    big = LabelState.for_pixels([(640, 1280)] * 3)
    assert big.nbytes <= 3 * 640 * 1280 // 8 + 3 * 8


def test_round_trip_with_records_and_meta(tmp_path):
    st = _filled()
    st.record_round(0, planned=40, added=38, extra={"warned": [2]})
    rec = st.record_round(1, planned=10, added=10)
    assert rec["cumulative"] == st.total()
    st.meta["seed"] = 3
    st.save(tmp_path)
    back = LabelState.load(tmp_path)
    assert back.sizes == SIZES and back.mode == "pixel"
    for i in range(len(SIZES)):
        assert np.array_equal(back.mask(i), st.mask(i))
        assert back.count(i) == st.count(i)
    assert back.records == st.records and back.meta == {"seed": 3}
    assert back.records[0]["extra"] == {"warned": [2]}


def test_disk_payload_is_at_most_one_bit_per_pixel(tmp_path):
    st = _filled()
    st.save(tmp_path)
    payload = [p for p in tmp_path.iterdir() if p.suffix == ".bin"]
    assert len(payload) == 1
    pixels = sum(h * w for h, w in SIZES)
    assert payload[0].stat().st_size <= pixels / 8 + len(SIZES)
    assert (tmp_path / L.MANIFEST).stat().st_size < 4096  # small header, no pixels in it


def test_image_mode_round_trip(tmp_path):
    st = LabelState.for_images(11)
    assert st.add_images([1, 4, 4, 10]) == 3
    assert st.add(1, True) == 0
    assert st.total() == 3 and st.count(4) == 1 and st.count(0) == 0
    st.save(tmp_path)
    back = LabelState.load(tmp_path)
    assert back.mode == "image" and np.array_equal(back.images(), st.images())


def test_resave_keeps_only_current_and_previous_payload(tmp_path):
    st = _filled()
    names = []
    for i in range(4):
        st.add(1, np.eye(8, dtype=bool) if i == 1 else np.roll(np.eye(8, dtype=bool), i, axis=1))
        st.save(tmp_path)
        names.append(json.loads((tmp_path / L.MANIFEST).read_text())["payload"])
    left = sorted(p.name for p in tmp_path.glob("labels-*.bin"))
    assert left == sorted(set(names[-2:]))
    assert LabelState.exists(tmp_path)
    assert np.array_equal(LabelState.load(tmp_path).mask(1), st.mask(1))


@pytest.mark.parametrize("fail_on", [1, 2])  # 1: payload rename, 2: manifest rename
def test_crash_during_save_keeps_old_state_and_no_temp_file(tmp_path, monkeypatch, fail_on):
    st = _filled()
    st.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    st.add(0, np.ones((13, 17), dtype=bool))
    st.record_round(1, 5, 5)

    real_replace = os.replace
    calls = {"n": 0}

    def crashing_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_on:
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(L.os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        st.save(tmp_path)
    monkeypatch.setattr(L.os, "replace", real_replace)

    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # no temp file, no orphan payload, old files untouched
    old = LabelState.load(tmp_path)
    assert old.count(0) == _filled().count(0) and old.records == []


def test_corrupted_payload_is_detected(tmp_path):
    _filled().save(tmp_path)
    payload = next(tmp_path.glob("labels-*.bin"))
    data = bytearray(payload.read_bytes())
    data[3] ^= 0x10
    payload.write_bytes(bytes(data))
    with pytest.raises(LabelStateError, match="corrupted"):
        LabelState.load(tmp_path)


def test_truncated_payload_and_bad_manifest_are_detected(tmp_path):
    _filled().save(tmp_path)
    payload = next(tmp_path.glob("labels-*.bin"))
    payload.write_bytes(payload.read_bytes()[:-1])
    with pytest.raises(LabelStateError, match="corrupted"):
        LabelState.load(tmp_path)
    (tmp_path / L.MANIFEST).write_text('{"format": "segal-label-state", "vers')
    with pytest.raises(LabelStateError, match="unreadable"):
        LabelState.load(tmp_path)
    (tmp_path / L.MANIFEST).write_text(json.dumps({"format": "segal-label-state", "version": 99}))
    with pytest.raises(LabelStateError, match="version 99"):
        LabelState.load(tmp_path)
    with pytest.raises(LabelStateError, match="no saved label state"):
        LabelState.load(tmp_path / "nowhere")


def test_record_round_rejects_non_json_extra():
    st = LabelState.for_pixels(SIZES)
    with pytest.raises(TypeError):
        st.record_round(0, 1, 1, extra={"x": object()})
    assert st.records == []
