"""`segal check`'s result cache: an unchanged file is answered without analysing it (neither lark nor
pydantic is imported), and anything the result depends on invalidates it. Real subprocesses, a real
cache directory; speed is measured in benchmarks/bench_frontend.py, not here."""

import os
import re
import shutil
import subprocess
import sys

from conftest import ROOT


def run(*args, cache, cwd):
    env = {**os.environ, "NO_COLOR": "1", "XDG_CACHE_HOME": str(cache)}
    env.pop("SEGAL_NO_CACHE", None)
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "segal_dsl", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


def analysed(result) -> bool:
    """Whether the run parsed anything: lark is imported only by the analysis."""
    return any(re.search(r"\|\s*lark$", line) for line in result.stderr.splitlines())


def output(result) -> str:
    return result.stdout + "".join(line + "\n" for line in result.stderr.splitlines()
                                   if not line.startswith("import time:"))


def test_a_hit_prints_the_same_without_analysing(tmp_path):
    work = tmp_path / "w"
    shutil.copytree(ROOT / "examples", work, ignore=shutil.ignore_patterns("invalid"))
    seg = work / "ripu_region_gtav2cs.seg"
    text = seg.read_text().replace("heuristic ripu", "heuristic ripu  # segal: ignore[SEG9999]")
    seg.write_text(text)  # a warning (SEG002), so the cached result has something to print
    first = run("check", seg.name, cache=tmp_path / "c", cwd=work)
    second = run("check", seg.name, cache=tmp_path / "c", cwd=work)
    assert analysed(first) and not analysed(second)
    assert "SEG002" in first.stdout
    assert output(second) == output(first) and second.returncode == first.returncode
    for fmt in ("json", "github", "concise"):  # every format renders the cached diagnostics
        assert run("check", "--format", fmt, seg.name, cache=tmp_path / "c", cwd=work).stdout == \
            run("check", "--no-cache", "--format", fmt, seg.name, cache=tmp_path / "c", cwd=work).stdout
    # --select/--ignore apply to a hit as to a fresh result
    ignored = run("check", "--ignore", "SEG002", seg.name, cache=tmp_path / "c", cwd=work)
    assert not analysed(ignored) and "SEG002" not in ignored.stdout


def test_what_the_result_depends_on_invalidates_it(tmp_path):
    work = tmp_path / "w"
    shutil.copytree(ROOT / "examples", work, ignore=shutil.ignore_patterns("invalid"))
    seg, cache = work / "design_sketch.seg", tmp_path / "c"
    assert analysed(run("check", seg.name, cache=cache, cwd=work))
    assert not analysed(run("check", seg.name, cache=cache, cwd=work))
    seg.write_text(seg.read_text() + "\n")  # the file itself
    assert analysed(run("check", seg.name, cache=cache, cwd=work))
    assert not analysed(run("check", seg.name, cache=cache, cwd=work))
    base = work / "dataset" / "gtav2cityscapes.py"  # a base file it reads
    base.write_text(base.read_text().replace("source_free = False", "source_free = True"))
    changed = run("check", seg.name, cache=cache, cwd=work)
    assert analysed(changed)
    assert not analysed(run("check", seg.name, cache=cache, cwd=work))
    assert analysed(run("check", "--no-cache", seg.name, cache=cache, cwd=work))
    other = tmp_path / "elsewhere"  # the same bytes at another path resolve their bases elsewhere
    shutil.copytree(work, other)
    assert analysed(run("check", seg.name, cache=cache, cwd=other))


def test_results_that_depend_on_unreadable_files_are_not_kept(tmp_path):
    seg = tmp_path / "orphan.seg"
    seg.write_text('experiment a {\n    base "missing.py"\n    sample pixel { budget 1% per image }\n'
                   '    heuristic entropy\n    schedule epochs { train 1; query; train 1 }\n}\n')
    for _ in range(2):  # SEG222: the base may appear later, so each run analyses
        assert analysed(run("check", seg.name, cache=tmp_path / "c", cwd=tmp_path))
    (tmp_path / "missing.py").write_text("model = dict(type='EncoderDecoder')\n")
    assert analysed(run("check", seg.name, cache=tmp_path / "c", cwd=tmp_path))
    assert not analysed(run("check", seg.name, cache=tmp_path / "c", cwd=tmp_path))


def test_a_changed_tool_is_a_miss(tmp_path, monkeypatch):
    from segal_dsl import check_cache

    before = check_cache.tool_digest()
    check_cache.tool_digest.cache_clear()
    target = check_cache.PACKAGE / "codes.py"
    stat = target.stat()
    try:
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert check_cache.tool_digest() != before
    finally:
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        check_cache.tool_digest.cache_clear()
    assert check_cache.tool_digest() == before
