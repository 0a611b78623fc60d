"""`python -m segal_dsl.runtime.train cfg.py [--work-dir] [--resume] [--seed] [--launcher] [--dry-run]`
(in the style of mmseg's training script).

Reads a compiled config through the contract, builds the model, the pool / train / val datasets and the
ActiveLearningRunner, then runs the workflow. `segal run` (launch.py) calls `train_config` after compiling.
"""

from __future__ import annotations

import argparse
import logging
import os
import os.path as osp
import time
import warnings

import mmcv
import torch
import torch.distributed as dist
from mmcv.runner import build_runner, get_dist_info

from segal_dsl.workdir import resume_command

from . import preflight
from .configfile import load_config
from .console import RunConsole
from .progress import Progress
from .runner import STATE_DIR, ALData


def init_distributed(launcher: str) -> bool:
    """torch.distributed from torchrun's env: nccl on GPU, gloo on CPU (mmcv's init_dist needs CUDA)."""
    if launcher == "none":
        return False
    if launcher != "pytorch":
        raise ValueError(f"--launcher must be none or pytorch, got {launcher!r}")
    if dist.is_initialized():
        return True
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def load_from_checked(model, path: str, logger=None) -> int:
    """`load_from` on every rank, failing with one line when the file is no checkpoint of this model.

    mmcv's load_checkpoint raised an unpickling/zip traceback for a corrupt file and only *warned* when
    no parameter matched (the run then trained from scratch). Here an unreadable file or one of which
    no parameter fits (same name and shape) is an error; parameters whose shape differs (e.g. another
    number of classes in the head) are skipped with a warning. Returns how many tensors were loaded.
    """
    from mmcv.runner.checkpoint import _load_checkpoint, load_state_dict

    fix = "fix: point `load_from` at a checkpoint of this model (a .pth saved by mmcv/mmseg), or remove it"
    try:
        ckpt = _load_checkpoint(path, map_location="cpu")
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else ""
        raise RuntimeError(f"load_from {path} is not a readable checkpoint ({type(e).__name__}: {msg[:200]}); "
                           f"{fix}") from e
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RuntimeError(f"load_from {path} holds no state_dict of tensors; {fix}")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not fits:
        example = next(iter(state))
        why = (f"`{example}` has shape {tuple(state[example].shape)}, the model's {tuple(own[example].shape)}"
               if example in own else f"no parameter name matches (the checkpoint has e.g. `{example}`)")
        raise RuntimeError(f"load_from {path} does not match the model: none of its {len(state)} tensors fits "
                           f"({why}); {fix}")
    skipped = [k for k in state if k in own and k not in fits]
    if skipped:
        warnings.warn(f"load_from {path}: {len(skipped)} tensors have another shape in the model and are "
                      f"skipped (e.g. `{skipped[0]}`)", stacklevel=2)
    load_state_dict(model, fits, strict=False, logger=logger)
    return len(fits)


def inject_ignore_index(node, ignore_index: int) -> int:
    """Set `ignore_index` + `avg_non_ignore=True` on every head with a `loss_decode`, at any depth.

    docs/reference.md §10: only top-level heads with a dict `loss_decode` were patched, and before
    `--cfg-options`, so list-valued losses, nested heads and later overrides escaped.
    """
    n = 0
    if isinstance(node, dict):
        if "loss_decode" in node:
            node["ignore_index"] = ignore_index
            losses = node["loss_decode"] if isinstance(node["loss_decode"], (list, tuple)) else [node["loss_decode"]]
            for loss in losses:
                if isinstance(loss, dict) and loss.get("type", "CrossEntropyLoss") == "CrossEntropyLoss":
                    loss["avg_non_ignore"] = True
            n += 1
        for v in node.values():
            n += inject_ignore_index(v, ignore_index)
    elif isinstance(node, (list, tuple)):
        for v in node:
            n += inject_ignore_index(v, ignore_index)
    return n


def _build_datasets(cfg, contract, validate: bool):
    from mmseg.datasets import build_dataset

    from .pipelines import masked_pipeline, pool_order, query_cfg_of, target_train_cfg

    source = None if contract.source_free else build_dataset(cfg.data.train[0])
    train_cfg = target_train_cfg(cfg, contract)
    if contract.mode != "image":
        train_cfg["pipeline"] = masked_pipeline(train_cfg["pipeline"], contract.ignore_index)
    train = build_dataset(train_cfg)
    query = build_dataset(query_cfg_of(cfg, contract), dict(test_mode=True))
    val = build_dataset(cfg.data.val, dict(test_mode=True)) if validate and cfg.data.get("val") else None
    return train, query, pool_order(train, query), val, source


def _iteration_hooks(cfg, contract) -> None:
    """Iteration schedules count eval/checkpoint hooks by iteration (the contract refused by_epoch=True)."""
    if contract.schedule.unit != "iters":
        return
    for key in ("evaluation", "checkpoint_config"):
        if cfg.get(key) is not None:
            cfg[key]["by_epoch"] = False


