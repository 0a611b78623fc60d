"""Runner overhead: a training epoch of the AL runner vs mmseg's own `train_segmentor` (mmcv EpochBasedRunner).

    SEGAL_TOY_DIR=/tmp/segal-toy-bench .venv/bin/python benchmarks/bench_runner.py [--quick]

Same toy model, optimizer, data (64 images of 64x64, batch 8 = 8 iterations per epoch) and seed. The AL
side is `segal_dsl.runtime.train.train_config` on tests/runtime_configs/toy_pixel.py with one round of
E epochs and no query; the baseline is `mmseg.apis.train_segmentor` on toy_unet.py with
EpochBasedRunner(max_epochs=E). Each runs in its own process, alternating, A B B A…; hooks at the very
first and very last priority time every epoch and every iteration. mmcv's EpochBasedRunner sleeps 2 s
at the start of every epoch (a deadlock guard the AL runner drops), so its wall epoch is reported with
and without that sleep; process CPU time per epoch (one torch thread, no loader workers) is the figure
least disturbed by other processes on a shared box.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SEGAL_TOY_DIR", "/tmp/segal-toy-bench")
MMCV_SLEEP = 2.0  # mmcv/runner/epoch_based_runner.py: time.sleep(2) in train()


def _register_timers(times: dict) -> None:
    from mmcv.runner import HOOKS, Hook

    @HOOKS.register_module(force=True)
    class BenchStart(Hook):
        def before_train_epoch(self, runner):
            times["t_epoch"], times["c_epoch"] = time.perf_counter(), time.process_time()

        def before_train_iter(self, runner):
            times["t_iter"] = time.perf_counter()

    @HOOKS.register_module(force=True)
    class BenchStop(Hook):
        def after_train_iter(self, runner):
            times["iter_sum"] += time.perf_counter() - times["t_iter"]

        def after_train_epoch(self, runner):
            times["epochs"].append(time.perf_counter() - times["t_epoch"])
            times["cpu_epochs"].append(time.process_time() - times["c_epoch"])
            times["iters"].append(times["iter_sum"])
            times["iter_sum"] = 0.0


HOOKS_CFG = [dict(type="BenchStart", priority="HIGHEST"), dict(type="BenchStop", priority="LOWEST")]


def child(kind: str, epochs: int, work_dir: str) -> dict:
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    times: dict = {"epochs": [], "cpu_epochs": [], "iters": [], "iter_sum": 0.0}
    _register_timers(times)
    t = time.perf_counter()
    if kind == "al":
        from segal_dsl.runtime.train import train_config

        train_config(str(ROOT / "tests/runtime_configs/toy_pixel.py"), work_dir=work_dir, seed=0, validate=False,
                     cfg_options={"workflow": [(("train", epochs),)], "runner.sample_rounds": 0,
                                  "custom_hooks": HOOKS_CFG, "active_learning.visualize": None})
    else:
        import mmcv
        from mmcv.cnn.utils import revert_sync_batchnorm
        from mmseg.apis import set_random_seed, train_segmentor
        from mmseg.datasets import build_dataset
        from mmseg.models import build_segmentor

        import segal_dsl.runtime.toy.dataset  # noqa: F401  (SegalToyDataset)

        cfg = mmcv.Config.fromfile(str(ROOT / "segal_dsl/runtime/toy/configs/toy_unet.py"))
        cfg.merge_from_dict({"runner": dict(type="EpochBasedRunner", max_epochs=epochs), "work_dir": work_dir,
                             "custom_hooks": HOOKS_CFG, "seed": 0, "gpu_ids": [0], "device": "cpu"})
        cfg.data.pop("query")  # the AL pool; train_segmentor would hand it to the DataLoader
        set_random_seed(0)
        model = revert_sync_batchnorm(build_segmentor(cfg.model))
        model.init_weights()
        dataset = build_dataset(cfg.data.train)
        model.CLASSES = dataset.CLASSES
        train_segmentor(model, [dataset], cfg, validate=False, meta=dict(seed=0))
    return dict(total=time.perf_counter() - t, epochs=times["epochs"], cpu_epochs=times["cpu_epochs"],
                iters=times["iters"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 epochs, one process each (CI)")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        kind, epochs, work_dir = a.child
        print(json.dumps(child(kind, int(epochs), work_dir)))
        return 0
    epochs, pairs = (2, 1) if a.quick else (5, 4)
    runs: dict[str, list[dict]] = {"al": [], "mmcv": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            for kind in (("mmcv", "al") if i % 2 == 0 else ("al", "mmcv")):  # neither always goes first
                out = subprocess.run([sys.executable, __file__, "--child", kind, str(epochs), f"{tmp}/{kind}{i}"],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    print(out.stderr[-3000:])
                    return 1
                runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(kind: str, key: str) -> float:  # the first epoch of each process warms up: left out
        return statistics.median(v for r in runs[kind] for v in r[key][1:] or r[key])

    al_epoch, mm_epoch = med("al", "epochs"), med("mmcv", "epochs")
    al_iter, mm_iter = med("al", "iters"), med("mmcv", "iters")
    al_cpu, mm_cpu = med("al", "cpu_epochs"), med("mmcv", "cpu_epochs")
    print(f"{epochs} epochs x {pairs} processes per runner; 8 iterations per epoch; torch threads 1")
    print(f"{'':22}{'epoch s':>9}{'epoch - sleep':>15}{'epoch CPU s':>13}{'iterations s':>14}{'whole call s':>14}")
    for kind, name in (("mmcv", "mmseg train_segmentor"), ("al", "ActiveLearningRunner")):
        e, i = med(kind, "epochs"), med(kind, "iters")
        sleep = MMCV_SLEEP if kind == "mmcv" else 0.0
        total = statistics.median(r["total"] for r in runs[kind])
        print(f"{name:22}{e:>9.2f}{e - sleep:>15.2f}{med(kind, 'cpu_epochs'):>13.2f}{i:>14.2f}{total:>14.1f}")
    print(f"ratio epoch CPU time (AL / mmcv; sleep costs no CPU): {al_cpu / mm_cpu:.2f}x (target 1.05x)")
    print(f"ratio epoch wall (AL / mmcv without its 2 s sleep): {al_epoch / (mm_epoch - MMCV_SLEEP):.2f}x (target 1.05x)")
    print(f"ratio epoch wall (AL / mmcv as shipped, with the sleep): {al_epoch / mm_epoch:.2f}x")
    print(f"ratio iterations only (AL / mmcv): {al_iter / mm_iter:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
