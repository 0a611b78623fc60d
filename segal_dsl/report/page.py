"""The report page: one self-contained HTML file (plots and pictures embedded as data: URIs, no script,
no network) from the summary of segal_dsl/report/data.py. Plots with matplotlib (Agg, no display)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import jinja2

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    return fig, fig.add_subplot()


def curves_plot(summary: dict) -> str:
    """Mean learning curve per group, its bootstrap 95% band, each seed faintly, target and ceiling."""
    fig, ax = _figure(7.5, 4.2)
    for i, g in enumerate(summary["groups"]):
        c = COLOURS[i % len(COLOURS)]
        for name in g["runs"]:
            run = next(r for r in summary["runs"] if r["name"] == name)
            pts = [(e["labelled"], 100 * e["mIoU"]) for e in run["rounds"] if "mIoU" in e]
            if pts and len(g["runs"]) > 1:
                ax.plot(*zip(*pts), color=c, alpha=0.25, lw=0.8)
        xs = [p["labelled"] for p in g["curve"]]
        ax.plot(xs, [100 * p["mIoU"]["mean"] for p in g["curve"]], color=c, marker="o", lw=2,
                label=f"{g['name']} (n={len(g['runs'])})")
        if len(g["runs"]) > 1:
            ax.fill_between(xs, [100 * p["mIoU"]["lo"] for p in g["curve"]],
                            [100 * p["mIoU"]["hi"] for p in g["curve"]], color=c, alpha=0.18, lw=0)
    if summary["ceiling_mIoU"] is not None:
        ax.axhline(100 * summary["ceiling_mIoU"], color="k", ls="--", lw=1, label="full supervision")
    if summary["target_mIoU"] is not None:
        ax.axhline(100 * summary["target_mIoU"], color="grey", ls=":", lw=1,
                   label=f"{summary['fraction']:.0%} of best")
    ax.set_xlabel(f"labelled {summary['unit']} (cumulative)")
    ax.set_ylabel("mIoU (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def bought_per_class(run: dict) -> list[dict[str, int]]:
    """Labels bought per class before each round: differences of the cumulative counts."""
    out, prev = [], {}
    for e in run["rounds"]:
        cum = e.get("labelled_per_class") or {}
        out.append({c: n - prev.get(c, 0) for c, n in cum.items()})
        prev = cum
    return out


def classes_plot(run: dict) -> str | None:
    """Share of each class among the labels bought per round (stacked bars)."""
    bought = bought_per_class(run)
    if not any(bought):
        return None
    classes = list(next(b for b in bought if b))
    fig, ax = _figure(6.5, 3.2)
    bottom = [0.0] * len(bought)
    for i, c in enumerate(classes):
        shares = [100 * b.get(c, 0) / max(sum(b.values()), 1) for b in bought]
        ax.bar([str(e["round"]) for e in run["rounds"]], shares, bottom=bottom, label=c,
               color=COLOURS[i % len(COLOURS)])
        bottom = [x + y for x, y in zip(bottom, shares)]
    ax.set_xlabel("bought for round")
    ax.set_ylabel("share of labels (%)")
    ax.legend(fontsize=7, ncol=min(len(classes), 5), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    fig.tight_layout()
    return _png(fig)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _ci(v: dict | None, scale: float = 100, digits: int = 2, unit: str = "") -> str:
    if not v or "mean" not in v:
        return "-"
    m, lo, hi = (scale * v[k] for k in ("mean", "lo", "hi"))
    if v.get("n", 1) < 2:
        return f"{m:,.{digits}f}{unit}"
    return f"{m:,.{digits}f}{unit} [{lo:,.{digits}f}, {hi:,.{digits}f}]"


def headline(summary: dict) -> str:
    """Which strategy wins and by how much, in one sentence."""
    w = summary["winner"]
    if not w:
        return "no round has an mIoU yet"
    g = next(x for x in summary["groups"] if x["name"] == w["group"])
    if not w["over"]:
        return f"{w['group']}: area under the learning curve {_ci(g['aulc'], unit='% mIoU')}"
    text = f"{w['group']} has the largest area under the learning curve: {_ci(g['aulc'], unit='% mIoU')}"
    if w["over"]:
        d = w["aulc_difference"]
        sure = "the interval excludes 0" if d["lo"] > 0 or d["hi"] < 0 else "the interval includes 0: not a clear win"
        text += f"; {_ci(d, unit=' points')} over {w['over']} ({sure})"
    return text


def _signed(v: dict) -> str:
    m, lo, hi = (100 * v[k] for k in ("mean", "lo", "hi"))
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _beats(e: dict) -> str:
    """`yes` only when both intervals (area and final mIoU) exclude 0 on the strategy's side."""
    verdicts = {"area": (e["aulc"] or {}).get("verdict"), "final mIoU": (e["final_mIoU"] or {}).get("verdict")}
    if all(v == "better" for v in verdicts.values()):
        return "yes"
    words = {"better": "better", "worse": "worse", "unclear": "interval includes 0", "one seed": "one seed only",
             None: "not measured"}
    detail = ", ".join(f"{k} {words[v]}" for k, v in verdicts.items())
    return f"no: worse than {e['baseline']} ({detail})" if "worse" in verdicts.values() else f"not shown ({detail})"