def train_config(config: str, *, work_dir: str | None = None, resume: bool = False, seed: int | None = None,
                 launcher: str = "none", validate: bool = True, cfg_options: dict | None = None,
                 seg_path: str | None = None, loaded: tuple | None = None) -> int:
    """Train a compiled config end to end; returns the exit code. The config is read through the
    compiled-config contract (configfile.load_config) before anything else, unless `loaded` is that
    read already (run_config's, with `cfg_options` applied)."""
    from mmcv.cnn.utils import revert_sync_batchnorm
    from mmcv.parallel import MMDataParallel, MMDistributedDataParallel
    from mmseg.apis import set_random_seed
    from mmseg.apis.train import init_random_seed
    from mmseg.core import build_optimizer
    from mmseg.models import build_segmentor
    from mmseg.utils import get_root_logger

    from . import hooks, pipelines, runner  # noqa: F401  (registry side effects)

    cfg, contract = loaded or load_config(config, seg_path=seg_path, cfg_options=cfg_options)  # LoadFailure: one line
    cfg.work_dir = work_dir or cfg.get("work_dir") or osp.join("work_dirs", osp.splitext(osp.basename(config))[0])
    distributed = init_distributed(launcher)
    rank, world = get_dist_info()
    _iteration_hooks(cfg, contract)
    mmcv.mkdir_or_exist(osp.abspath(cfg.work_dir))
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = get_root_logger(log_file=osp.join(cfg.work_dir, f"{timestamp}.log"), log_level=cfg.get("log_level", "INFO"))
    console = RunConsole.for_run(cfg.work_dir, verbose=bool(os.environ.get("SEGAL_VERBOSE")), rank=rank)
    console.route_logs(logger, mmcv.utils.get_logger("mmcv"))  # mmcv's init dump: into the log file
    if rank == 0:  # the resolved config, as mmseg's train.py keeps it
        dump = osp.join(cfg.work_dir, osp.basename(config))
        if osp.abspath(dump) == osp.abspath(config):
            # `segal run` compiles into the work dir: never overwrite the literal config that the other
            # ranks are still reading (a non-atomic rewrite made them load half a file).
            dump = osp.splitext(dump)[0] + ".resolved.py"
        cfg.dump(dump)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if seed is None:
        seed = contract.seed
    saved = Progress.load(osp.join(cfg.work_dir, STATE_DIR)) if resume else None
    if seed is None and saved is not None:
        seed = saved.seed  # a resumed run keeps its seed
    seed = init_random_seed(seed, device=device)
    set_random_seed(seed, deterministic=contract.deterministic)
    cfg.seed = seed
    logger.info("segal run: config %s, work_dir %s, seed %d, world size %d", config, cfg.work_dir, seed, world)

    inject_ignore_index(cfg.model, contract.ignore_index)
    model = build_segmentor(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    if not (distributed and device == "cuda"):
        model = revert_sync_batchnorm(model)
    if contract.load_from:
        load_from_checked(model, contract.load_from, logger)  # every rank
    train_ds, query_ds, pool_index, val_ds, source_ds = _build_datasets(cfg, contract, validate)
    model.CLASSES, model.PALETTE = train_ds.CLASSES, train_ds.PALETTE
    if distributed:
        model = model.cuda() if device == "cuda" else model
        ddp = MMDistributedDataParallel if device == "cuda" else _cpu_ddp_class()
        model = ddp(
            model, device_ids=[torch.cuda.current_device()] if device == "cuda" else None,
            broadcast_buffers=False, find_unused_parameters=cfg.get("find_unused_parameters", False))
    else:
        model = MMDataParallel(model.cuda(), device_ids=[0]) if device == "cuda" else MMDataParallel(model)

    optimizer = build_optimizer(model, cfg.optimizer)
    run = build_runner(cfg.runner, default_args=dict(model=model, batch_processor=None, optimizer=optimizer,
                                                     work_dir=cfg.work_dir, logger=logger,
                                                     meta=dict(seed=seed, exp_name=osp.basename(config))))
    run.timestamp = timestamp
    run.console, run.resume_command = console, resume_command(seg_path, config, cfg.work_dir)
    optimizer_config = cfg.get("optimizer_config") or {}
    if cfg.get("fp16"):  # docs/reference.md §10: autocast only, loss_scale ignored
        optimizer_config = dict(type="Fp16OptimizerHook", **optimizer_config, **cfg.fp16, distributed=distributed)
    run.register_training_hooks(cfg.get("lr_config"), optimizer_config, cfg.get("checkpoint_config"),
                                cfg.get("log_config"), cfg.get("momentum_config"))
    ev = dict(cfg.get("evaluation") or {})
    if validate and val_ds is not None and ev.get("interval"):
        _register_eval(run, cfg, val_ds, ev, distributed, device)
    for hook_cfg in cfg.get("custom_hooks") or []:
        hook_cfg = dict(hook_cfg)
        priority = hook_cfg.pop("priority", "NORMAL")
        run.register_hook(mmcv.build_from_cfg(hook_cfg, mmcv.runner.HOOKS), priority=priority)
    data = ALData(cfg=cfg, contract=contract, train=train_ds, query=query_ds, pool_index=pool_index, val=val_ds,
                  source=source_ds, seed=seed, resume=resume, validate=validate)
    with console:  # stops the live view on any failure, and records it for `segal status`
        run.run(data, cfg.workflow)
    return 0


def _cpu_ddp_class():
    """MMDistributedDataParallel for CPU/gloo: mmcv skips DataContainer unwrapping without device_ids."""
    from mmcv.parallel import MMDistributedDataParallel
    from mmcv.parallel.scatter_gather import scatter_kwargs

    class CPUDistributedDataParallel(MMDistributedDataParallel):
        def train_step(self, *inputs, **kwargs):
            ins, kws = scatter_kwargs(inputs, kwargs, [-1])
            return super().train_step(*ins[0], **kws[0])

        def val_step(self, *inputs, **kwargs):
            ins, kws = scatter_kwargs(inputs, kwargs, [-1])
            return super().val_step(*ins[0], **kws[0])

    return CPUDistributedDataParallel


def _register_eval(run, cfg, val_ds, ev: dict, distributed: bool, device: str) -> None:
    """mmseg's periodic EvalHook, when `evaluation.interval` is set (round-end evaluation is always on)."""
    from mmseg.core import DistEvalHook, EvalHook
    from mmseg.datasets import build_dataloader

    if distributed and device != "cuda":
        warnings.warn("periodic evaluation under CPU DDP is not supported by mmseg; evaluating per round only",
                      stacklevel=2)
        return
    loader = build_dataloader(val_ds, samples_per_gpu=1, workers_per_gpu=cfg.data.get("workers_per_gpu", 0),
                              dist=distributed, shuffle=False, persistent_workers=False)
    ev.setdefault("by_epoch", run.schedule_unit != "iters")
    run.register_hook((DistEvalHook if distributed else EvalHook)(loader, **ev), priority="LOW")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m segal_dsl.runtime.train", description=__doc__.splitlines()[0])
    p.add_argument("config", help="compiled config (segal compile exp.seg -o cfg.py)")
    p.add_argument("--work-dir", help="default: the config's work_dir, else work_dirs/<config stem>")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last completed step")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none")
    p.add_argument("--no-validate", action="store_true", help="skip evaluation (report has no mIoU)")
    p.add_argument("--cfg-options", nargs="+", action=mmcv.DictAction, help="override config keys")
    p.add_argument("--dry-run", action="store_true",
                   help="load the config as a run would, check paths and imports, print the plan; train nothing")
    return p.parse_args(argv)


