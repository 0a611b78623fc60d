"""The numbers of `segal report`: work dirs (or sweep roots) -> one JSON-ready summary.

Reads only the files a run leaves (segal_dsl/workdir.py names them); no torch. Runs are grouped by
strategy (a sweep point's axis values without `seed`, else the heuristic), and every group gets its
mean curve with a bootstrap 95% band over seeds, its area under the learning curve and the labels it
needs to reach a fraction of the best mIoU, each with an interval. A sweep's full-supervision point
(report.json `reference`, `sweep { … reference full }`) is no strategy: it is kept out of the groups, the
ranking and the best mIoU, and its final mIoU (mean over its seeds) is the ceiling.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segal_dsl.spec import heuristics
from segal_dsl.workdir import PROGRESS, REPORT, RUN_FILE, STATE_DIR, read_json, read_sweep

from . import stats

SEED_AXIS = "seed"


def _plan(wd: Path) -> dict:
    for p in sorted(wd.glob("*.plan.json")):
        data = read_json(p)
        if isinstance(data, dict):
            return data
    return {}


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def load_run(wd: Path, base: Path, name: str | None = None, values: dict | None = None) -> dict[str, Any] | None:
    """One run's rounds, plan, pictures and timings; None when the dir holds no round yet."""
    report = read_json(wd / REPORT)
    progress = read_json(wd / STATE_DIR / PROGRESS) or {}
    rounds = (report or {}).get("rounds") if isinstance(report, dict) else report
    rounds = rounds or progress.get("rounds") or []
    if not rounds:
        return None
    plan = _plan(wd)
    run = read_json(wd / STATE_DIR / RUN_FILE) or {}
    values = dict(values or {})
    doc = report if isinstance(report, dict) else {}
    seeds = doc.get("seeds") or {}  # every random stream's seed (runtime/report.py)
    seed = values.get(SEED_AXIS, progress.get("seed", seeds.get("selection")))
    strategy = {k: v for k, v in values.items() if k != SEED_AXIS}
    group = ", ".join(f"{k}={v}" for k, v in sorted(strategy.items())) or str(plan.get("heuristic") or wd.name)
    viz_dir = wd / ((plan.get("visualize") or {}).get("dir") or "viz")
    pictures = {}
    for d in sorted(viz_dir.glob("round*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        pics = sorted(p for p in d.glob("*.png"))
        if pics:
            pictures[d.name[5:]] = [_rel(p, base) for p in pics]
    keep = ("round", "planned", "labelled", "added", "mIoU", "mAcc", "aAcc", "IoU", "labelled_per_class")
    return {
        "name": name or wd.name,
        "work_dir": _rel(wd, base),
        "group": group,
        "values": values,
        "seed": seed,
        "finished": report is not None,
        "unit": (report or {}).get("unit", "pixels") if isinstance(report, dict) else "pixels",
        "heuristic": plan.get("heuristic"),
        "plan": {k: plan.get(k) for k in ("experiment", "heuristic", "sample_mode", "queries", "reset_each_round")
                 if k in plan},
        "rounds": [{k: e[k] for k in keep if k in e} for e in rounds],
        "pictures": pictures,
        "timings": run.get("timings", []),
        "ceiling": (report or {}).get("ceiling_mIoU") if isinstance(report, dict) else None,
        "seeds": dict(seeds),
        "reference": doc.get("reference"),
    }


def collect(dirs: list[str | os.PathLike], base: Path) -> list[dict[str, Any]]:
    """Every run under the given dirs: a sweep root contributes its points, any other dir itself."""
    runs = []
    for d in map(Path, dirs):
        sweep = read_sweep(d)
        if sweep is not None:
            for p in sweep[0].get("points", []):
                r = load_run(d / p["name"], base, p["name"], p.get("values"))
                if r is not None:
                    runs.append(r)
        else:
            r = load_run(d, base)
            if r is not None:
                runs.append(r)
    return runs


def _xy(run: dict) -> tuple[list[float], list[float]]:
    pts = [(e["labelled"], e["mIoU"]) for e in run["rounds"] if "mIoU" in e]
    return [p[0] for p in pts], [p[1] for p in pts]


def summarise(runs: list[dict[str, Any]], fraction: float = 0.9, ceiling: float | None = None) -> dict[str, Any]:
    """The report's numbers: per run, per group (mean and bootstrap interval over seeds) and the winner."""
    unit = runs[0]["unit"] if runs else "pixels"
    refs = [r for r in runs if r.get("reference")]
    strategies = [r for r in runs if not r.get("reference")]
    best = max((y for r in strategies for y in _xy(r)[1]), default=None)
    target = None if best is None else round(fraction * best, 6)
    for r in runs:
        xs, ys = _xy(r)
        a = stats.aulc(xs, ys)
        r["aulc"] = None if a is None else round(a, 6)
        reach = None if target is None else stats.labels_to_reach(xs, ys, target)
        r["labels_to_target"] = None if reach is None else round(reach, 3)
        r["final_mIoU"] = ys[-1] if ys else None
    ref_finals = [r["final_mIoU"] for r in refs if r["final_mIoU"] is not None]
    ceilings = ref_finals or [r["ceiling"] for r in runs if r.get("ceiling") is not None]
    ceiling = ceiling if ceiling is not None else (stats.mean(ceilings) if ceilings else None)
    reference = {"runs": [r["name"] for r in refs], "seeds": [r["seed"] for r in refs],
                 "final_mIoU": stats.bootstrap(ref_finals) if ref_finals else None} if refs else None
    groups = []
    for name in sorted({r["group"] for r in strategies}):
        members = [r for r in strategies if r["group"] == name]
        n_rounds = min(len([e for e in m["rounds"] if "mIoU" in e]) for m in members)
        curve = []
        for i in range(n_rounds):
            pts = [[e for e in m["rounds"] if "mIoU" in e][i] for m in members]
            curve.append({"round": pts[0]["round"], "labelled": stats.mean([p["labelled"] for p in pts]),
                          "mIoU": stats.bootstrap([p["mIoU"] for p in pts])})
        aulcs = [m["aulc"] for m in members if m["aulc"] is not None]
        reached = [m["labels_to_target"] for m in members if m["labels_to_target"] is not None]
        finals = [m["final_mIoU"] for m in members if m["final_mIoU"] is not None]
        groups.append({
            "name": name, "runs": [m["name"] for m in members], "seeds": [m["seed"] for m in members],
            "curve": curve,
            "aulc": stats.bootstrap(aulcs) if aulcs else None,
            "final_mIoU": stats.bootstrap(finals) if finals else None,
            "labels_to_target": dict(stats.bootstrap(reached), reached=len(reached)) if reached
            else {"reached": 0, "n": len(members)},
            "_aulcs": aulcs,
        })
    ranked = sorted((g for g in groups if g["aulc"]), key=lambda g: -g["aulc"]["mean"])
    winner = None
    if len(ranked) >= 2:
        winner = {"group": ranked[0]["name"], "over": ranked[1]["name"],
                  "aulc_difference": stats.bootstrap_difference(ranked[0]["_aulcs"], ranked[1]["_aulcs"])}
    elif ranked:
        winner = {"group": ranked[0]["name"], "over": None, "aulc_difference": None}
    for g in groups:
        del g["_aulcs"]
    return {"versus": versus(groups, runs),
            "unit": unit, "fraction": fraction, "best_mIoU": best, "target_mIoU": target, "ceiling_mIoU": ceiling,
            "reference": reference,
            "ranking": [g["name"] for g in ranked], "winner": winner, "groups": groups, "runs": runs}


def _verdict(d: dict) -> str:
    if d["n"] < 2:
        return "one seed"   # a zero-width interval: no evidence either way
    return "better" if d["lo"] > 0 else "worse" if d["hi"] < 0 else "unclear"


def _last_labelled(run: dict) -> float | None:
    pts = [e["labelled"] for e in run["rounds"] if "mIoU" in e]
    return pts[-1] if pts else None


def _difference(ms: list[dict], mb: list[dict], metric: str, paired: bool) -> dict[str, Any] | None:
    a, c = [m[metric] for m in ms], [m[metric] for m in mb]
    if not paired:
        a, c = [x for x in a if x is not None], [x for x in c if x is not None]
    if not a or not c or None in a or None in c:
        return None
    d = stats.paired_difference(a, c) if paired else stats.bootstrap_difference(a, c)
    return {"strategy": round(stats.mean(a), 6), "baseline": round(stats.mean(c), 6), "difference": d,
            "verdict": _verdict(d)}


def versus(groups: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every strategy against the uninformed baseline (`random`, spec/heuristics.py) with the same other
    sweep values: final mIoU and area under the curve, their means and the 95% interval of the
    difference (strategy - baseline). Paired by seed (stats.paired_difference) when both groups ran the
    same distinct seeds, else each side resampled on its own (stats.bootstrap_difference). `verdict`:
    better / worse when the interval excludes 0, else unclear (`one seed` when there is no interval); `equal_budget`: the same labels at the
    end, pair by pair (unpaired: in the mean)."""
    by_name = {r["name"]: r for r in runs}
    members = {g["name"]: [by_name[n] for n in g["runs"]] for g in groups}

    def others(name: str) -> tuple:
        vals = members[name][0]["values"]
        return tuple(sorted((k, str(v)) for k, v in vals.items() if k not in (SEED_AXIS, "heuristic")))

    def uninformed(name: str) -> bool:
        found = {m["values"].get("heuristic", m["heuristic"]) for m in members[name]}
        spec = heuristics.lookup(str(found.pop())) if len(found) == 1 else None
        return spec is not None and spec.uninformed

    baselines = {others(g["name"]): g["name"] for g in groups if uninformed(g["name"])}
    out = []
    for g in groups:
        b = baselines.get(others(g["name"]))
        if b is None or b == g["name"]:
            continue
        ms, mb = members[g["name"]], members[b]
        seeds, base_seeds = [str(m["seed"]) for m in ms], [str(m["seed"]) for m in mb]
        paired = (None not in [m["seed"] for m in ms + mb] and sorted(seeds) == sorted(base_seeds)
                  and len(set(seeds)) == len(seeds))
        if paired:
            ms, mb = sorted(ms, key=lambda m: str(m["seed"])), sorted(mb, key=lambda m: str(m["seed"]))
        budget = ([_last_labelled(x) for x in ms] == [_last_labelled(y) for y in mb] if paired else
                  stats.mean([_last_labelled(x) or 0 for x in ms]) == stats.mean([_last_labelled(y) or 0 for y in mb]))
        out.append({"group": g["name"], "baseline": b, "paired": paired, "equal_budget": budget,
                    "seeds": [m["seed"] for m in ms], "baseline_seeds": [m["seed"] for m in mb],
                    "final_mIoU": _difference(ms, mb, "final_mIoU", paired),
                    "aulc": _difference(ms, mb, "aulc", paired)})
    return out
