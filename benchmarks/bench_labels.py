"""Label state: bits per pixel in memory and on disk, update/save/load time per query.

    .venv/bin/python benchmarks/bench_labels.py [--quick]

Full mode: the Cityscapes pool (2,975 masks of 512x1024); --quick: 100 masks of 256x512. Each query
adds a 1% mask to every image. Baseline, measured in the same run on the first images: the reference's
representation, one bool array per image (8 bits/pixel) OR-updated in place and pickled with np.save.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def masks(h: int, w: int, k: int = 16) -> list[np.ndarray]:
    """`k` distinct random 1% masks, cycled over the pool (drawing one per image would dominate the run)."""
    out = []
    for i in range(k):
        m = np.zeros(h * w, dtype=bool)
        m[np.random.default_rng(i).integers(0, h * w, size=h * w // 100)] = True
        out.append(m.reshape(h, w))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 masks of 256x512 (CI)")
    a = p.parse_args()
    n, h, w = (100, 256, 512) if a.quick else (2975, 512, 1024)
    queries, n_base = 3, min(n, 100)
    from segal_dsl.runtime import labels
    new = masks(h, w)
    state = labels.LabelState.for_pixels([(h, w)] * n)
    pixels = n * h * w
    print(f"pool: {n:,} masks of {h}x{w} = {pixels:,} pixels; {queries} queries of 1% per image")
    update, save, base_update, base_save = [], [], [], []
    reference = [np.zeros((h, w), dtype=bool) for _ in range(n_base)]
    with tempfile.TemporaryDirectory() as tmp:
        for q in range(queries):
            t = time.perf_counter()
            for i in range(n):
                state.add(i, new[(i + q) % len(new)])
            update.append((time.perf_counter() - t) / n)
            state.record_round(q, pixels // 100, 0)
            t = time.perf_counter()
            state.save(Path(tmp) / "masks")
            save.append(time.perf_counter() - t)
            t = time.perf_counter()
            for i in range(n_base):
                reference[i] |= new[(i + q) % len(new)]
            base_update.append((time.perf_counter() - t) / n_base)
            t = time.perf_counter()
            for i in range(n_base):
                np.save(Path(tmp) / f"ref_{i}.npy", reference[i])
            base_save.append((time.perf_counter() - t) / n_base * n)
        t = time.perf_counter()
        loaded = labels.LabelState.load(Path(tmp) / "masks")
        load_s = time.perf_counter() - t
        assert loaded.total() == state.total()
        files = list((Path(tmp) / "masks").iterdir())
        directory = sum(f.stat().st_size for f in files)
        payload = __import__("json").loads((Path(tmp) / "masks" / "labels.json").read_text())["payload_bytes"]
        manifest = (Path(tmp) / "masks" / "labels.json").stat().st_size
        ref_disk = sum((Path(tmp) / f"ref_{i}.npy").stat().st_size for i in range(n_base)) / n_base * n
    mem_bits = state.nbytes * 8 / pixels
    print(f"in memory: {state.nbytes / 2**20:,.1f} MiB = {mem_bits:.3f} bits/pixel "
          f"(bool arrays: {pixels / 2**20:,.1f} MiB = 8 bits/pixel)")
    print(f"on disk: payload {payload / 2**20:,.1f} MiB + manifest {manifest / 1024:,.0f} KiB = "
          f"{(payload + manifest) * 8 / pixels:.3f} bits/pixel (np.save per image: {ref_disk * 8 / pixels:.2f})")
    print(f"masks/ directory: {directory / 2**20:,.1f} MiB = {directory * 8 / pixels:.3f} bits/pixel "
          f"({len(files)} files: save() keeps the previous payload one save longer for readers of the old manifest)")
    print(f"update per query: {statistics.median(update) * n:.2f} s ({statistics.median(update) * 1e3:.2f} ms/image); "
          f"bool OR: {statistics.median(base_update) * n:.2f} s")
    print(f"save per query (atomic, fsync): {statistics.median(save):.2f} s; np.save per image (extrapolated): "
          f"{statistics.median(base_save):.2f} s; load + verify: {load_s:.2f} s")
    print(f"ratio bits/pixel in memory: {mem_bits:.3f} (target <= 1)")
    print(f"ratio bits/pixel on disk (payload + manifest): {(payload + manifest) * 8 / pixels:.3f} (target <= 1)")
    print(f"ratio bits/pixel on disk (whole masks/ directory): {directory * 8 / pixels:.3f} (target <= 1)")
    print(f"ratio update time vs bool OR: {statistics.median(update) / statistics.median(base_update):.1f}x")
    print(f"ratio save time vs np.save of bool arrays: {statistics.median(save) / statistics.median(base_save):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
