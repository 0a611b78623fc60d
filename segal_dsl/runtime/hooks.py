"""`WandbLoggerHookWithVal`: mmcv's W&B hook + validation metrics, a monotonic step and AL metrics.

docs/reference.md §8 only added a `global_step` field and logged val metrics at iter+1 with commit=False;
with reset_each_round the step went backwards (W&B drops such points) and no AL metric was logged.
Here every row carries `global_step` = the runner's global iteration (never reset) and W&B plots
against it via define_metric, so train/val rows never collide on a step; after each round an `al/*`
row records round, labelled pixels/images and mIoU, with the learning curve and the per-class IoU and
labels so far as W&B tables. The run config holds the .seg source, the plan and a sweep point's axis values.
"""

from __future__ import annotations

import json
import netrc
import os
import os.path as osp
from typing import Any

from mmcv.runner import HOOKS
from mmcv.runner.dist_utils import master_only
from mmcv.runner.hooks.logger.wandb import WandbLoggerHook

from .report import class_rows, curve_rows


def _has_wandb_login() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _read(path: str | None) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, TypeError):
        return None


def run_config(runner) -> dict[str, Any]:
    """What the W&B run config records: the compiled config, the .seg source text, the plan and, for a sweep
    point, `sweep` (name, point, axis values) at the top, where W&B filters and groups by it."""
    data = getattr(runner, "data", None)
    cfg = getattr(data, "cfg", None)
    if cfg is None:
        return {}
    meta = dict(cfg.get("segal_meta") or {})
    out: dict[str, Any] = {"segal": meta, "mmseg_config": cfg.pretty_text if hasattr(cfg, "pretty_text") else None}
    src = meta.get("source")
    seg_copy = osp.join(runner.work_dir, "experiment.seg")
    out["seg_source"] = _read(seg_copy) or _read(src)
    filename = getattr(cfg, "filename", None) or ""
    for cand in (osp.splitext(filename)[0] + ".plan.json", filename + ".plan.json"):
        text = _read(cand)
        if text:
            try:
                out["plan"] = json.loads(text)
            except json.JSONDecodeError:
                out["plan"] = text
            break
    out["seed"] = getattr(data, "seed", None)
    if meta.get("sweep"):
        out["sweep"] = meta["sweep"]
    return out


@HOOKS.register_module()
class WandbLoggerHookWithVal(WandbLoggerHook):
    """Drop-in for WandbLoggerHook in `log_config.hooks`; works offline with no account."""

    def __init__(self, *args, log_artifact: bool = False, **kwargs):
        # log_artifact defaults off: uploading work-dir files is slow and rarely wanted per run
        super().__init__(*args, log_artifact=log_artifact, **kwargs)

    @master_only
    def before_run(self, runner) -> None:
        init = dict(self.init_kwargs or {})
        if not os.environ.get("WANDB_MODE") and "mode" not in init and not _has_wandb_login():
            init["mode"] = "offline"  # never block on a login prompt
            runner.logger.info("wandb: no login found, logging offline (sync later with `wandb sync`)")
        if not os.environ.get("WANDB_DIR"):
            init.setdefault("dir", runner.work_dir)
        config = dict(init.get("config") or {})
        config.update(run_config(runner))
        init["config"] = config
        if "settings" not in init and not os.environ.get("WANDB_INIT_TIMEOUT"):
            init["settings"] = {"init_timeout": 30}  # wandb waits 90 s for an unreachable server
        self.init_kwargs = init
        self._broken = False
        try:
            super().before_run(runner)
        except Exception as e:  # noqa: BLE001 - no network, no login, a dead wandb service, ...
            if init.get("mode") in ("offline", "disabled"):
                return self._give_up(runner, e)
            self._warn(runner, f"cannot start an online run ({_first_line(e)}); logging offline instead, "
                               "sync later with `wandb sync <run dir>`")
            self.init_kwargs = dict(init, mode="offline")
            try:
                super().before_run(runner)
            except Exception as e2:  # noqa: BLE001
                return self._give_up(runner, e2)
        try:
            self.wandb.define_metric("global_step")
            self.wandb.define_metric("*", step_metric="global_step")
        except Exception as e:  # noqa: BLE001
            self._give_up(runner, e)

    def _warn(self, runner, msg: str) -> None:
        runner.logger.warning("wandb: %s", msg)  # one line on the console and in the log file

    def _give_up(self, runner, e: Exception) -> None:
        """W&B is a side channel: a failure there never stops training or touches the label state."""
        self._broken = True
        self._warn(runner, f"logging disabled for the rest of this run ({_first_line(e)}); the metrics are "
                           "still in the work dir (report.json, *.log.json)")

    def _step(self, runner) -> int:
        return int(getattr(runner, "global_iter", runner.iter))

    @master_only
    def log(self, runner) -> None:
        if getattr(self, "_broken", False):
            return
        tags = self.get_loggable_tags(runner)
        if tags:
            tags["global_step"] = self._step(runner) + 1  # mmcv logs iteration i as step i+1
            try:
                self.wandb.log(tags, commit=self.commit)
            except Exception as e:  # noqa: BLE001 - e.g. the wandb service died mid-run
                self._give_up(runner, e)

    @master_only
    def log_al(self, runner, entry: dict, rounds: list[dict] | None = None) -> None:
        """One row per round: `al/round`, `al/labelled`, `al/labelled_images`, `al/mIoU`, planned; with
        `rounds` (every entry so far, this one last) also the tables `al/learning_curve` (a line plot) and
        `al/per_class`, whole each time, since a W&B table is logged as a snapshot."""
        row = {f"al/{k}": v for k, v in entry.items() if k in
               ("round", "planned", "labelled", "labelled_images", "added", "mIoU", "mAcc", "aAcc")}
        row["global_step"] = self._step(runner)
        if getattr(self, "_broken", False):
            return
        try:
            self.wandb.log({**row, **self._tables(rounds)}, commit=True)
            for k, v in row.items():
                self.wandb.run.summary[k] = v
        except Exception as e:  # noqa: BLE001
            self._give_up(runner, e)

    def _tables(self, rounds: list[dict] | None) -> dict[str, Any]:
        if not rounds or getattr(self.wandb, "run", None) is None:
            return {}
        wandb = self.wandb
        curve = wandb.Table(columns=["round", "labelled", "mIoU"], data=curve_rows(rounds))
        out = {"al/learning_curve": wandb.plot.line(curve, "labelled", "mIoU", title="learning curve")}
        per_class = class_rows(rounds)
        if per_class:
            out["al/per_class"] = wandb.Table(columns=["round", "class", "IoU", "labelled"], data=per_class)
        return out

    @master_only
    def after_run(self, runner) -> None:
        if getattr(self, "_broken", False) or self.wandb is None:
            return
        try:
            if self.log_artifact and hasattr(self.wandb, "join"):
                super().after_run(runner)  # uploads the artifact, then join()
            else:
                self.wandb.finish()  # newer wandb dropped wandb.join, which mmcv's hook calls
        except Exception as e:  # noqa: BLE001
            self._give_up(runner, e)


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
