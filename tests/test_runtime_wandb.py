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


def table_rows(run_dir: Path, row: dict, key: str) -> list:
    """The rows of the W&B table logged as `key` in a history row (offline: a JSON file under files/)."""
    return json.loads((run_dir / "files" / row[f"{key}/path"]).read_text())["data"]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An offline W&B directory of this test; wandb's process-wide settings (read from the environment at
    the first init, WANDB_DIR included) are torn down after, so the next test's runs land in its own."""
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wb").mkdir()
    yield tmp_path / "wb" / "wandb"
    wandb.teardown()


def test_offline_run_has_al_metrics(tmp_path, offline, tmp_path_factory):
    toy_env(tmp_path_factory.getbasetemp())
    wd = tmp_path / "wd"
    hooks = [dict(type="TextLoggerHook"),
             dict(type="WandbLoggerHookWithVal", init_kwargs=dict(project="segal-test", name="toy"))]
    # reset_each_round restarts runner.iter every round: the W&B step must still grow
    assert run("toy_pixel.py", wd, log_config=dict(interval=1, hooks=hooks),
               **{"active_learning.reset_each_round": True}) == 0

    runs = list(offline.glob("offline-run-*"))
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


def test_sweep_points_share_a_group_and_log_their_tables(tmp_path, offline, tmp_path_factory):
    """Each point of a sweep is one offline run in the sweep's group, named after the point, its config holding
    the .seg source, the plan and the axis values; the learning curve and per-class tables match report.json."""
    from conftest import EXAMPLES

    from segal_dsl.runtime.launch import run_experiment

    toy_env(tmp_path_factory.getbasetemp())
    seg = tmp_path / "sweep.seg"
    seg.write_text(
        "experiment toy_wb {\n"
        f'    extends "{(EXAMPLES / "toy_pixel.seg").as_posix()}"\n'
        "    delete visualize\n"
        "    schedule iters { train 2; query; train 1 }\n"
        '    log every 1 iters { text; wandb { project "segal-test" } }\n'
        "    sweep { heuristic random, entropy }\n"
        "}\n")
    root = tmp_path / "runs"
    assert run_experiment(str(seg), work_dir=str(root)) == 0

    runs = {}
    for run_dir in offline.glob("offline-run-*"):
        info, history = {}, []
        for rec in wandb_records(next(run_dir.glob("run-*.wandb"))):
            kind = rec.WhichOneof("record_type")
            if kind == "run":
                info.update(group=rec.run.run_group, name=rec.run.display_name,
                            config={u.key: json.loads(u.value_json) for u in rec.run.config.update})
            elif kind == "history":
                history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
        info["history"], info["dir"] = history, run_dir
        runs[info["name"]] = info
    names = ["toy_wb__heuristic-random", "toy_wb__heuristic-entropy"]
    assert sorted(runs) == sorted(names), "one run per point, named after it"
    for name, heuristic in zip(names, ("random", "entropy")):
        wb = runs[name]
        assert wb["group"] == "toy_wb"
        config = wb["config"]
        assert config["seg_source"] == seg.read_text()
        assert config["sweep"]["values"] == {"heuristic": heuristic} and config["sweep"]["point"] == name
        assert config["plan"]["sweep"]["values"] == {"heuristic": heuristic}
        rounds = json.loads((root / name / "report.json").read_text())["rounds"]
        tables = [h for h in wb["history"] if "al/learning_curve_table/path" in h]
        assert len(tables) == 2, "the tables are logged after every round"
        assert table_rows(wb["dir"], tables[-1], "al/learning_curve_table") == [[e["round"], e["labelled"], e["mIoU"]] for e in rounds]
        expected = [[e["round"], c, e.get("IoU", {}).get(c), n] for e in rounds for c, n in e["labelled_per_class"].items()]
        assert len(expected) == 2 * 5  # two rounds, five toy classes
        # report.json sorts its keys; the table keeps the dataset's class order
        assert sorted(table_rows(wb["dir"], tables[-1], "al/per_class")) == sorted(expected)
