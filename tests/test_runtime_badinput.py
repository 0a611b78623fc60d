"""Bad input at run time: each failure is ONE `error:` line with the fix, exit code 1, no traceback
(unless SEGAL_DEBUG=1), and the label state saved before the failure still loads, unchanged.

Most cases resume a copy of one killed run (labels after query 1, SIGKILL in round 1's training) with
something broken. A full disk and a read-only work dir use a real tmpfs when the tests run as root
(`mount -t tmpfs`), else they are skipped; a full disk while the labels themselves are written is also
simulated in-process (os.fsync raising ENOSPC), which needs no privileges.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmseg")

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parent.parent

SEG = """experiment toy_bad {{
    extends "{root}/examples/toy_pixel.seg"
    schedule iters {{ train 3; query; train 3; query; train 2 }}
    delete visualize
{extra}}}
"""


def _env(base: Path, **extra) -> dict:
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT),
               SEGAL_TOY_DIR=str(base / "toy"))
    for k in ("SEGAL_TEST_KILL_AT", "SEGAL_DEBUG", "SEGAL_TEST_TRACE_DIR"):
        env.pop(k, None)
    env.update(extra)
    return env


def _seg(dir: Path, extra: str = "", name: str = "exp.seg") -> Path:
    p = dir / name
    p.write_text(SEG.format(root=ROOT, extra="".join(f"    {line}\n" for line in extra.splitlines())))
    return p


def _run(args, env, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segal_dsl.cli", "run", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(proc, *needles: str) -> str:
    assert proc.returncode == 1, f"rc {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


def _label_sha(wd: Path) -> str:
    """Loads the label state (sha256 verified) and returns its payload sha."""
    from segal_dsl.runtime.labels import LabelState

    LabelState.load(wd / "masks")
    return json.loads((wd / "masks" / "labels.json").read_text())["sha256"]


def _no_temp_files(wd: Path) -> None:
    assert [p for p in wd.rglob("*") if p.name.endswith(".tmp")] == []


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A run killed in round 1's training: labels of query 1 saved, step 0 checkpointed."""
    base = tmp_path_factory.mktemp("bad")
    wd = base / "killed"
    proc = _run([_seg(base), "--work-dir", wd], _env(base, SEGAL_TEST_KILL_AT="train_iter:4"), base)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert len(json.loads((wd / "masks" / "labels.json").read_text())["records"]) == 2
    return base, wd


def _copy(killed, dest: Path) -> tuple[Path, Path, str]:
    base, wd = killed
    shutil.copytree(wd, dest)
    return base, dest, _label_sha(dest)


# ----------------------------------------------------------------------------- data and checkpoints


