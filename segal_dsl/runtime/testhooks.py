"""Test-only hooks, inert unless their environment variable is set (docs/runtime.md, "Test hooks").

SEGAL_TEST_KILL_AT=<event>:<n>   SIGKILL this process at the n-th (1-based) occurrence of <event>.
    Events: train_iter (after an iteration), query_image (after an image is scored), step_checkpoint
    (step_k.pth.tmp written, not yet renamed), label_save_payload (payload temp file written, not
    renamed), label_save_manifest (payload in place, manifest temp written, not renamed),
    label_saved (manifest committed, progress.json not yet), progress_save (progress temp written,
    not renamed). tests/test_runtime_crash.py kills `segal run` at each of them and resumes.
SEGAL_TEST_TRACE_DIR=<dir>       every rank appends `{"event", "rank", ...}` JSON lines to
    <dir>/rank<r>.jsonl (the distributed test compares each rank's label digest per query).
"""

from __future__ import annotations

import json
import os
import signal

_counts: dict[str, int] = {}


def kill_point(event: str) -> None:
    """SIGKILL ourselves at the configured occurrence of `event`; a no-op when the variable is unset."""
    spec = os.environ.get("SEGAL_TEST_KILL_AT")
    if not spec:
        return
    name, _, n = spec.partition(":")
    if name != event:
        return
    _counts[event] = _counts.get(event, 0) + 1
    if _counts[event] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def trace(event: str, **fields) -> None:
    """Append one JSON line for this rank to $SEGAL_TEST_TRACE_DIR/rank<r>.jsonl; no-op when unset."""
    out = os.environ.get("SEGAL_TEST_TRACE_DIR")
    if not out:
        return
    rank = int(os.environ.get("RANK", 0))
    with open(os.path.join(out, f"rank{rank}.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps(dict(event=event, rank=rank, **fields), sort_keys=True) + "\n")
