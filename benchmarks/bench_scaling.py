"""Query time and peak memory as the pool grows, up to a Cityscapes-sized pool of random logits.

    .venv/bin/python benchmarks/bench_scaling.py [--quick]

Full mode: 2,975 images at 512x1024, 19 classes (about 40 minutes on a loaded 2-core box); --quick: a
few images at 128x256. Each pool size runs in a fresh child process, so its peak RSS is its own.
Logits are drawn per image at 1/8 resolution and upsampled bilinearly (what a decoder + mmseg's resize
produce), streamed image by image and never held for the whole pool. Per image: softmax, entropy,
then both allocations on the same scores:
  - per image (`select_pixels`, 1% of each image): working memory must not grow with the pool;
  - global (`select_global`, a fixed budget): memory O(budget), not O(pool).
The label state is left out here (it is O(pool) at 1 bit/pixel by design: bench_labels.py).
Baseline for the ratios: the smallest pool of the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _standalone(name: str):
    """Load segal_dsl/runtime/<name>.py alone: importing the package registers the whole mmcv/mmseg stack
    (about 0.5 GB of RSS and seconds per child), which would swamp what is measured here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"segal_{name}", ROOT / "segal_dsl" / "runtime" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError:  # it grew a relative import: take the package, RSS then includes mmcv/mmseg
        return importlib.import_module(f"segal_dsl.runtime.{name}")
    return module


def child(n: int, h: int, w: int, classes: int, budget: int) -> dict:
    """One pool: stream n images, time the query part only (logit generation is excluded)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    sel, heur = _standalone("selection"), _standalone("heuristics")
    entropy, to_probs = heur.entropy, heur.to_probs

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spent = {"scores": 0.0, "per_image": 0.0, "global": 0.0}
    picked = 0

    def pool():
        nonlocal picked
        for i in range(n):
            low = torch.randn((1, classes, h // 8, w // 8), generator=gen) * 3
            logits = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
            t = time.perf_counter()
            s = entropy(to_probs(logits))[0].numpy()
            spent["scores"] += time.perf_counter() - t
            del logits, low
            labelled = np.zeros((h, w), dtype=bool)
            t = time.perf_counter()
            picked += int(sel.select_pixels(s, labelled, h * w // 100).sum())
            spent["per_image"] += time.perf_counter() - t
            t = time.perf_counter()
            yield i, s, labelled
            spent["global"] += time.perf_counter() - t

    tracemalloc.start()
    t = time.perf_counter()
    result = sel.select_global(pool(), budget)
    total = time.perf_counter() - t
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.total() == budget and picked == n * (h * w // 100)
    return dict(n=n, h=h, w=w, budget=budget, total_s=total, per_image_ms={k: v / n * 1e3 for k, v in spent.items()},
                numpy_peak_mib=numpy_peak / 2**20,
                rss_peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                rss_growth_mib=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)


def run(n: int, h: int, w: int, budget: int, classes: int = 19) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps([n, h, w, classes, budget])],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    pi = r["per_image_ms"]
    print(f"{n:>6} {h:>5}x{w:<5} {budget:>10,} {r['total_s']:>9.1f} {pi['scores']:>9.1f} {pi['per_image']:>9.1f} "
          f"{pi['global']:>9.1f} {r['numpy_peak_mib']:>12.1f} {r['rss_peak_mib']:>9.0f}", flush=True)
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small pool (CI)")
    p.add_argument("--pools", help="comma-separated pool sizes at full resolution (default 30,300,2975)")
    p.add_argument("--res", help="HxW of the pool images (default 512x1024)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(*json.loads(a.child))))
        return 0
    if a.quick:
        res, pools, budgets, small = (128, 256), [4, 16], [2_000, 8_000], 4
    else:
        res, pools, budgets, small = (512, 1024), [30, 300, 2975], [150_000, 1_500_000], 30
    if a.res:
        res = tuple(int(v) for v in a.res.lower().split("x"))
        budgets = [max(1, res[0] * res[1] * small // 100 // 10 * f) for f in (1, 10)]
    if a.pools:
        pools = [int(v) for v in a.pools.split(",")]
        small = pools[0]
    print("images   resolution   budget   total s   scores  per-img  global   numpy peak MiB  RSS MiB")
    print("                                  (ms per image, query part only)")
    print("-- resolution grows (fixed pool):")
    by_res = [run(small, res[0] // f, res[1] // f, budgets[0] // (f * f)) for f in (4, 2, 1)]
    print("-- pool grows (fixed resolution, fixed global budget):")
    by_n = [run(n, *res, budgets[0]) for n in pools]
    print("-- global budget grows (smallest pool):")
    by_b = [by_n[0], run(small, *res, budgets[1])]
    first, last = by_n[0], by_n[-1]
    px = lambda r: r["h"] * r["w"]
    print(f"ratio time per image, pool x{last['n'] // first['n']}: "
          f"{(last['total_s'] / last['n']) / (first['total_s'] / first['n']):.2f}x (target ~1x: linear in the pool)")
    print(f"ratio time per pixel, resolution x{px(by_res[-1]) // px(by_res[0])}: "
          f"{(by_res[-1]['total_s'] / px(by_res[-1])) / (by_res[0]['total_s'] / px(by_res[0])):.2f}x (target ~1x)")
    print(f"ratio peak RSS, pool x{last['n'] // first['n']}: {last['rss_peak_mib'] / first['rss_peak_mib']:.2f}x "
          f"(target 1x: must not grow with the pool)")
    print(f"ratio numpy peak, pool x{last['n'] // first['n']}: {last['numpy_peak_mib'] / first['numpy_peak_mib']:.2f}x "
          f"(target 1x)")
    db = (by_b[1]["numpy_peak_mib"] - by_b[0]["numpy_peak_mib"]) * 2**20 / (by_b[1]["budget"] - by_b[0]["budget"])
    print(f"ratio numpy peak, global budget x{by_b[1]['budget'] // by_b[0]['budget']}: "
          f"{by_b[1]['numpy_peak_mib'] / by_b[0]['numpy_peak_mib']:.2f}x ({db:.0f} bytes per extra budget pixel: O(budget))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