def run_config(cfg_path: str, seg_path: str | None, *, work_dir: str | None, resume: bool, seed: int | None,
               launcher: str, validate: bool = True, cfg_options: dict | None = None) -> int:
    """Load a compiled config (overrides applied) and check its paths, then train it; every failure is
    one line."""
    loaded, problems, missing = preflight.load_checked(cfg_path, seg_path=seg_path, cfg_options=cfg_options)
    for p in problems + missing:
        preflight.error_line(p)
    if problems or missing:
        return 1
    debug = bool(os.environ.get("SEGAL_DEBUG"))
    if not debug:  # a full disk fails the log file too: no "--- Logging error ---" tracebacks, one line
        logging.raiseExceptions = False
    try:
        return train_config(cfg_path, work_dir=work_dir, resume=resume, seed=seed, launcher=launcher,
                            validate=validate, cfg_options=cfg_options, seg_path=seg_path, loaded=loaded)
    except KeyboardInterrupt:
        preflight.error_line("interrupted; continue with `segal run --resume`")
        return 130
    except OSError as e:  # a full disk, an unwritable work dir: one line with the fix
        if debug:
            raise
        preflight.error_line(preflight.os_error_line(e, work_dir))
        return 1
    except (ValueError, RuntimeError) as e:  # config / state problems: one line (SEGAL_DEBUG=1: traceback)
        if debug:
            raise
        preflight.error_line(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return 1


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.dry_run:
        from .dryrun import dry_run_config

        return dry_run_config(a.config, None, cfg_options=a.cfg_options)
    return run_config(a.config, None, work_dir=a.work_dir, resume=a.resume, seed=a.seed, launcher=a.launcher,
                      validate=not a.no_validate, cfg_options=a.cfg_options)


if __name__ == "__main__":
    raise SystemExit(main())
