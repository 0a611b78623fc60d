"""The runner's resumable progress: which workflow steps are done, counters, the step checkpoint.

docs/reference.md §10: AL state was never checkpointed, so `resume_from` restarted the labels and the round
counter. Commit order makes resume exact: a train step writes its checkpoint, then progress.json; a
query writes the label state (its own commit point), then progress.json. On resume a label state
with more query records than progress.json knows means the query finished: it is not bought again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .labels import atomic_write_bytes

FILE = "progress.json"


@dataclass
class Progress:
    next_step: int = 0          # index into the flattened workflow of the first step not yet done
    seed: int | None = None
    epoch: int = 0              # runner counters (round-local when reset_each_round)
    iter: int = 0
    global_epoch: int = 0       # monotonic over the whole run: data-order seed, W&B step, ckpt names
    global_iter: int = 0
    max_epochs: int | None = None
    max_iters: int | None = None
    queries_done: int = 0
    checkpoint: str | None = None   # file name under the state dir, written at the end of a train step
    rounds: list[dict[str, Any]] = field(default_factory=list)   # report entries
    config_sha256: str | None = None

    def save(self, state_dir: str | os.PathLike) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"
        atomic_write_bytes(Path(state_dir) / FILE, text.encode(), kill_event="progress_save")

    @classmethod
    def load(cls, state_dir: str | os.PathLike) -> Progress | None:
        path = Path(state_dir) / FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise RuntimeError(f"{path}: unreadable progress file ({e}); restore it from a backup, or "
                               "start again without --resume in a new --work-dir") from e
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
