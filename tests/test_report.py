"""`segal report`: the numbers of a sweep (golden JSON: mean, bootstrap intervals, area under the curve,
labels to reach 90% of the best, the winner), written without torch, and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, assert_golden

pytest.importorskip("matplotlib")

NO_TORCH = """
import sys
from segal_dsl.cli import main
code = main(sys.argv[1:])
assert not {"torch", "mmcv", "mmseg"} & set(sys.modules), "segal report imported the runtime"
sys.exit(code)
"""

# mIoU per round of each (heuristic, seed): entropy beats random by about 5 points, margin sits between
CURVES = {
    "random": [[0.30, 0.38, 0.42, 0.45], [0.31, 0.37, 0.43, 0.44], [0.29, 0.39, 0.41, 0.46]],
    "entropy": [[0.30, 0.43, 0.48, 0.51], [0.31, 0.42, 0.49, 0.50], [0.29, 0.44, 0.47, 0.52]],
    "margin": [[0.30, 0.40, 0.45, 0.47], [0.31, 0.41, 0.44, 0.49], [0.29, 0.40, 0.46, 0.48]],
}
CLASSES = ("background", "disc", "ring")


def make_sweep(root: Path) -> Path:
    """A sweep root as `segal run` leaves it: sweep.json, and per point a report, plan, run record, picture."""
    from matplotlib.image import imsave

    points = []
    for h, seeds in CURVES.items():
        for s, curve in enumerate(seeds):
            name = f"heuristic-{h}_seed-{s}"
            wd = root / name
            (wd / "al_state").mkdir(parents=True)
            rounds = [{"round": r, "labelled": 2560 * (r + 1), "added": 2560, "planned": 2560 * (r + 1), "mIoU": m,
                       "IoU": {c: round(m * (1.5 - i / 2), 6) for i, c in enumerate(CLASSES)},
                       "labelled_per_class": {c: 2560 * (r + 1) // (2 + i) for i, c in enumerate(CLASSES)}}
                      for r, m in enumerate(curve)]
            (wd / "report.json").write_text(json.dumps({"unit": "pixels", "rounds": rounds}))
            (wd / f"{name}.plan.json").write_text(json.dumps({"experiment": "toy", "heuristic": h, "queries": 3}))
            (wd / "al_state" / "run.json").write_text(json.dumps(
                {"state": "finished", "timings": [{"step": "train", "number": r, "seconds": 1.5} for r in range(4)]}))
            (wd / "viz" / "round1").mkdir(parents=True)
            imsave(wd / "viz" / "round1" / "0.png", [[[r / 4, 0.5, 0.5] for r in range(4)]] * 4)
            points.append({"name": name, "values": {"heuristic": h, "seed": s}})
    (root / "sweep.json").write_text(json.dumps({"sweep": "toy_heuristics", "points": points}))
    return root


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, "report", *args], capture_output=True, text=True,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory) -> Path:
    root = make_sweep(tmp_path_factory.mktemp("sweep") / "toy_heuristics")
    result = report(str(root), "-o", str(root / "report.html"))
    assert result.returncode == 0, result.stderr
    return root


def test_sweep_numbers_golden(sweep_report, update_golden):
    text = (sweep_report / "report.data.json").read_text()
    assert_golden(GOLDEN / "report" / "toy_heuristics.json", text, update_golden)
    doc = json.loads(text)
    assert doc["ranking"] == ["heuristic=entropy", "heuristic=margin", "heuristic=random"]
    win = doc["winner"]
    assert win["group"] == "heuristic=entropy" and win["over"] == "heuristic=margin"
    assert 0 < win["aulc_difference"]["lo"] < win["aulc_difference"]["mean"] < win["aulc_difference"]["hi"]
    g = {x["name"]: x for x in doc["groups"]}["heuristic=random"]
    assert [p["mIoU"]["n"] for p in g["curve"]] == [3, 3, 3, 3]
    assert g["curve"][3]["mIoU"]["lo"] <= g["curve"][3]["mIoU"]["mean"] == 0.45 <= g["curve"][3]["mIoU"]["hi"]
    assert g["labels_to_target"]["reached"] == 0, "random never reaches 90% of the best (0.468)"


def test_page_is_self_contained(sweep_report):
    html = (sweep_report / "report.html").read_text()
    assert "heuristic=entropy has the largest area under the learning curve" in html
    assert "interval excludes 0" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count("data:image/png;base64,") >= 1 + 9, "the curves plot and every run's query picture"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (scripts/setup.sh)")
def test_page_loads_in_headless_chromium(sweep_report, tmp_path):
    """A real browser: no console message of level error, every image decodes, a screenshot is drawn."""
    page = sweep_report / "report.html"
    check = page.with_name("check.html")  # the same page plus a probe that counts broken images
    check.write_text(page.read_text().replace("</body>", """<script>
window.addEventListener('load', () => { const bad = [...document.images].filter(i => !i.naturalWidth);
document.title = 'images:' + document.images.length + ' broken:' + bad.length; });</script></body>"""))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    run = subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20000, run.stderr[-2000:]
    assert "CONSOLE(" not in run.stderr, run.stderr[-2000:]  # the page logs nothing, errors least of all
    dom = subprocess.run(["chromium", *flags, "--virtual-time-budget=5000", "--dump-dom", check.as_uri()],
                         capture_output=True, text=True, timeout=120)
    title = dom.stdout.split("<title>")[1].split("</title>")[0]
    assert title.startswith("images:") and title.endswith(" broken:0"), title
    assert int(title.split()[0].split(":")[1]) >= 10
    assert "CONSOLE(" not in dom.stderr and "Uncaught" not in dom.stderr, dom.stderr[-2000:]


def test_each_strategy_against_random_on_the_page_and_stdout(sweep_report):
    """Paired by seed: entropy - random is +5, +6, +6 points in rounds 1-3 of every seed."""
    doc = json.loads((sweep_report / "report.data.json").read_text())
    v = {e["group"]: e for e in doc["versus"]}
    assert set(v) == {"heuristic=entropy", "heuristic=margin"} and all(e["paired"] for e in v.values())
    assert v["heuristic=entropy"]["final_mIoU"]["difference"] == {"mean": 0.06, "lo": 0.06, "hi": 0.06, "n": 3}
    assert "Against random at equal budget" in (sweep_report / "report.html").read_text()
    result = report(str(sweep_report), "-o", str(sweep_report / "again.html"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == ("| heuristic=entropy | 0, 1, 2 (paired) | 51.00 | +6.00 [+6.00, +6.00] "
                                             "| 43.83 | +4.67 [+4.67, +4.67] | yes |")
