"""The `segal` command: exit codes, formats, globs, atomic output, in real subprocesses."""

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def segal(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "segal_dsl", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1"})


def test_check_exit_codes():
    assert segal("check", "examples/design_sketch.seg").returncode == 0
    assert segal("check", "tests/fixtures/bad/SEG303_consecutive_queries.seg").returncode == 1
    warn = "tests/fixtures/bad/SEG304_query_after_last_train.seg"
    assert segal("check", warn).returncode == 0
    assert segal("check", "--strict", warn).returncode == 1
    missing = segal("check", "nope.seg")
    assert missing.returncode == 2 and "error[SEG001]: cannot read `nope.seg`: no such file" in missing.stdout
    assert segal("check").returncode == 2
    assert segal("check", "examples/*.nothing").returncode == 2


def test_check_many_files_by_glob_and_directory_reports_all():
    result = segal("check", "--format", "concise", "examples/*.seg", "tests/fixtures/bad/SEG2*.seg")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    codes = {line.split("[")[1].split("]")[0] for line in lines}
    assert {"SEG201", "SEG202", "SEG206", "SEG214"} <= codes
    assert "checked" in result.stderr
    by_dir = segal("check", "-q", "examples")
    assert by_dir.returncode == 1  # examples/invalid holds deliberate mistakes


def test_check_json_and_github():
    result = segal("check", "--format", "json", "tests/fixtures/bad/SEG401_non_positive_budget.seg")
    (entry,) = json.loads(result.stdout)
    assert entry["code"] == "SEG401" and entry["path"].endswith("SEG401_non_positive_budget.seg")
    gh = segal("check", "--format", "github", "tests/fixtures/bad/SEG401_non_positive_budget.seg")
    assert gh.stdout.startswith("::error file=tests/fixtures/bad/SEG401_non_positive_budget.seg,line=5,col=27")


def test_non_utf8_input_is_a_diagnostic_of_its_file(tmp_path):
    bad = tmp_path / "latin1.seg"
    bad.write_bytes("experiment a {\n  seed é\n}".encode("latin-1"))
    result = segal("check", str(bad))
    assert result.returncode == 2
    assert "error[SEG001]" in result.stdout and "not UTF-8 text: invalid continuation byte at line 2, column 8" in result.stdout


def test_unreadable_files_do_not_stop_the_others_in_any_format(tmp_path):
    """Like ruff's E902: a missing file, a directory and a non-UTF-8 file are diagnostics of their own
    file; the other files are still checked and every format shows all of them; exit 2."""
    (tmp_path / "latin1.seg").write_bytes(b"experiment \xe9 {}")
    (tmp_path / "adir.seg").mkdir()
    warn = "tests/fixtures/bad/SEG304_query_after_last_train.seg"
    inputs = [str(tmp_path / "latin1.seg"), "nope.seg", str(tmp_path / "adir.seg"), warn]
    for fmt in ("text", "concise", "json", "github"):
        result = segal("check", "--format", fmt, *inputs)
        assert result.returncode == 2, fmt
        out = result.stdout
        assert out.count("SEG001") == 3 and "SEG304" in out, (fmt, out)
    (a, b, c, d) = json.loads(segal("check", "--format", "json", *inputs).stdout)
    assert [a["code"], b["code"], c["code"], d["code"]] == ["SEG001", "SEG001", "SEG001", "SEG304"]
    assert "it is a directory" in a["message"] + b["message"] + c["message"]
    assert segal("plan", "nope.seg").returncode == 2 and "SEG001" in segal("plan", "nope.seg").stderr


def test_stdin_with_a_filename_for_check_plan_and_compile(tmp_path):
    text = open(os.path.join(ROOT, "tests/fixtures/bad/SEG304_query_after_last_train.seg")).read()

    def piped(*args):
        return subprocess.run([sys.executable, "-m", "segal_dsl", *args], input=text, capture_output=True,
                              text=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})

    check = piped("check", "--format", "concise", "-", "--stdin-filename", "exp/mine.seg")
    assert check.returncode == 0 and check.stdout.startswith("exp/mine.seg:5:")
    assert piped("check", "--format", "concise", "-").stdout.startswith("<stdin>:5:")
    assert piped("check", "--strict", "-").returncode == 1
    plan = piped("plan", "--format", "json", "-")
    assert plan.returncode == 0 and json.loads(plan.stdout)["queries"] >= 1
    compiled = piped("compile", "-")
    assert compiled.returncode == 0 and "workflow" in compiled.stdout


