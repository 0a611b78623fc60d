"""Query step vs a plain forward pass: the real `run_query` (batched loader, scoring and selection on the model's
device) per heuristic and sample mode, on the toy UNet or a realistic DeepLabV3+ R50 at 512x1024.

    SEGAL_TOY_DIR=/tmp/segal-toy-bench .venv/bin/python benchmarks/bench_query.py [--quick]
    .venv/bin/python benchmarks/bench_query.py --model deeplabv3plus_r50 [--device cuda] [--fp16] [--batch-size 4]

`toy`: the UNet of segal_dsl/runtime/toy/configs/toy_unet.py and the 64 toy pool images (64x64, 5 classes).
`deeplabv3plus_r50`: mmseg's own `configs/_base_/models/deeplabv3plus_r50-d8.py` (19 classes; `pretrained=None`,
random weights, nothing downloaded) on random 512x1024 images. Baseline: mmseg's test forward (`simple_test`,
rescale=True) on the same batches. The query is `segal_dsl.runtime.query.run_query` over a `query_loader` of one
batch, so forward and query alternate batch by batch (load from other processes hits both alike); the query's
time includes its own forward. CPU: process CPU time, one torch thread by default; CUDA: wall time after
`torch.cuda.synchronize()`. `--fp16`: the config's `fp16` key (autocast fp16 on CUDA), for both.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SEGAL_TOY_DIR", "/tmp/segal-toy-bench")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

TARGET = 1.15
MODELS = ("toy", "deeplabv3plus_r50")


def load_model(name: str, device: str):
    import mmcv
    import mmseg
    from mmcv.cnn.utils import revert_sync_batchnorm
    from mmseg.models import build_segmentor

    if name == "toy":
        cfg = mmcv.Config.fromfile(str(ROOT / "segal_dsl/runtime/toy/configs/toy_unet.py"))
    else:  # mmseg's own model config, as shipped with the package
        cfg = mmcv.Config.fromfile(os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs", "_base_",
                                                "models", "deeplabv3plus_r50-d8.py"))
        cfg.model.pretrained = None  # random weights: no 'open-mmlab://resnet50_v1c' download
    model = build_segmentor(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    logging.getLogger("mmcv").setLevel(logging.WARNING)  # init_weights logs every parameter
    model.init_weights()
    model = revert_sync_batchnorm(model).eval()  # SyncBN needs a process group
    return model.to(device), int(cfg.model.decode_head.num_classes)


class Pool(torch.utils.data.Dataset):
    """Test-pipeline items ({img: [CHW], img_metas: [meta]}) held in memory: the toy pool images normalised as
    the toy test pipeline does, or seeded random images."""

    def __init__(self, images: list[torch.Tensor]):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, k: int) -> dict:
        from mmcv.parallel import DataContainer

        img = self.images[k]
        h, w = img.shape[-2:]
        meta = dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), pad_shape=(h, w, 3), flip=False,
                    scale_factor=np.ones(4, np.float32), filename=f"pool_{k}.png")
        return {"img": [img], "img_metas": [DataContainer(meta, cpu_only=True)]}


def load_pool(name: str, n: int) -> Pool:
    if name != "toy":
        g = torch.Generator().manual_seed(0)
        return Pool([torch.randn((3, 512, 1024), generator=g) for _ in range(n)])
    from PIL import Image

    from segal_dsl.runtime.toy import generate

    root = generate.ensure()
    images = []
    for path in sorted((root / "img_dir" / "train").glob(f"*{generate.SUFFIX}"))[:n]:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        images.append(torch.from_numpy(((rgb - 127.5) / 64.0).transpose(2, 0, 1).copy()))
    return Pool(images)


def contract_for(heuristic: str, mode: str, classes: int, pool: int):
    """The compiled config of a one-query run, read through the contract (spec/config.py)."""
    from segal_dsl.spec.config import read_config

    kind = "pixel" if mode == "global" else mode
    if kind == "image":
        settings = dict(initial_pool=0, budget_per_round=max(1, pool // 10))
    else:
        settings = dict(initial_label_pixels=0, budget_per_round=dict(value=1.0, unit="%/img"),
                        sample_evenly=mode != "global", ignore_index=255)
    cfg = dict(
        runner=dict(type="ActiveLearningRunner", sample_mode=kind, sample_rounds=1),
        active_learning=dict(settings={kind: settings}, heuristic=heuristic, reset_each_round=False,
                             heuristic_cfg=dict(k=1, use_entropy=True, categories=classes) if heuristic == "ripu" else {}),
        workflow=[(("train", 1), ("query", 1)), (("train", 1),)], mask_dir="masks")
    return read_config(cfg)


class Clock:
    """Process CPU time on the CPU; wall time after synchronising on CUDA."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"

    def __call__(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()


class Bench:
    """One model on one device: batches of the pool, the forward baseline and one query per batch."""

    def __init__(self, model, pool: Pool, classes: int, batch: int, device: str, fp16: bool):
        self.model, self.pool, self.classes, self.device, self.fp16 = model, pool, classes, torch.device(device), fp16
        self.batch = batch
        self.sizes = [tuple(img.shape[-2:]) for img in pool.images]
        self.data_cfg = {"workers_per_gpu": 0, "query_dataloader": {"samples_per_gpu": batch}}
        self.clock = Clock(device)

    def loader(self, indices, contract=None):
        from segal_dsl.runtime.loaders import batches, query_loader

        return query_loader(self.pool, indices, self.sizes, self.data_cfg, self.device,
                            batched=contract is None or batches(contract))

    def forward(self, indices) -> None:
        from mmcv.parallel import scatter

        for data in self.loader(indices):
            data.pop("pool_index")
            data = scatter(data, [(self.device.index or 0) if self.device.type == "cuda" else -1])[0]
            with torch.no_grad(), self.autocast():
                self.model.simple_test(data["img"][0], data["img_metas"][0], rescale=True)

    def autocast(self):
        import contextlib

        return torch.autocast("cuda", dtype=torch.float16) if self.fp16 and self.device.type == "cuda" else contextlib.nullcontext()

    def labels(self, mode: str):
        from segal_dsl.runtime.labels import LabelState

        n = len(self.pool)
        return LabelState.for_images(n) if mode == "image" else LabelState.for_pixels(self.sizes)

    def query(self, contract, labels, indices) -> int:
        from segal_dsl.runtime.query import run_query

        runner = SimpleNamespace(model=self.model, data=SimpleNamespace(query=None, cfg={"fp16": self.fp16}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_query(runner, 1, self.loader(indices, contract), labels, contract, 0, set()).added

    def interleaved(self, heuristic: str, mode: str, reps: int) -> tuple[float, float]:
        """Median over `reps` passes of (forward s, query s), alternating batch by batch."""
        n = len(self.pool)
        fwd, qry = [], []
        for _ in range(reps):
            contract = contract_for(heuristic, mode, self.classes, n)
            labels = self.labels(contract.mode)
            f_total = q_total = 0.0
            for start in range(0, n, self.batch):
                chunk = list(range(start, min(start + self.batch, n)))
                t = self.clock()
                self.forward(chunk)
                f_total += self.clock() - t
                t = self.clock()
                self.query(contract, labels, chunk)
                q_total += self.clock() - t
            fwd.append(f_total)
            qry.append(q_total)
        return statistics.median(fwd), statistics.median(qry)

    def numpy_peak(self, heuristic: str, mode: str) -> int:
        """Peak bytes allocated through Python/numpy by one query over the pool (torch's allocator is not traced)."""
        contract = contract_for(heuristic, mode, self.classes, len(self.pool))
        labels = self.labels(contract.mode)
        tracemalloc.start()
        self.query(contract, labels, range(len(self.pool)))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak


def configurations(a) -> tuple[list[tuple[str, str]], list[str]]:
    """(heuristic, mode) pairs to measure, and the heuristics left out: those that score one image at a time
    (MC-dropout passes, mps, kcenter/badge; loaders.batches) are not the batched query this measures."""
    from segal_dsl.runtime.heuristics import HEURISTICS, get_heuristic

    names = sorted({fn.__name__: name for name, fn in HEURISTICS.items() if "-" not in name}.values())
    flags = ("mc_dropout", "needs_model", "image_batch")
    per_image = [h for h in names if any(getattr(get_heuristic(h), f, False) for f in flags)]
    names = [h for h in names if h not in per_image]
    if a.model != "toy" and a.device == "cpu" and not a.all:  # a forward takes seconds per image here
        return [("entropy", "pixel"), ("margin", "global"), ("ripu", "region")], per_image
    if a.quick:
        return [("entropy", m) for m in ("pixel", "region", "global", "image")] + [("ripu", "region")], per_image
    return [(h, m) for h in names for m in ("pixel", "region", "global", "image")], per_image


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one repetition, 16 toy images (CI)")
    p.add_argument("--model", choices=MODELS, default="toy")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch-size", type=int, default=None, help="data.query_dataloader.samples_per_gpu "
                   "(default: 8 for the toy, 2 for deeplabv3plus_r50 on the CPU, 8 on CUDA)")
    p.add_argument("--pool", type=int, default=None, help="pool images (default: toy 64; deeplabv3plus_r50 2 on "
                   "the CPU, 32 on CUDA)")
    p.add_argument("--reps", type=int, default=None, help="repetitions (default: 7 toy, 1 CPU R50, 5 CUDA R50)")
    p.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    p.add_argument("--fp16", action="store_true", help="the config's `fp16`: autocast fp16 on CUDA")
    p.add_argument("--all", action="store_true", help="every heuristic and mode (default on CUDA and for the toy)")
    a = p.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    toy, cuda = a.model == "toy", a.device == "cuda"
    batch = a.batch_size or (8 if toy or cuda else 2)
    n = a.pool or (16 if toy and a.quick else 64 if toy else 32 if cuda else 2)
    reps = a.reps or (1 if a.quick else 7 if toy else 5 if cuda else 1)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, classes = load_model(a.model, a.device)
    pool = load_pool(a.model, n)
    bench = Bench(model, pool, classes, batch, a.device, a.fp16)
    h, w = bench.sizes[0]
    bench.forward(range(min(batch, n)))  # warm-up (and cuDNN's algorithm choice)
    timing = "wall time after cuda.synchronize" if cuda else f"CPU time, torch threads {a.threads}"
    print(f"model {a.model} on {a.device}{' (fp16 autocast)' if a.fp16 and cuda else ''}; pool: {n} images of "
          f"{h}x{w}, {classes} classes; batch size {batch}; {reps} repetition(s) (median); {timing}; forward "
          "and query alternating batch by batch")
    print(f"{'heuristic':<18}{'mode':<8}{'forward ms':>11}{'query ms':>10}{'ratio':>8}{'numpy peak KiB':>16}")
    ratios = []
    pairs, per_image = configurations(a)
    for heuristic, mode in pairs:
        base, q = bench.interleaved(heuristic, mode, reps)
        peak = bench.numpy_peak(heuristic, mode)
        ratios.append((q / base, heuristic, mode))
        print(f"{heuristic:<18}{mode:<8}{base * 1e3:>11.1f}{q * 1e3:>10.1f}{q / base:>7.2f}x{peak / 1024:>16.0f}",
              flush=True)
    print(f"not measured (scored one image at a time, not batched): {', '.join(per_image)}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MiB" + (f"; CUDA peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if cuda else ""))
    worst = max(ratios)
    print(f"ratio query/forward median over configurations at batch size {batch}: "
          f"{statistics.median(r for r, _, _ in ratios):.2f}x (target {TARGET}x)")
    print(f"ratio query/forward worst ({worst[1]}, {worst[2]}) at batch size {batch}: {worst[0]:.2f}x (target {TARGET}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
