"""Schedule and round semantics: steps -> rounds -> the compiled `workflow`, and back.

A round trains for a number of epochs (or iterations) and then, except possibly the last, runs one query;
the first round may be a query alone (it scores with the starting weights, e.g. `load_from`).
Consecutive `train` steps merge into one round; a `query` ends the round. The compiled config keeps the
rounds as the reference's *irregular* workflow, one tuple per round, and `runner.sample_rounds` = the
number of queries. A query after the last training (SEG304) is a warning, not an error: the run buys
those labels, records them in the report, and never trains on them; the runtime accepts such a workflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

UNITS: tuple[str, ...] = ("epochs", "iters")  # what a schedule's (and an `every N`'s) counts count
UNIT_WORDS: dict[str, str] = {"epoch": "epochs", "epochs": "epochs", "iter": "iters", "iters": "iters",
                              "iteration": "iters", "iterations": "iters"}  # the words a `.seg` file may write
MODES: tuple[str, ...] = ("train", "query")  # the step modes a compiled workflow holds
OPTIONAL_RUNNER_KEYS: tuple[str, ...] = ("schedule_unit", "warmup_only")  # written by runner_keys() unless default
# The most steps a written schedule may unroll into (SEG320): real schedules have tens of rounds, and
# `(train 1; query) x100000000` must be refused before it is built, not after minutes and gigabytes.
MAX_STEPS = 10_000


@dataclass(frozen=True)
class Round:
    """One round: `train` epochs (or iterations), then one query when `query`."""

    train: int
    query: bool


@dataclass(frozen=True)
class Schedule:
    """What a schedule means once expanded: its unit, its rounds, and the multitask runner's MAE warm-up.

    `warmup_only` is an MAE-only run (the reference's `runner.warmup_only`): one round of `warmup` length,
    no query, `rounds` empty.
    """

    unit: str
    rounds: tuple[Round, ...]
    warmup: int = 0
    warmup_only: bool = False

    @property
    def queries(self) -> int:
        return sum(r.query for r in self.rounds)

    @property
    def trained_rounds(self) -> tuple[Round, ...]:
        """The rounds a runner trains: an MAE-only run is one round of its warm-up length."""
        return (Round(self.warmup, False),) if self.warmup_only else self.rounds

    @property
    def warmup_before_rounds(self) -> int:
        """MAE warm-up before the first round (none in an MAE-only run: the warm-up is the round)."""
        return 0 if self.warmup_only else self.warmup

    def workflow(self) -> list[tuple]:
        """The compiled `workflow`: one tuple per round (a one-step round keeps its trailing comma). A round
        that only queries (a schedule that starts with `query`) is `(('query', 1),)`, as the reference wrote it.
        An MAE-only run is `[('train', N)]`, the reference's own form: it forces `sample_rounds` to 1 and
        expands that to one round, and refuses a one-round irregular workflow (docs/reference.md §2a)."""
        if self.warmup_only:
            return [("train", self.warmup)]
        return [((("train", r.train),) if r.train or not r.query else ()) + ((("query", 1),) if r.query else ())
                for r in self.rounds]

    def runner_keys(self) -> dict[str, Any]:
        """The `runner` entries that the schedule decides."""
        keys: dict[str, Any] = {"sample_rounds": self.queries}
        if self.unit != UNITS[0]:
            keys["schedule_unit"] = self.unit
        if self.warmup_only:
            keys["warmup_only"] = True
        return keys


def rounds_of_steps(steps: Iterable[tuple[str, int]]) -> list[Round]:
    """Flat ("train", n) / ("query", 0) steps -> rounds: trains merge; a query closes the round."""
    rounds: list[Round] = []
    current, open_round = 0, False
    for kind, length in steps:
        if kind == "train":
            current += length
            open_round = True
        else:
            rounds.append(Round(current, True))
            current, open_round = 0, False
    if open_round or not rounds:
        rounds.append(Round(current, False))
    return rounds


def place_queries(steps: Sequence[tuple[str, int]], positions: Sequence[int],
                  start: int = 0) -> list[tuple[str, int, int]]:
    """`query at P, …`: a query at each absolute position P of the training, splitting the `train` step P falls
    in: `train 20; query at 10, 12` is `train 10; query; train 2; query; train 8` (RIPU's `SELECT_ITER`).

    Positions count like the plan's `at` column, from `start` (the end of an MAE warm-up). Returns
    (kind, length, origin) steps: origin is the index of the step it comes from, or -1-j for `positions[j]`.
    A position before `start` or after the last training is left out (the caller reports it)."""
    queue = sorted((p, -1 - j) for j, p in enumerate(positions) if p >= start)
    out: list[tuple[str, int, int]] = []
    pos, q = start, 0
    for i, (kind, length) in enumerate(steps):
        if kind == "train":
            end = pos + length
            while q < len(queue) and queue[q][0] < end:
                if queue[q][0] > pos:
                    out.append(("train", queue[q][0] - pos, i))
                    pos = queue[q][0]
                out.append(("query", 0, queue[q][1]))
                q += 1
            if end > pos:
                out.append(("train", end - pos, i))
            pos = max(pos, end)
            continue
        while q < len(queue) and queue[q][0] <= pos:
            out.append(("query", 0, queue[q][1]))
            q += 1
        out.append((kind, length, i))
    out += [("query", 0, origin) for p, origin in queue[q:] if p <= pos]
    return out


def iters_per_epoch(images: int, batch: int, world: int = 1) -> int:
    """Iterations of one epoch over `images` train images, `batch` per GPU on `world` GPUs: the loader drops
    the last partial batch (as mmseg's does), unless a rank holds less than one batch (then it yields one)."""
    per_rank = -(-images // world) if images else 0
    if per_rank >= batch:
        return per_rank // batch
    return 1 if per_rank else 0


def reset_before(round_index: int, reset_each_round: bool) -> bool:
    """Whether weights, optimizer state and LR schedule restart before round `round_index` (0-based)."""
    return bool(reset_each_round) and round_index > 0


class WorkflowError(ValueError):
    """The workflow cannot be run; raised before any training (the reference failed mid-run)."""


def read_workflow(workflow: Any, sample_rounds: Any = None) -> list[Round]:
    """The compiled workflow -> rounds, checked up front: one `(('train', N), ('query', 1))` tuple per round.

    The reference checked each round's shape only when the round started (a missing trailing comma
    crashed after hours of training) and silently accepted ('query', 2) or 'val' steps (docs/reference.md §2).
    """
    if not isinstance(workflow, (list, tuple)) or not workflow:
        raise WorkflowError("workflow must be a non-empty list of rounds")
    rounds: list[Round] = []
    for r, rnd in enumerate(workflow):
        where = f"workflow round {r} {rnd!r}"
        if not isinstance(rnd, (list, tuple)) or not rnd or not all(
                isinstance(s, (list, tuple)) and len(s) == 2 for s in rnd):
            raise WorkflowError(f"{where}: expected a tuple of (mode, count) steps; a one-step round needs a "
                                "trailing comma: (('train', 14),)")
        for mode, n in rnd:
            if mode not in MODES:
                hint = " (periodic validation is the `evaluation` key)" if mode == "val" else ""
                raise WorkflowError(f"{where}: unknown step {mode!r}{hint}")
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise WorkflowError(f"{where}: ({mode!r}, {n!r}) needs a positive int count")
        modes = [m for m, _ in rnd]
        if modes not in (["train"], ["train", "query"], ["query"]) or (modes == ["query"] and r > 0):
            raise WorkflowError(f"{where}: a round is ('train', N) optionally followed by ('query', 1) (only the "
                                "first round may be a query alone)")
        query = rnd[-1] if modes[-1] == "query" else None
        if query is not None and query[1] != 1:
            raise WorkflowError(f"{where}: ('query', {query[1]}) would buy {query[1]} budgets back to back")
        rounds.append(Round(int(rnd[0][1]) if modes[0] == "train" else 0, query is not None))
    queries = sum(r.query for r in rounds)
    if sample_rounds is not None and (isinstance(sample_rounds, bool) or sample_rounds != queries):
        raise WorkflowError(f"runner.sample_rounds={sample_rounds!r} but the workflow has {queries} queries")
    return rounds


def read_schedule(workflow: Any, sample_rounds: Any, unit: str, warmup: int, warmup_only: bool) -> Schedule:
    """The schedule of a compiled config (its `workflow`, `runner.sample_rounds`, `runner.schedule_unit`,
    `mae_warmup_epochs`, `runner.warmup_only`); WorkflowError when it cannot run.

    An MAE-only run's workflow is `[('train', N)]` (as compiled: the reference's form) or `[(('train', N),)]`
    (as compiled before)."""
    if not warmup_only:
        return Schedule(unit, tuple(read_workflow(workflow, sample_rounds)), warmup, False)
    if warmup:
        raise WorkflowError("runner.warmup_only takes no mae_warmup_epochs: the workflow is the warm-up")
    if isinstance(workflow, (list, tuple)) and len(workflow) == 1 and is_step(workflow[0]):
        workflow = [(workflow[0],)]
    rounds = read_workflow(workflow)
    if len(rounds) != 1 or rounds[0].query:
        raise WorkflowError("runner.warmup_only needs a workflow of one training step: [('train', N)]")
    return Schedule(unit, (), rounds[0].train, True)


# ---- the reference's expansion (for the importer, and for tests against the reference) ------------------
@dataclass(frozen=True)
class ReferenceRound:
    """One round as the reference runs it: its (mode, count) steps and where `workflow` writes them."""

    steps: tuple[tuple[Any, Any], ...]
    path: tuple[int, ...]   # (i,): round i of an irregular workflow; (): the regular workflow's list
    bare: bool = False      # an irregular round written as a bare step: the reference crashes when it starts


def is_step(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str)


def is_irregular(workflow: Any) -> bool:
    """The reference decides the form from `workflow[0]` only: a tuple of tuples is the irregular form."""
    first = workflow[0] if isinstance(workflow, (list, tuple)) and workflow else None
    return isinstance(first, tuple) and all(isinstance(e, tuple) for e in first)


def reference_rounds(workflow: list, sample_rounds: int) -> list[ReferenceRound]:
    """Expand a workflow as the reference does (docs/reference.md §2a). Irregular: as written, one round
    per outer tuple. Regular: `sample_rounds - 1` copies of the whole list, then `(('train', K),)` with
    K = workflow[0][1] (its last query is trimmed). Shapes are not checked here; see `merge_reference`."""
    if is_irregular(workflow):
        return [ReferenceRound((r,), (i,), bare=True) if is_step(r) else ReferenceRound(tuple(r), (i,))
                for i, r in enumerate(workflow)]
    out = [ReferenceRound(tuple(workflow), ()) for _ in range(sample_rounds - 1)]
    out.append(ReferenceRound((("train", workflow[0][1]),), ()))
    return out


def merge_reference(rounds: list[ReferenceRound]) -> list[Round]:
    """Reference rounds of ('train', n) / ('query', 0 or 1) steps -> rounds as `segal plan` shows them.

    ('query', 0) runs no query; other modes and counts must be rejected by the caller first.
    """
    steps: list[tuple[str, int]] = []
    for rnd in rounds:
        for mode, n in rnd.steps:
            if mode == "train":
                steps.append(("train", int(n)))
            elif mode == "query" and n:
                steps.append(("query", 0))
    return rounds_of_steps(steps)