def test_select_ignore_and_ignore_comments(tmp_path):
    warn = "tests/fixtures/bad/SEG304_query_after_last_train.seg"
    assert "SEG304" in segal("check", "--format", "concise", warn).stdout
    for how in (["--ignore", "SEG304"], ["--ignore", "SEG3"], ["--ignore", "query-after-last-train"],
                ["--select", "SEG2,SEG4"]):
        result = segal("check", "--strict", "--format", "concise", *how, warn)
        assert result.returncode == 0 and "SEG304" not in result.stdout, how
    assert segal("check", "--select", "SEG3", "--strict", warn).returncode == 1
    assert segal("check", "--ignore", "SEG9999", warn).returncode == 2  # unknown: usage error
    # errors are never filtered
    error = "tests/fixtures/bad/SEG303_consecutive_queries.seg"
    assert segal("check", "--ignore", "SEG303", "--format", "concise", error).returncode == 1
    # a trailing comment silences its line; a file-level one the whole file
    lines = open(os.path.join(ROOT, warn)).read().splitlines()
    (at,) = [i for i, line in enumerate(lines) if "query" in line and "schedule" in line]
    silenced = lines.copy()
    silenced[at] += "  # segal: ignore[SEG304]"
    (tmp_path / "line.seg").write_text("\n".join(silenced) + "\n")
    line = segal("check", "--strict", "--format", "concise", str(tmp_path / "line.seg"))
    assert line.returncode == 0 and line.stdout == "", line.stdout
    (tmp_path / "file.seg").write_text("# segal: ignore-file[query-after-last-train]\n" + "\n".join(lines) + "\n")
    assert segal("check", "--strict", str(tmp_path / "file.seg")).returncode == 0
    other = lines.copy()
    other[at] += "  # segal: ignore[SEG305]"  # another code: SEG304 stays
    (tmp_path / "other.seg").write_text("\n".join(other) + "\n")
    assert "SEG304" in segal("check", "--format", "concise", str(tmp_path / "other.seg")).stdout
    typo = lines.copy()
    typo[at] += "  # segal: ignore[SEG3O4]"
    (tmp_path / "typo.seg").write_text("\n".join(typo) + "\n")
    out = segal("check", "--format", "concise", str(tmp_path / "typo.seg")).stdout
    assert "SEG002" in out and "SEG304" in out
    # a `#` inside a string is no comment
    quoted = [line.replace('base "m.py"', 'base "m.py # segal: ignore-file[SEG304]"') for line in lines]
    assert quoted != lines
    (tmp_path / "q.seg").write_text("\n".join(quoted) + "\n")
    assert "SEG304" in segal("check", "--format", "concise", str(tmp_path / "q.seg")).stdout


def test_explain_by_slug():
    by_slug = segal("explain", "query-after-last-train")
    assert by_slug.returncode == 0 and by_slug.stdout.startswith("SEG304 query-after-last-train")
    typo = segal("explain", "query-after-last-trian")
    assert typo.returncode == 2 and "did you mean `query-after-last-train`" in typo.stderr


def test_plan_table_and_json():
    table = segal("plan", "examples/design_sketch.seg")
    assert table.returncode == 0
    assert "total: 32 epochs of training, 5 queries" in table.stdout
    data = json.loads(segal("plan", "--format", "json", "examples/design_sketch.seg").stdout)
    assert [r["train"] for r in data["rounds"]] == [10, 2, 2, 2, 2, 14]
    assert segal("plan", "tests/fixtures/bad/SEG303_consecutive_queries.seg").returncode == 1
    assert segal("plan", "tests/fixtures/bad/SEG305_query_before_train.seg").returncode == 0  # a warning


def test_compile_writes_config_and_plan(tmp_path):
    out = tmp_path / "cfg.py"
    result = segal("compile", "examples/ripu_region_gtav2cs.seg", "-o", str(out))
    assert result.returncode == 0, result.stderr
    plan = json.loads(out.with_name("cfg.plan.json").read_text())
    assert plan["queries"] == 5 and plan["rounds"][0]["budget"]["total"] == 24_371_200
    assert "workflow = [" in out.read_text()
    stdout = segal("compile", "examples/ripu_region_gtav2cs.seg")
    assert stdout.returncode == 0 and stdout.stdout.startswith("# Generated by segal-dsl")


def test_compile_refuses_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = segal("compile", "examples/design_sketch.seg", "-o", str(blocker / "cfg.py"))
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_explain_and_schema():
    explained = segal("explain", "seg304")
    assert explained.returncode == 0 and "query-after-last-train" in explained.stdout
    assert segal("explain", "SEG999").returncode == 2
    schema = json.loads(segal("schema").stdout)  # the language a user writes (tests/test_lsp.py checks it more)
    sample = next(k for k in schema["blocks"]["experiment"]["keys"] if k["name"] == "sample")
    assert sample["required"] and [w["text"] for w in sample["words"]] == ["image", "pixel", "region", "superpixel"]


def test_run_without_a_valid_file_fails_cleanly():
    result = segal("run", "tests/fixtures/bad/SEG303_consecutive_queries.seg")
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr


