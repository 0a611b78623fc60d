"""Query step on the toy pool: scoring + selection per heuristic and sample mode vs a plain forward pass.

    SEGAL_TOY_DIR=/tmp/segal-toy-bench .venv/bin/python benchmarks/bench_query.py [--quick]

The model is the toy UNet of segal_dsl/runtime/toy/configs/toy_unet.py built with mmseg's
`build_segmentor`; the images are the 64 toy pool images (64x64). Baseline: mmseg's own test forward
(`simple_test`, rescale=True) per image, batch 1, as the query runs. Forward and query alternate image
by image and are timed in process CPU time (one torch thread, which runs in this process), so load from
other processes on a shared box hits both alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SEGAL_TOY_DIR", "/tmp/segal-toy-bench")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

TARGET = 1.15


def load_model():
    import mmcv
    from mmcv.cnn.utils import revert_sync_batchnorm
    from mmseg.models import build_segmentor

    cfg = mmcv.Config.fromfile(str(ROOT / "segal_dsl/runtime/toy/configs/toy_unet.py"))
    model = build_segmentor(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    return revert_sync_batchnorm(model).eval()


def load_pool() -> list[tuple[torch.Tensor, list[dict]]]:
    """The toy pool images, normalised like the test pipeline (mean 127.5, std 64, RGB), batch of one."""
    from PIL import Image

    from segal_dsl.runtime.toy import generate

    root = generate.ensure()
    out = []
    for path in sorted((root / "img_dir" / "train").glob(f"*{generate.SUFFIX}")):
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        img = torch.from_numpy(((rgb - 127.5) / 64.0).transpose(2, 0, 1).copy())[None]
        h, w = rgb.shape[:2]
        meta = dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), pad_shape=(h, w, 3), flip=False,
                    scale_factor=np.ones(4, np.float32), filename=str(path))
        out.append((img, [meta]))
    return out


def forward(model, pool) -> None:
    with torch.no_grad():
        for img, metas in pool:
            model.simple_test(img, metas, rescale=True)


class Query:
    """One query as segal_dsl.runtime.query.run_query does it, image by image: posteriors, scores,
    selection, label update; `finish` does the pool-wide part (image mode's ranking)."""

    def __init__(self, pool, heuristic: str, mode: str, round: int = 1):
        from segal_dsl.runtime import selection as sel
        from segal_dsl.runtime.heuristics import get_heuristic, image_scores
        from segal_dsl.runtime.labels import LabelState

        self.sel, self.image_scores = sel, image_scores
        self.fn, self.heuristic, self.mode, self.round = get_heuristic(heuristic), heuristic, mode, round
        self.params = dict(k=1, use_entropy=True, categories=5) if heuristic == "ripu" else {}
        sizes = [tuple(m[0]["ori_shape"][:2]) for _, m in pool]
        self.labels = LabelState.for_images(len(pool)) if mode == "image" else LabelState.for_pixels(sizes)
        self.img_scores = np.full(len(pool), -np.inf)

    @torch.no_grad()
    def step(self, model, i: int, img, metas) -> None:
        sel = self.sel
        probs = model.inference(img, metas, rescale=True)
        if self.heuristic == "random":
            g = torch.Generator().manual_seed(int(sel.rng_for(0, self.round, i).integers(2**62)))
            scores = self.fn(probs, generator=g)
        else:
            scores = self.fn(probs, **self.params)
        if self.mode == "image":
            self.img_scores[i] = float(self.image_scores(scores)[0])
            return
        s = scores[0].numpy()
        quota = int(s.size * 0.01)
        lab = self.labels.mask(i)
        rng = sel.rng_for(0, self.round, i)
        if self.mode == "region":
            new = sel.select_regions(s, lab, quota, 1, None, rng)
        else:
            new = sel.select_pixels(s, lab, quota, None, rng)
        self.labels.add(i, new)

    def finish(self) -> int:
        if self.mode == "image":
            chosen = self.sel.select_images(self.img_scores, self.labels.images(), max(1, len(self.img_scores) // 10))
            self.labels.add_images(chosen.tolist())
        return self.labels.total()


def query(model, pool, heuristic: str, mode: str) -> int:
    q = Query(pool, heuristic, mode)
    for i, (img, metas) in enumerate(pool):
        q.step(model, i, img, metas)
    return q.finish()


def interleaved(model, pool, heuristic: str, mode: str, reps: int) -> tuple[float, float]:
    """Median over `reps` passes of (forward CPU s, query CPU s), the two alternating image by image so
    that load from other processes hits both alike. CPU time of this process: one torch thread runs in it."""
    fwd, qry = [], []
    for _ in range(reps):
        q = Query(pool, heuristic, mode)
        f_total = q_total = 0.0
        with torch.no_grad():
            for i, (img, metas) in enumerate(pool):
                t = time.process_time()
                model.simple_test(img, metas, rescale=True)
                f_total += time.process_time() - t
                t = time.process_time()
                q.step(model, i, img, metas)
                q_total += time.process_time() - t
        t = time.process_time()
        q.finish()
        q_total += time.process_time() - t
        fwd.append(f_total)
        qry.append(q_total)
    return statistics.median(fwd), statistics.median(qry)


def peak_numpy(fn) -> int:
    """Peak bytes allocated through Python/numpy while `fn` runs (torch's CPU allocator is not traced)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one repetition, 16 images (CI)")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    from segal_dsl.runtime.heuristics import HEURISTICS

    model = load_model()
    pool = load_pool()
    if a.quick:
        pool = pool[:16]
    reps = 1 if a.quick else 7
    forward(model, pool)  # warm-up
    heuristics = sorted({fn.__name__: name for name, fn in HEURISTICS.items() if "-" not in name}.values())
    print(f"pool: {len(pool)} images of 64x64, 5 classes; {reps} repetitions (median); torch threads 1; "
          "CPU time, forward and query alternating image by image")
    print(f"{'heuristic':<18}{'mode':<8}{'forward ms':>11}{'query ms':>10}{'ratio':>8}{'numpy peak KiB':>16}")
    ratios = []
    fwd_peak = peak_numpy(lambda: forward(model, pool))
    for heuristic in heuristics:
        try:
            query(model, pool[:1], heuristic, "pixel")
        except (ValueError, TypeError) as e:  # not one posterior per image: mps scores the multitask model's
            # reconstruction, bald/variation_ratio MC-dropout samples, kcenter features and the labelled set
            print(f"{heuristic:<18}skipped: {str(e).splitlines()[0]}")
            continue
        for mode in ("pixel", "region", "image"):
            base, q = interleaved(model, pool, heuristic, mode, reps)
            peak = peak_numpy(lambda h=heuristic, m=mode: query(model, pool, h, m))
            ratios.append((q / base, heuristic, mode))
            print(f"{heuristic:<18}{mode:<8}{base * 1e3:>11.1f}{q * 1e3:>10.1f}{q / base:>7.2f}x{peak / 1024:>16.0f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"numpy-side peak of the plain forward: {fwd_peak / 1024:.0f} KiB; process max RSS {rss:.0f} MiB")
    worst = max(ratios)
    print(f"ratio query/forward median over configurations: {statistics.median(r for r, _, _ in ratios):.2f}x "
          f"(target {TARGET}x)")
    print(f"ratio query/forward worst ({worst[1]}, {worst[2]}): {worst[0]:.2f}x (target {TARGET}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
