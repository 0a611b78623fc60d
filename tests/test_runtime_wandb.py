"""WandbLoggerHookWithVal, offline: a run directory with the AL metrics, the .seg source and the plan."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

pytest.importorskip("mmseg")
pytest.importorskip("wandb")

from _runtime_helpers import run, toy_env

pytestmark = pytest.mark.runtime


def wandb_records(path: Path):
    """Records of an offline `run-*.wandb` file (leveldb log format: 32 KiB blocks, 7-byte headers).

    wandb >= 0.2x writes offline runs only into this file (no wandb-summary.json), and ships no
    Python reader for it any more.
    """
    from wandb.proto import wandb_internal_pb2

    raw, pos, buf, block = path.read_bytes(), 7, b"", 32768  # 7 = ':W&B' + magic + version
    while pos + 7 <= len(raw):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, n, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        data, pos = raw[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(buf + data)
            buf = b""
            yield rec
        elif kind in (2, 3):
            buf += data


def test_offline_run_has_al_metrics(tmp_path, monkeypatch, tmp_path_factory):
    toy_env(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wb").mkdir()
    wd = tmp_path / "wd"
    hooks = [dict(type="TextLoggerHook"),
             dict(type="WandbLoggerHookWithVal", init_kwargs=dict(project="segal-test", name="toy"))]
    # reset_each_round restarts runner.iter every round: the W&B step must still grow
    assert run("toy_pixel.py", wd, log_config=dict(interval=1, hooks=hooks),
               **{"active_learning.reset_each_round": True}) == 0

    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "one offline run directory"
    history, config = [], {}
    for rec in wandb_records(next(runs[0].glob("run-*.wandb"))):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "run":
            config.update({u.key: u.value_json for u in rec.run.config.update})
    al = [h for h in history if "al/round" in h]
    assert [h["al/round"] for h in al] == [0, 1, 2]
    assert [h["al/labelled"] for h in al] == [2560, 5120, 7680]
    assert all("al/mIoU" in h and "al/labelled_images" in h for h in al)
    steps = [h["global_step"] for h in history if "global_step" in h]
    assert steps == sorted(steps) and steps[-1] == 5, "monotonic global step across rounds"
    assert "seg_source" in config and "segal" in config and "mmseg_config" in config