def test_bash_completion_offers_subcommands_and_options(tmp_path):
    script = tmp_path / "c.sh"
    script.write_text(segal("completion", "bash").stdout)
    probe = (f'source {script}; COMP_WORDS=(segal pl); COMP_CWORD=1; _segal; echo "${{COMPREPLY[@]}}"; '
             'COMP_WORDS=(segal fmt --c); COMP_CWORD=2; _segal; echo "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True).stdout.splitlines()
    assert out == ["plan", "--check"]


def _bash_complete(script, words: list[str]) -> list[str]:
    probe = (f'source {script}; COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; '
             '_segal; printf "%s\\n" "${COMPREPLY[@]}"')
    return subprocess.run(["bash", "-c", probe], capture_output=True, text=True, cwd=ROOT).stdout.split()


def test_completion_is_per_command(tmp_path):
    script = tmp_path / "c.sh"
    script.write_text(segal("completion", "bash").stdout)
    assert _bash_complete(script, ["segal", "plan", "--format", ""]) == ["table", "json"]
    assert _bash_complete(script, ["segal", "check", "--format", ""]) == ["text", "concise", "json", "github"]
    assert _bash_complete(script, ["segal", "completion", ""]) == ["bash", "zsh", "fish"]
    assert _bash_complete(script, ["segal", "explain", "query-after-l"]) == ["query-after-last-train"]
    assert "--explain" in _bash_complete(script, ["segal", "plan", "--"])
    assert "--explain" not in _bash_complete(script, ["segal", "check", "--"])
    assert _bash_complete(script, ["segal", "import", "examples/toy_pix"]) == []  # import takes .py files


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (scripts/setup.sh installs it in CI)")
def test_fish_completion_in_a_real_fish(tmp_path):
    script = tmp_path / "segal.fish"
    script.write_text(segal("completion", "fish").stdout)

    def complete(line: str) -> list[str]:
        out = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {shlex.quote(line)}"],
                             capture_output=True, text=True, cwd=ROOT / "examples")
        assert out.returncode == 0, out.stderr
        return [row.split("\t")[0] for row in out.stdout.splitlines()]

    assert complete("segal plan --format ") == ["json", "table"]
    assert {"check", "plan", "compile", "fmt", "explain"} <= set(complete("segal "))
    assert complete("segal explain query-after-l") == ["query-after-last-train"]
    assert complete("segal check toy_p") == ["toy_pixel.seg"]
    assert "--strict" in complete("segal check --s")


def test_pre_commit_hooks_call_real_commands():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    entries = [line.split("entry:", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("entry:")]
    assert entries == ["segal check --format concise", "segal fmt --check"]
    for entry in entries:
        args = entry.split()[1:] + ["examples/pixelpick_cityscapes.seg"]
        assert segal(*args).returncode == 0, entry


def test_plan_explain_says_where_each_value_comes_from():
    done = segal("plan", "--explain", "examples/design_sketch.seg")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[-1] for line in done.stdout.splitlines()[1:] if line.count(" ") > 2}
    assert rows["source_free"].startswith("examples/dataset/gtav2cityscapes.py:")  # inherited, not overridden
    assert rows["active_learning.heuristic_cfg.categories"] == "examples/design_sketch.seg:14"
    assert rows["model.decode_head.num_classes"].startswith("examples/configs/_base_/models/deeplabv3plus_r50-d8.py")
    assert rows["active_learning.settings.pixel.ignore_index"] == "default"
    assert rows["optimizer.lr"] == "examples/design_sketch.seg:21"


def test_unread_bases_are_said_once_per_run(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.seg").write_text(
            f'experiment {name} {{\n base "missing.py"\n sample pixel {{ budget 1% per image }}\n heuristic entropy\n'
            ' schedule epochs { train 1; query; train 1 }\n}\n')
    done = segal("check", str(tmp_path / "a.seg"), str(tmp_path / "b.seg"))
    assert done.returncode == 0 and done.stdout == ""
    notes = [line for line in done.stderr.splitlines() if "SEG222" in line]
    assert len(notes) == 1 and "2 of 2 files" in notes[0] and "missing.py" in notes[0]


def test_a_bom_is_accepted_and_a_legacy_py_gets_the_import_hint(tmp_path):
    text = open(os.path.join(ROOT, "examples/design_sketch.seg"), encoding="utf-8").read()
    bom = tmp_path / "bom.seg"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "dataset").symlink_to(ROOT / "examples" / "dataset")
    (tmp_path / "configs").symlink_to(ROOT / "examples" / "configs")
    assert segal("check", str(bom)).returncode == 0
    legacy = segal("check", "--format", "concise", "tests/fixtures/legacy/SEG606_guide_spelling.py")
    assert legacy.returncode == 1
    assert legacy.stdout.splitlines() == [
        "tests/fixtures/legacy/SEG606_guide_spelling.py:1:1: error[SEG100] this is a Python config, not a .seg file"]
    full = segal("check", "tests/fixtures/legacy/SEG606_guide_spelling.py").stdout
    assert "help: convert it first: `segal import tests/fixtures/legacy/SEG606_guide_spelling.py -o" in full
