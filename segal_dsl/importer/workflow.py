"""A legacy `workflow` (regular or irregular form) -> rounds, and rounds -> a compact schedule. SEG603/604/607.

The expansion is the reference's (docs/reference.md §2a), written once in `segal_dsl/spec/schedule.py`:
the form is decided by `workflow[0]` only; the regular form repeats the list `sample_rounds - 1` times and
ends with a round of `('train', workflow[0][1])`. A `warmup_only` run forces `sample_rounds` to 1.
"""

from __future__ import annotations

from typing import Any

from segal_dsl.diagnostics import Severity
from segal_dsl.pyconfig.evaluate import UNKNOWN, is_number
from segal_dsl.spec.schedule import is_irregular, is_step, reference_rounds, rounds_of_steps


class Stop(Exception):
    """An error that makes the rest of the mapping meaningless (already reported)."""


def _text(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"


def workflow_rounds(m, runner: dict) -> list[tuple[int, bool]]:
    """The rounds `(train length, ends with a query)` the reference would run; reports what it would not."""
    wf = m.effective("workflow")
    if wf is UNKNOWN:
        raise Stop
    if not isinstance(wf, (list, tuple)) or not wf:
        m.d.add("SEG607", "`workflow` must be a non-empty list", m.span("workflow"),
                help="write `[('train', 5), ('query', 1)]` or `[(('train', 5), ('query', 1)), (('train', 5),)]`")
        raise Stop
    sample_rounds = runner.get("sample_rounds")
    if runner.get("warmup_only") is True:
        sample_rounds = 1  # the reference sets it so for an MAE-only run, whatever the config says
        m.dropped.add(("runner", "sample_rounds"))
    rounds = _irregular(m, wf, sample_rounds) if is_irregular(wf) else _regular(m, wf, sample_rounds)
    steps = []
    for round_steps, path in rounds:
        for j, (mode, n) in enumerate(round_steps):
            step = _step(m, mode, n, (*path, j) if len(path) == 2 else path)
            if step is not None:
                steps.append(step)
    return [(r.train, r.query) for r in rounds_of_steps(steps)]


def _irregular(m, wf: list, sample_rounds: Any) -> list[tuple[list, tuple]]:
    rounds: list[tuple[list, tuple]] = []  # (steps, path of the round)
    for i, r in enumerate(wf):
        if isinstance(r, (tuple, list)) and r and all(is_step(e) for e in r):
            rounds.append((list(r), ("workflow", i)))
        elif is_step(r):
            when = ("after every earlier round trained" if i == len(wf) - 1 else "")
            m.d.add("SEG603", f"workflow round {i + 1} `{_text(r)}` is a single step, not a round: the reference "
                    f"fails with ValueError when it starts{', ' + when if when else ''}", m.span("workflow", i),
                    label="missing trailing comma", help=f"imported as a round; in the legacy config write "
                    f"`(({r[0]!r}, {r[1]!r}),)` (the trailing comma makes it a one-step round)")
            rounds.append(([r], ("workflow", i)))
            m.dropped.add(("workflow",))
        else:
            m.d.add("SEG607", f"workflow round {i + 1} `{_text(r)}` is not a tuple of `(mode, n)` steps",
                    m.span("workflow", i), help="write each round as `(('train', n), ('query', 1))`")
            raise Stop
    if not isinstance(sample_rounds, int) or isinstance(sample_rounds, bool):
        m.dropped.add(("runner", "sample_rounds"))
        m.d.add("SEG604", "`runner.sample_rounds` is missing: the reference fails with AttributeError before "
                "training", m.span("runner"), help=f"imported from the workflow: {len(wf)} rounds")
    elif len(wf) != sample_rounds + 1:
        m.dropped.add(("runner", "sample_rounds"))
        m.d.add("SEG604", f"`sample_rounds={sample_rounds}` but the workflow has {len(wf)} rounds: the reference "
                "asserts `len(workflow) == sample_rounds + 1` and stops before training",
                m.span("runner", "sample_rounds"), label=f"the workflow needs {len(wf) - 1}",
                help=f"imported as the workflow reads ({len(wf)} rounds); check the schedule with `segal plan`")
    return rounds


def _regular(m, wf: list, sample_rounds: Any) -> list[tuple[list, tuple]]:
    for j, step in enumerate(wf):
        if not is_step(step):
            m.d.add("SEG607", f"workflow step `{_text(step)}` is not a `(mode, n)` pair", m.span("workflow", j),
                    help="the regular form is `[('train', K), ('query', 1)]`")
            raise Stop
    if not isinstance(sample_rounds, int) or isinstance(sample_rounds, bool) or sample_rounds < 1:
        m.d.add("SEG608", "a regular workflow needs `runner.sample_rounds` (a positive int)", m.span("runner"),
                help="the number of training rounds; the reference repeats the workflow that many times")
        raise Stop
    if wf[0][0] != "train":
        m.d.add("SEG607", "a regular workflow must start with `('train', K)`", m.span("workflow", 0),
                help="the reference asserts it")
        raise Stop
    expanded = reference_rounds(list(wf), sample_rounds)
    rounds = [(list(r.steps), ("workflow",) if i < len(expanded) - 1 else ("workflow", 0))
              for i, r in enumerate(expanded)]
    queries = sum(1 for step in wf if step[0] == "query" and step[1]) * (sample_rounds - 1)
    k = wf[0][1]
    # The regular form always compiles to the irregular one, and `sample_rounds` to the query count.
    m.dropped.update({("workflow",), ("runner", "sample_rounds")})
    m.d.add("SEG604", f"regular workflow with `sample_rounds={sample_rounds}`: {sample_rounds} training rounds "
            f"and {queries} queries (the guide reads `sample_rounds` as the number of queries)",
            m.span("runner", "sample_rounds"), severity=Severity.NOTE,
            help=f"imported as the reference runs it; for {sample_rounds} queries write `train {k} x{sample_rounds}; "
            f"train {k}` in the .seg file")
    return rounds


def _step(m, mode: Any, n: Any, where: tuple) -> tuple[str, int] | None:
    """One legacy step as a schedule step ("train", n) / ("query", 0); None for ('query', 0), which runs nothing."""
    if not is_number(n) or (isinstance(n, float) and not n.is_integer()):
        m.d.add("SEG607", f"`{_text((mode, n))}`: the count must be a whole number", m.span(*where),
                help="write `('train', 5)`")
        raise Stop
    n = int(n)
    if mode == "train":
        return ("train", n)
    if mode == "query" and n in (0, 1):
        return ("query", 0) if n else None
    if mode == "query":
        m.d.add("SEG607", f"`('query', {n})` buys {n} budgets from one model in a row", m.span(*where),
                help="query once per round and raise the budget instead")
    elif mode == "val":
        m.d.add("SEG607", "`('val', k)` steps crash the reference with mask pipelines and have no .seg form",
                m.span(*where), help="remove them; every round ends with an evaluation on `data.val` anyway")
    else:
        m.d.add("SEG607", f"unknown workflow mode `{mode}`", m.span(*where), help="modes: `train`, `query`")
    raise Stop


def write_schedule(rounds: list[tuple[int, bool]], warmup: int = 0) -> str:
    """Rounds as compact steps: equal consecutive rounds with a query become `train N xK`."""
    parts = [f"warmup {warmup}"] if warmup else []
    i = 0
    while i < len(rounds):
        length, query = rounds[i]
        if query and not length:  # a round that only queries (it can only be the first)
            parts.append("query")
            i += 1
            continue
        if not query:
            parts.append(f"train {length}")
            i += 1
            continue
        j = i
        while j < len(rounds) and rounds[j] == (length, True):
            j += 1
        parts.append(f"train {length} x{j - i}" if j - i > 1 else f"train {length}; query")
        i = j
    return "; ".join(parts)
