"""The final report in the work dir: report.json, report.csv and learning_curve.png (mIoU vs labels).

One entry per round, written by rank 0 after the run (and rebuilt from progress.json on resume, so a
resumed run reports every round, not only those after the restart). An entry also holds the per-class
IoU and the labelled pixels per ground-truth class, which `segal report` (segal_dsl/report/) draws.
"""

from __future__ import annotations

import csv
import io
import json
import os.path as osp
from typing import Any

import numpy as np

from .labels import atomic_write_bytes
from .pipelines import resize_nearest

FIELDS = ("round", "planned", "labelled", "added", "labelled_images", "mIoU", "mAcc", "aAcc",
          "global_iter", "global_epoch")
SUPERPIXEL_FIELDS = ("superpixels", "superpixels_added")  # superpixel mode: the cost in clicks


def round_entry(r: int, labels, previous: list[dict], global_iter: int, global_epoch: int,
                metrics: dict[str, float]) -> dict[str, Any]:
    """The report line of round r, measured after its training: labels it trained on and its scores.

    `planned` and `labelled` are cumulative (pixels, or images in image mode); `added` is what the
    query before this round bought (round 0: the initial labels).
    """
    recs = labels.records
    rec = recs[r] if r < len(recs) else {"planned": 0, "added": 0}
    planned = sum(int(x["planned"]) for x in recs[: r + 1])
    entry: dict[str, Any] = {
        "round": r,
        "planned": planned,
        "labelled": labels.total(),
        "added": int(rec["added"]),
        "labelled_images": labels.total() if labels.mode == "image"
        else sum(1 for i in range(len(labels)) if labels.count(i)),
        "global_iter": global_iter,
        "global_epoch": global_epoch,
    }
    if labels.superpixels() is not None:  # superpixel mode: the cost in clicks next to the pixels they cover
        entry["superpixels"] = labels.superpixels()
        entry["superpixels_added"] = int((rec.get("extra") or {}).get("superpixels", 0))
    for k in ("mIoU", "mAcc", "aAcc"):
        if k in metrics:
            entry[k] = round(float(metrics[k]), 6)
    for k in sorted(metrics):  # validation losses (multitask runner: loss_seg_val, loss_rec_val)
        if k.endswith("_val"):
            entry[k] = round(float(metrics[k]), 6)
    per_class = {k[len("IoU."):]: round(float(v), 6) for k, v in metrics.items()
                 if k.startswith("IoU.") and v == v}  # mmseg: NaN for a class absent from val
    if per_class:
        entry["IoU"] = per_class
    return entry


def labelled_per_class(labels, dataset, classes) -> dict[str, int] | None:
    """Labelled pixels per ground-truth class (image mode: every pixel of a labelled image; `label dominant`
    superpixels: the class assigned to them), or None when the pool has no ground truth to read. Shows whether
    a strategy finds the rare classes."""
    get = getattr(dataset, "get_gt_seg_map_by_idx", None)
    if get is None or getattr(dataset, "ann_dir", None) is None or not classes:
        return None
    n = len(classes)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(len(labels)):
        if not labels.count(i):
            continue
        gt = np.asarray(get(i))
        if labels.mode != "image":
            mask = labels.mask(i)
            gt = gt if gt.shape == mask.shape else resize_nearest(gt, mask.shape)
            assigned = labels.class_map(i)
            if assigned is not None:  # one-click superpixel labels: the class the pixel trains as
                gt = np.where(assigned >= 0, assigned, gt)
            gt = gt[mask]
        gt = gt[gt < n]
        counts += np.bincount(gt.ravel(), minlength=n)[:n]
    return {str(c): int(k) for c, k in zip(classes, counts)}


def curve_rows(rounds: list[dict]) -> list[list]:
    """[round, labelled, mIoU] per round: the learning curve as table rows (mIoU None when not measured)."""
    return [[e["round"], e["labelled"], e.get("mIoU")] for e in rounds]


def class_rows(rounds: list[dict]) -> list[list]:
    """[round, class, IoU, labelled] per round and class, from each entry's `IoU` and `labelled_per_class`
    (None where one of them lacks the class): whether the labels bought reach the classes that score low."""
    rows = []
    for e in rounds:
        iou, bought = e.get("IoU") or {}, e.get("labelled_per_class") or {}
        rows += [[e["round"], c, iou.get(c), bought.get(c)] for c in dict.fromkeys([*bought, *iou])]
    return rows


def write(work_dir: str, rounds: list[dict], labels, mode: str, reference: str | None = None) -> None:
    """report.json + report.csv + learning_curve.png (the plot only when matplotlib is importable).

    report.json also holds the seed of every random stream (labels.json `meta.seeds`, selection.STREAMS) and,
    for a sweep's full-supervision point, `reference` (`full`), which `segal report` draws as the ceiling."""
    unit = "images" if mode == "image" else "pixels"
    doc = {"sample_mode": mode, "unit": unit, "pool": len(labels), "rounds": rounds,
           "label_records": labels.records, "seeds": dict((labels.meta or {}).get("seeds") or {})}
    if reference is not None:
        doc["reference"] = reference
    atomic_write_bytes(osp.join(work_dir, "report.json"),
                       (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    buf = io.StringIO()
    fields = FIELDS + (SUPERPIXEL_FIELDS if any("superpixels" in e for e in rounds) else ())
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for e in rounds:
        w.writerow(e)
    atomic_write_bytes(osp.join(work_dir, "report.csv"), buf.getvalue().encode())
    curve(osp.join(work_dir, "learning_curve.png"), rounds, unit)


def curves(path: str, series: dict[str, list[dict]], unit: str, title: str) -> None:
    """Several learning curves in one plot (the points of a sweep)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, rounds in series.items():
        pts = [(e["labelled"], 100 * e["mIoU"]) for e in rounds if "mIoU" in e]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel(f"labelled {unit} (cumulative)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    canvas.print_png(buf)
    atomic_write_bytes(path, buf.getvalue())


def curve(path: str, rounds: list[dict], unit: str) -> None:
    """mIoU (%) against cumulative labels bought, one point per round."""
    pts = [(e["labelled"], 100 * e["mIoU"]) for e in rounds if "mIoU" in e]
    if not pts:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs, ys = zip(*pts)
    ax.plot(xs, ys, marker="o")
    for (x, y), e in zip(pts, [e for e in rounds if "mIoU" in e]):
        ax.annotate(f"r{e['round']}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlabel(f"labelled {unit} (cumulative)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title("learning curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    canvas.print_png(buf)
    atomic_write_bytes(path, buf.getvalue())