def test_missing_data_dir(killed, tmp_path):
    base, wd, sha = _copy(killed, tmp_path / "wd")
    seg = _seg(tmp_path, 'mmseg { data.train.data_root = "/nonexistent/toy" }')
    proc = _run([seg, "--work-dir", wd, "--resume"], _env(base), tmp_path)
    _one_error_line(proc, "data.train.data_root not found: /nonexistent/toy", "fix:")
    assert _label_sha(wd) == sha


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_corrupt_load_from(killed, tmp_path, kind):
    base, wd, sha = _copy(killed, tmp_path / "wd")
    ckpt = tmp_path / "model.pth"
    if kind == "garbage":
        ckpt.write_bytes(b"this is not a checkpoint\n" * 10)
    else:
        real = (wd / "al_state" / "step_0.pth").read_bytes()
        ckpt.write_bytes(real[: len(real) // 2])
    seg = _seg(tmp_path, f'load_from "{ckpt}"')
    proc = _run([seg, "--work-dir", wd, "--resume"], _env(base), tmp_path)
    _one_error_line(proc, f"load_from {ckpt} is not a readable checkpoint", "fix:")
    assert _label_sha(wd) == sha
    if kind == "garbage":  # SEGAL_DEBUG=1 shows where it failed
        debug = _run([seg, "--work-dir", wd, "--resume"], _env(base, SEGAL_DEBUG="1"), tmp_path)
        assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_mismatched_load_from(killed, tmp_path):
    import torch

    base, wd, sha = _copy(killed, tmp_path / "wd")
    real = torch.load(wd / "al_state" / "step_0.pth", map_location="cpu", weights_only=False)["state_dict"]
    wrong = tmp_path / "other_model.pth"   # same names, every shape different: nothing would load
    torch.save({"state_dict": {k: torch.zeros(v.numel() + 1) for k, v in real.items()}}, wrong)
    alien = tmp_path / "alien.pth"         # another architecture's names
    torch.save({"state_dict": {"backbone.stem.conv.weight": torch.zeros(3, 3)}}, alien)
    for ckpt, needle in ((wrong, "has shape"), (alien, "no parameter name matches")):
        seg = _seg(tmp_path, f'load_from "{ckpt}"')
        proc = _run([seg, "--work-dir", wd, "--resume"], _env(base), tmp_path)
        _one_error_line(proc, f"load_from {ckpt} does not match the model", needle, "fix:")
    assert _label_sha(wd) == sha


def test_corrupt_resume_checkpoint(killed, tmp_path):
    base, wd, sha = _copy(killed, tmp_path / "wd")
    (wd / "al_state" / "step_0.pth").write_bytes(b"\0" * 100)
    proc = _run([_seg(tmp_path), "--work-dir", wd, "--resume"], _env(base), tmp_path)
    _one_error_line(proc, "cannot resume", "step_0.pth is unreadable", "label state", "intact")
    assert _label_sha(wd) == sha


# ----------------------------------------------------------------------------- disk


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(dir: Path) -> Path:
    """Fill the file system of `dir` to the last byte."""
    filler = dir / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 16, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def test_full_disk_on_tmpfs(killed, tmp_path):
    mnt = tmp_path / "mnt"
    if not _mount_tmpfs(mnt, "4m"):
        pytest.skip("needs root to mount a tmpfs (the in-process ENOSPC test covers a full disk)")
    try:
        base, wd, sha = _copy(killed, mnt / "wd")
        seg = _seg(tmp_path)
        filler = _fill(mnt)
        proc = _run([seg, "--work-dir", wd, "--resume"], _env(base), tmp_path)
        _one_error_line(proc, "no space left on the device", "--resume")
        assert _label_sha(wd) == sha
        _no_temp_files(wd)
        filler.unlink()  # space again: the same command finishes the run
        proc = _run([seg, "--work-dir", wd, "--resume"], _env(base), tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert [r["round"] for r in json.loads((wd / "masks" / "labels.json").read_text())["records"]] == [0, 1, 2]
        _no_temp_files(wd)
    finally:
        _umount(mnt)


def test_full_disk_while_saving_labels_in_process(killed, tmp_path, monkeypatch, capsys):
    """ENOSPC exactly when query 2's labels are written: the query-1 state stays the committed one."""
    from segal_dsl.runtime.launch import run_experiment

    base, wd, sha = _copy(killed, tmp_path / "wd")
    monkeypatch.setattr(logging, "raiseExceptions", logging.raiseExceptions)  # run_experiment changes it
    for k, v in _env(base).items():
        if k.startswith(("SEGAL", "WANDB")):
            monkeypatch.setenv(k, v)
    real_fsync, hits = os.fsync, []

    def fsync(fd):
        if "/masks/" in os.readlink(f"/proc/self/fd/{fd}"):
            hits.append(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc to tell the label files apart")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.chdir(tmp_path)
    assert run_experiment(str(_seg(tmp_path)), work_dir=str(wd), resume=True) == 1
    assert hits, "the label save was reached"
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left on the device" in errors[0], err[-2000:]
    assert "Traceback" not in err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _label_sha(wd) == sha
    _no_temp_files(wd)


def test_read_only_work_dir(killed, tmp_path):
    mnt = tmp_path / "mnt"
    if not _mount_tmpfs(mnt, "8m"):
        if os.geteuid() == 0:
            pytest.skip("root without mount: permissions cannot make a dir unwritable")
        base, wd, sha = _copy(killed, tmp_path / "wd")
        for p in [wd, *wd.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    else:
        base, wd, sha = _copy(killed, mnt / "wd")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    try:
        proc = _run([_seg(tmp_path), "--work-dir", wd, "--resume"], _env(base), tmp_path)
        _one_error_line(proc, "cannot write", "--work-dir")
        assert _label_sha(wd) == sha
    finally:
        if mnt.is_mount():
            _umount(mnt)
        else:
            for p in [wd, *wd.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)


def test_work_dir_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = _run([_seg(tmp_path), "--work-dir", tmp_path / "file" / "wd"], _env(tmp_path), tmp_path)
    _one_error_line(proc, "--work-dir")


# ----------------------------------------------------------------------------- wandb


WANDB_LOG = 'log every 8 iters { text; wandb { project "segal-test"; name "bad" } }'


@pytest.mark.parametrize("case", ["no_login", "unreachable"])
def test_wandb_online_without_network_falls_back_offline(tmp_path, case):
    pytest.importorskip("wandb")
    home = tmp_path / "home"
    home.mkdir()
    extra = dict(WANDB_MODE="online", HOME=str(home), WANDB_DIR=str(tmp_path / "wb"), WANDB_SILENT="true")
    (tmp_path / "wb").mkdir()
    if case == "unreachable":  # a key, but the server refuses connections: must not wait wandb's 90 s
        extra.update(WANDB_API_KEY="0" * 40, WANDB_BASE_URL="http://127.0.0.1:9", WANDB_INIT_TIMEOUT="3")
    env = _env(tmp_path, **extra)
    env.pop("WANDB_API_KEY", None) if case == "no_login" else None
    wd = tmp_path / "wd"
    proc = _run([_seg(tmp_path, WANDB_LOG), "--work-dir", wd], env, tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    warn = [line for line in proc.stderr.splitlines() if "wandb: cannot start an online run" in line]
    assert len(warn) == 1, proc.stderr[-3000:]
    assert "logging offline" in warn[0]
    assert list((tmp_path / "wb" / "wandb").glob("offline-run-*")), "the metrics went to an offline run"
    assert [r["round"] for r in json.loads((wd / "masks" / "labels.json").read_text())["records"]] == [0, 1, 2]


def test_wandb_failing_mid_run_is_disabled_not_fatal():
    """A wandb that dies after init (log raises): one warning, then W&B is off; training goes on."""
    from segal_dsl.runtime.hooks import WandbLoggerHookWithVal

    class Broken:
        def log(self, *a, **k):
            raise ConnectionError("wandb service died")

    class Logger:
        def __init__(self):
            self.lines = []

        def warning(self, fmt, *args):
            self.lines.append(fmt % args)

    class Runner:
        rank, global_iter, iter = 0, 5, 5
        logger = Logger()

    hook = WandbLoggerHookWithVal(init_kwargs={})
    hook.wandb = Broken()
    hook.log_al(Runner(), {"round": 1, "labelled": 10})
    hook.log_al(Runner(), {"round": 2, "labelled": 20})   # already off: no second warning
    hook.after_run(Runner())
    assert len(Runner.logger.lines) == 1 and "logging disabled" in Runner.logger.lines[0]
