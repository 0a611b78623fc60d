"""What `segal run` shows while it runs: a live rich view on a terminal, one line per event elsewhere.

mmcv's logs (init dumps, one line per logging interval) go to the work dir's log file only; warnings and
errors stay on the console; `-v` puts the logs back on stderr. The console also keeps
the run record (workdir.RUN_FILE under the state dir: pid, host, steps, state) current, which `segal status` reads (segal_dsl/workdir.py).
No torch here: the runner calls in with plain numbers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from typing import Any, TextIO

from segal_dsl.workdir import RUN_FILE, STATE_DIR, read_json

from .labels import atomic_write_bytes


def duration(seconds: float) -> str:
    """12.3s, 4m05s, 2h03m: short enough for a table cell."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


class _ConsoleHandler(logging.Handler):
    """Warnings and errors of the mmcv/mmseg loggers, printed through the console (above the live view)."""

    def __init__(self, console: RunConsole):
        super().__init__(level=logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.note(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never stop the run
            self.handleError(record)


class RunConsole:
    """One run's console. `mode`: live (rich, a terminal), lines (not a terminal), verbose (lines + the
    mmcv logs on stderr), off (ranks other than 0: prints nothing, writes nothing)."""

    def __init__(self, work_dir: str, mode: str, stream: TextIO | None = None, clock=time.monotonic):
        self.work_dir, self.mode = work_dir, mode
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.record: dict[str, Any] = {}
        self.unit = "px"
        self.rows: list[dict[str, Any]] = []     # finished rounds, for the live table
        self.step_started = self.started
        self.total_iters = 0
        self._live = self._progress = self._run_task = self._task = None
        self._header: list[str] = []
        self._step_label = ""

    @classmethod
    def for_run(cls, work_dir: str, *, verbose: bool = False, rank: int = 0) -> RunConsole:
        if rank != 0:
            return cls(work_dir, "off")
        if verbose:
            return cls(work_dir, "verbose")
        return cls(work_dir, "live" if sys.stderr.isatty() and os.environ.get("TERM") != "dumb" else "lines")

    # ------------------------------------------------------------------ logs

    def route_logs(self, *loggers: logging.Logger) -> None:
        """Every logger writes the first one's log file; unless verbose, only warnings reach the console."""
        if self.mode == "off":
            return
        files = [h for lg in loggers for h in lg.handlers if isinstance(h, logging.FileHandler)]
        for lg in loggers:
            if files and not any(isinstance(h, logging.FileHandler) for h in lg.handlers):
                lg.addHandler(files[0])  # mmcv's init dump then goes to the file, not the console
            if self.mode == "verbose":
                continue
            for h in list(lg.handlers):
                if type(h) is logging.StreamHandler:
                    lg.removeHandler(h)
            lg.addHandler(_ConsoleHandler(self))
        self.log_file = files[0].baseFilename if files else None

    # ------------------------------------------------------------------ output

    def _line(self, text: str) -> None:
        if self.mode == "off":
            return
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A warning or error: always shown (above the live view when there is one)."""
        self._line(text)

    def _write_record(self, **changes) -> None:
        if self.mode == "off":
            return
        self.record.update(changes)
        path = os.path.join(self.work_dir, STATE_DIR, RUN_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_bytes(path, (json.dumps(self.record, indent=1, sort_keys=True) + "\n").encode())

    # ------------------------------------------------------------------ events

    def begin(self, *, experiment: str, steps: list[tuple[str, int]], unit: str, total_iters: int,
              heuristic: str, mode: str, seed: int, resume: str, done: int = 0) -> None:
        """The plan header, then the live view (or nothing more until the first event)."""
        self.unit = "images" if unit == "images" else "px"
        self.total_iters = total_iters
        rounds = len({r for _, r in steps})
        queries = sum(k == "query" for k, _ in steps)
        self._header = [f"segal run {experiment}: {rounds} rounds, {queries} quer{'y' if queries == 1 else 'ies'}, "
                        f"{mode} labels, "
                        f"heuristic {heuristic}, seed {seed}",
                        f"work dir {self.work_dir} (log {getattr(self, 'log_file', None) or '-'}; -v shows it here)"]
        if done:
            self._header.append(f"resuming at step {done + 1}/{len(steps)}")
        old = read_json(os.path.join(self.work_dir, STATE_DIR, RUN_FILE)) or {}
        self._write_record(experiment=experiment, steps=[list(s) for s in steps], unit=
                           "images" if unit == "images" else "pixels", state="running", pid=os.getpid(),
                           host=socket.gethostname(), resume=resume, error=None,
                           started=old.get("started") if done else time.time(),
                           timings=old.get("timings", []) if done else [])
        for line in self._header:
            self._line(line)
        if self.mode == "live":
            self._start_live()

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"),
                                  TimeRemainingColumn())
        self._run_task = self._progress.add_task("all training", total=self.total_iters or None)
        console = Console(file=self.stream, stderr=self.stream is sys.__stderr__)
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=4, transient=True,
                          redirect_stdout=True, redirect_stderr=True)
        self._live.start()

    def _table(self):
        from rich.table import Table

        t = Table(box=None, pad_edge=False, header_style="bold")
        for name, just in (("round", "right"), ("bought", "right"), (f"labelled ({self.unit})", "right"),
                           ("mIoU", "right"), ("time", "right")):
            t.add_column(name, justify=just)
        for row in self.rows:
            t.add_row(str(row["round"]), f"{row['added']:,}", f"{row['labelled']:,}", _pct(row.get("mIoU")),
                      duration(row["seconds"]))
        return t

    def _render(self):
        from rich.console import Group
        from rich.text import Text

        parts = [self._progress]
        if self.rows:
            parts.insert(0, self._table())
        parts.insert(0, Text(self._step_label, style="bold"))
        return Group(*parts)

    def step_start(self, kind: str, r: int, total: int) -> None:
        """A train step of round r (`total` iterations) or query r+1 (`total` batches of the pool)."""
        self.step_started = self.clock()
        self._step_label = (f"round {r}: training ({total} iterations)" if kind == "train"
                            else f"query {r + 1}: scoring the pool ({total} images)")
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(f"round {r} train" if kind == "train" else f"query {r + 1}",
                                                 total=total)
        elif self.mode in ("lines", "verbose"):
            self._line(f"round {r}: training {total} iterations" if kind == "train"
                       else f"query {r + 1}: scoring {total} images")

    def advance(self, kind: str = "train") -> None:
        if self._progress is None:
            return
        if self._task is not None:
            self._progress.advance(self._task)
        if kind == "train":
            self._progress.advance(self._run_task)

    def round_done(self, entry: dict[str, Any]) -> None:
        """A round's training and evaluation finished: one row of the table."""
        secs = self.clock() - self.step_started
        row = dict(entry, seconds=secs)
        self.rows.append(row)
        self._timing("train", entry["round"], secs)
        if self._live is None:
            self._line(f"round {entry['round']}: mIoU {_pct(entry.get('mIoU'))} with {entry['labelled']:,} "
                       f"{self.unit} labelled (+{entry['added']:,}), {duration(secs)}")

    def query_done(self, rnd: int, added: int, planned: int, labelled: int) -> None:
        secs = self.clock() - self.step_started
        self._timing("query", rnd, secs)
        if self._live is None:
            self._line(f"query {rnd}: +{added:,} {self.unit} (planned {planned:,}), {labelled:,} labelled, "
                       f"{duration(secs)}")

    def _timing(self, step: str, number: int, secs: float) -> None:
        """Seconds per step in run.json (not in report.json, which a resumed run reproduces bit for bit)."""
        if self.record:
            self._write_record(timings=[*self.record.get("timings", []),
                                        {"step": step, "number": number, "seconds": round(secs, 3)}])

    def finish(self, report_path: str) -> None:
        """Stop the live view, leave the round table on screen, mark the run finished in run.json."""
        self._stop_live(keep_table=True)
        scored = [r for r in self.rows if r.get("mIoU") is not None]
        best = max(scored, key=lambda r: r["mIoU"]) if scored else None
        tail = (f": best mIoU {_pct(best['mIoU'])} at round {best['round']} with {best['labelled']:,} {self.unit}"
                if best else "")
        self._line(f"finished in {duration(self.clock() - self.started)}{tail}; report {report_path}")
        self._write_record(state="finished", finished=time.time())

    def fail(self, error: str) -> None:
        self._stop_live(keep_table=False)
        if self.record:  # failed after begin(): status says so, and how to resume
            self._write_record(state="failed", error=error)

    def _stop_live(self, keep_table: bool) -> None:
        if self._live is None:
            return
        live, self._live = self._live, None
        live.stop()
        if keep_table and self.rows:
            live.console.print(self._table())

    def __enter__(self) -> RunConsole:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self._stop_live(keep_table=True)
            return
        self.fail("interrupted" if kind is KeyboardInterrupt else
                  (str(exc).splitlines() or [type(exc).__name__])[0])
