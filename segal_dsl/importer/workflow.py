"""A legacy `workflow` (regular or irregular form) -> rounds, and rounds -> a compact schedule. SEG603/604/607.

The expansion is the reference's (docs/reference.md §2a), written once in `segal_dsl/spec/schedule.py`:
the form is decided by `workflow[0]` only; the regular form repeats the list `sample_rounds - 1` times and
ends with a round of `('train', workflow[0][1])`. A `warmup_only` run forces `sample_rounds` to 1.
"""

from __future__ import annotations

from typing import Any

from segal_dsl.diagnostics import Severity
from segal_dsl.pyconfig.evaluate import UNKNOWN, is_number
from segal_dsl.spec.schedule import is_irregular
from segal_dsl.spec.schedule import is_step


def _text(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"


def workflow_rounds(m, runner: dict) -> list[tuple[int, bool]]:
    """The rounds `(train length, ends with a query)` the reference would run; reports what it would not."""
    from segal_dsl.importer.mapping import Stop

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
    irregular = is_irregular(wf)
    rounds: list[tuple[list, tuple]] = []  # (steps, path of the round)
    if irregular:
        for i, r in enumerate(wf):
            if isinstance(r, (tuple, list)) and r and all(is_step(e) for e in r):
                rounds.append((list(r), ("workflow", i)))
            elif is_step(r):
                when = ("after every earlier round trained" if i == len(wf) - 1 else "")
                m.d.add("SEG603", f"workflow round {i + 1} `{_text(r)}` is a single step, not a round: the reference fails "
                        f"with ValueError when it starts{', ' + when if when else ''}", m.span("workflow", i),
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
    else:
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
        k = wf[0][1]
        rounds = [(list(wf), ("workflow",)) for _ in range(sample_rounds - 1)]
        rounds.append(([("train", k)], ("workflow", 0)))
        queries = sum(1 for step in wf if step[0] == "query" and step[1]) * (sample_rounds - 1)
        # The regular form always compiles to the irregular one, and `sample_rounds` to the query count.
        m.dropped.update({("workflow",), ("runner", "sample_rounds")})
        m.d.add("SEG604", f"regular workflow with `sample_rounds={sample_rounds}`: {sample_rounds} training rounds "
                f"and {queries} queries (the guide reads `sample_rounds` as the number of queries)",
                m.span("runner", "sample_rounds"), severity=Severity.NOTE,
                help=f"imported as the reference runs it; for {sample_rounds} queries write `train {k} x{sample_rounds}; "
                f"train {k}` in the .seg file")
    out: list[tuple[int, bool]] = []
    current = 0
    for steps, path in rounds:
        for j, (mode, n) in enumerate(steps):
            where = (*path, j) if len(path) == 2 else path
            if not is_number(n) or (isinstance(n, float) and not n.is_integer()):
                m.d.add("SEG607", f"`{_text((mode, n))}`: the count must be a whole number", m.span(*where),
                        help="write `('train', 5)`")
                raise Stop
            n = int(n)
            if mode == "train":
                current += n
            elif mode == "query" and n == 0:
                continue
            elif mode == "query" and n == 1:
                out.append((current, True))
                current = 0
            elif mode == "query":
                m.d.add("SEG607", f"`('query', {n})` buys {n} budgets from one model in a row", m.span(*where),
                        help="query once per round and raise the budget instead")
                raise Stop
            elif mode == "val":
                m.d.add("SEG607", "`('val', k)` steps crash the reference with mask pipelines and have no .seg form",
                        m.span(*where), help="remove them; every round ends with an evaluation on `data.val` anyway")
                raise Stop
            else:
                m.d.add("SEG607", f"unknown workflow mode `{mode}`", m.span(*where), help="modes: `train`, `query`")
                raise Stop
    if current or not out:
        out.append((current, False))
    return out


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