def versus_rows(summary: dict) -> list[dict[str, str]]:
    """The `versus` table of the summary (data.versus) as text cells: one row per strategy, then its
    baseline; mIoU in %, differences in points with their 95% interval."""
    groups = {g["name"]: g for g in summary["groups"]}
    rows, done = [], set()
    for e in summary.get("versus") or []:
        fin, area = e["final_mIoU"], e["aulc"]
        rows.append({"strategy": e["group"], "seeds": ", ".join(map(str, e["seeds"])) +
                     (" (paired)" if e["paired"] else " (unpaired)"),
                     "final": "-" if fin is None else f"{100 * fin['strategy']:.2f}",
                     "d_final": "-" if fin is None else _signed(fin["difference"]),
                     "aulc": "-" if area is None else f"{100 * area['strategy']:.2f}",
                     "d_aulc": "-" if area is None else _signed(area["difference"]),
                     "beats": _beats(e) + ("" if e["equal_budget"] else "; the budgets differ")})
    for e in summary.get("versus") or []:
        b = groups[e["baseline"]]
        if e["baseline"] in done:
            continue
        done.add(e["baseline"])
        rows.append({"strategy": e["baseline"], "seeds": ", ".join(map(str, e["baseline_seeds"])),
                     "final": "-" if b["final_mIoU"] is None else f"{100 * b['final_mIoU']['mean']:.2f}",
                     "d_final": "-", "aulc": "-" if b["aulc"] is None else f"{100 * b['aulc']['mean']:.2f}",
                     "d_aulc": "-", "beats": "(the baseline)"})
    return rows


VERSUS_HEADER = ("strategy", "seeds", "final mIoU %", "Δ final mIoU [95%]", "area under the curve %",
                 "Δ area [95%]", "beats random?")


def versus_markdown(summary: dict) -> str:
    """The versus table as Markdown (what `segal report` prints, for a README); empty without a baseline."""
    rows = versus_rows(summary)
    if not rows:
        return ""
    keys = ("strategy", "seeds", "final", "d_final", "aulc", "d_aulc", "beats")
    lines = ["| " + " | ".join(VERSUS_HEADER) + " |", "|" + "---|" * len(VERSUS_HEADER)]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"

TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.headline{font-size:1.2em;background:#eef6ee;padding:.6em;
border-left:4px solid #2ca02c}img.pic{width:128px;image-rendering:pixelated;margin:2px}pre{background:#f7f7f7;
padding:.5em;overflow:auto}details{margin:.6em 0}summary{cursor:pointer;font-weight:bold}
</style></head><body>
<h1>{{ title }}</h1>
<p class="headline">{{ headline }}</p>
<h2>Learning curves</h2>
<img alt="learning curves" src="{{ curves }}">
<table><tr><th class="l">strategy</th><th>seeds</th><th>final mIoU</th><th>area under the curve (mean mIoU)</th>
<th>{{ unit }} to reach {{ fraction }} of the best ({{ target }})</th></tr>
{% for g in groups %}<tr><td class="l">{{ g.name }}</td><td>{{ g.n }}</td><td>{{ g.final }}</td><td>{{ g.aulc }}</td>
<td>{{ g.reach }}</td></tr>
{% endfor %}{% if reference %}<tr><td class="l">full supervision (reference, not a strategy)</td><td>{{ reference.n }}</td>
<td>{{ reference.final }}</td><td>-</td><td>-</td></tr>
{% endif %}</table>
<p>Intervals: percentile bootstrap 95% over seeds ({{ boot }} resamples); the band in the plot is the same
interval per round.{% if ceiling %} Full supervision: {{ ceiling }}.{% endif %}</p>
{% if versus %}<h2>Against random at equal budget</h2>
<table><tr>{% for h in versus_header %}<th{% if loop.first %} class="l"{% endif %}>{{ h }}</th>{% endfor %}</tr>
{% for v in versus %}<tr><td class="l">{{ v.strategy }}</td><td>{{ v.seeds }}</td><td>{{ v.final }}</td>
<td>{{ v.d_final }}</td><td>{{ v.aulc }}</td><td>{{ v.d_aulc }}</td><td class="l">{{ v.beats }}</td></tr>
{% endfor %}</table>
<p>Δ: strategy − random in mIoU points, percentile bootstrap 95% over seeds; paired: the differences of
runs with the same seed (same initial labels) are resampled. With 3 seeds a paired interval is the range
of the 3 differences.</p>
{% endif %}{% for r in runs %}
<details{% if open_runs %} open{% endif %}><summary>{{ r.name }} ({{ r.group }}{% if r.seed is not none %}, seed
{{ r.seed }}{% endif %}){% if not r.finished %} — not finished{% endif %}</summary>
<h3>Plan</h3><table>{% for k, v in r.plan.items() %}<tr><th class="l">{{ k }}</th><td class="l">{{ v }}</td></tr>
{% endfor %}</table>{% if r.seeds %}<h3>Seeds of the random streams</h3><table>{% for k, v in r.seeds.items() %}
<tr><th class="l">{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.source %}<pre>{{ r.source }}</pre>{% endif %}
<h3>Rounds</h3><table><tr><th>round</th><th>bought</th><th>labelled</th><th>mIoU</th><th>train time</th>
<th>query time</th></tr>{% for e in r.rows %}<tr><td>{{ e.round }}</td><td>{{ e.added }}</td><td>{{ e.labelled }}</td>
<td>{{ e.miou }}</td><td>{{ e.train_s }}</td><td>{{ e.query_s }}</td></tr>{% endfor %}</table>
{% if r.classes %}<h3>IoU per class per round (%)</h3><table><tr><th class="l">class</th>{% for e in r.rows %}
<th>r{{ e.round }}</th>{% endfor %}</tr>{% for c in r.classes %}<tr><td class="l">{{ c.name }}</td>
{% for v in c.iou %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<h3>Labels bought per class per round</h3><table><tr><th class="l">class</th>{% for e in r.rows %}<th>r{{ e.round }}
</th>{% endfor %}</tr>{% for c in r.classes %}<tr><td class="l">{{ c.name }}</td>{% for v in c.bought %}
<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if r.classes_plot %}<img alt="labels per class" src="{{ r.classes_plot }}">{% endif %}
{% if r.pictures %}<h3>Query pictures</h3>{% for rnd, pics in r.pictures %}<p>round {{ rnd }}<br>
{% for p in pics %}<img class="pic" alt="round {{ rnd }}" src="{{ p }}">{% endfor %}</p>{% endfor %}{% endif %}
</details>{% endfor %}
</body></html>
""")


def _fmt_s(secs: float | None) -> str:
    return "-" if secs is None else f"{secs:.1f}s"


def render(summary: dict[str, Any], base: Path, title: str) -> str:
    """The HTML text; `base` is the folder the summary's relative paths start from."""
    from segal_dsl.report.stats import BOOTSTRAP

    unit = summary["unit"]
    groups = [{"name": g["name"], "n": len(g["runs"]), "final": _ci(g["final_mIoU"], unit="%"),
               "aulc": _ci(g["aulc"], unit="%"),
               "reach": (_ci(g["labels_to_target"], scale=1, digits=0) +
                         (f" ({g['labels_to_target']['reached']} of {len(g['runs'])} reached it)"
                          if g["labels_to_target"]["reached"] < len(g["runs"]) else ""))
               if g["labels_to_target"].get("reached") else "not reached"}
              for g in summary["groups"]]
    runs = []
    for r in summary["runs"]:
        times = {(t["step"], t["number"]): t["seconds"] for t in r["timings"]}
        rows = [{"round": e["round"], "added": f"{e['added']:,}", "labelled": f"{e['labelled']:,}",
                 "miou": f"{100 * e['mIoU']:.2f}" if "mIoU" in e else "-",
                 "train_s": _fmt_s(times.get(("train", e["round"]))),
                 "query_s": _fmt_s(times.get(("query", e["round"]))) if e["round"] > 0 else "-"} for e in r["rounds"]]
        names = list(r["rounds"][-1].get("labelled_per_class") or r["rounds"][-1].get("IoU") or {})
        bought = bought_per_class(r)
        classes = [{"name": c, "iou": [f"{100 * e['IoU'][c]:.1f}" if c in e.get("IoU", {}) else "-"
                                        for e in r["rounds"]],
                    "bought": [f"{b[c]:,}" if c in b else "-" for b in bought]} for c in names]
        seg = base / r["work_dir"] / "experiment.seg"
        runs.append({"name": r["name"], "group": r["group"], "seed": r["seed"], "finished": r["finished"],
                     "seeds": r.get("seeds") or {},
                     "plan": r["plan"], "source": seg.read_text(encoding="utf-8") if seg.is_file() else None,
                     "rows": rows, "classes": classes, "classes_plot": classes_plot(r),
                     "pictures": [(k, [_data_uri(base / p) for p in v]) for k, v in r["pictures"].items()]})
    ceiling = summary["ceiling_mIoU"]
    ref = summary.get("reference")
    reference = {"n": len(ref["runs"]), "final": _ci(ref["final_mIoU"], unit="%")} if ref else None
    return TEMPLATE.render(reference=reference, title=title, headline=headline(summary), curves=curves_plot(summary), groups=groups,
                           unit=unit, fraction=f"{summary['fraction']:.0%}",
                           versus=versus_rows(summary), versus_header=VERSUS_HEADER,
                           target="-" if summary["target_mIoU"] is None else f"{100 * summary['target_mIoU']:.2f}%",
                           boot=BOOTSTRAP, ceiling=None if ceiling is None else f"{100 * ceiling:.2f}% mIoU",
                           runs=runs, open_runs=len(runs) == 1)
