"""spec/schedule.py: steps -> rounds -> workflow and back; the runtime's up-front workflow check."""

import pytest

from segal_dsl.spec.schedule import (
    Round,
    Schedule,
    WorkflowError,
    iters_per_epoch,
    merge_reference,
    place_queries,
    read_schedule,
    read_workflow,
    reference_rounds,
    reset_before,
    rounds_of_steps,
)


def test_trains_merge_and_a_query_closes_the_round():
    steps = [("train", 2), ("train", 3), ("query", 0), ("train", 4), ("query", 0), ("train", 1)]
    assert rounds_of_steps(steps) == [Round(5, True), Round(4, True), Round(1, False)]
    assert rounds_of_steps([("train", 3), ("query", 0)]) == [Round(3, True)]  # SEG304: a final query
    assert rounds_of_steps([]) == [Round(0, False)]


def test_workflow_keeps_the_trailing_comma_and_sample_rounds_counts_queries():
    sched = Schedule("epochs", (Round(10, True), Round(2, True), Round(14, False)))
    assert sched.workflow() == [(("train", 10), ("query", 1)), (("train", 2), ("query", 1)), (("train", 14),)]
    assert sched.runner_keys() == {"sample_rounds": 2}
    assert read_workflow(sched.workflow(), 2) == list(sched.rounds)
    final_query = Schedule("iters", (Round(10, True), Round(2, True)))
    assert final_query.runner_keys() == {"sample_rounds": 2, "schedule_unit": "iters"}
    assert read_workflow(final_query.workflow(), 2) == list(final_query.rounds)  # SEG304 runs
    mae = Schedule("epochs", (), 7, True)
    # An MAE-only run in the reference's own form (it refuses a one-round irregular workflow there).
    assert mae.workflow() == [("train", 7)] and mae.runner_keys() == {"sample_rounds": 0, "warmup_only": True}
    assert read_schedule(mae.workflow(), 0, "epochs", 0, True) == mae
    assert read_schedule([(("train", 7),)], 0, "epochs", 0, True) == mae  # as compiled before
    with pytest.raises(WorkflowError, match="one training step"):
        read_schedule([(("train", 7), ("query", 1))], 1, "epochs", 0, True)


@pytest.mark.parametrize("workflow, match", [
    ([(("train", 2), ("query", 1)), ("train", 14)], "trailing comma"),
    ([(("train", 2), ("query", 2)), (("train", 1),)], "back to back"),
    ([(("train", 2), ("val", 1)), (("train", 1),)], "evaluation"),
    ([(("train", 0), ("query", 1)), (("train", 1),)], "positive int"),
    ([(("query", 1), ("train", 2)), (("train", 1),)], "optionally followed"),
    ([], "non-empty"),
])
def test_workflow_validated_up_front(workflow, match):
    with pytest.raises(WorkflowError, match=match):
        read_workflow(workflow, None)


def test_sample_rounds_must_match_queries():
    workflow = [(("train", 2), ("query", 1)), (("train", 1),)]
    with pytest.raises(WorkflowError, match="sample_rounds=3"):
        read_workflow(workflow, 3)
    with pytest.raises(WorkflowError, match="sample_rounds=True"):
        read_workflow(workflow, True)


def test_reference_expansion_regular_and_irregular():
    regular = reference_rounds([("train", 4), ("query", 1)], 3)  # 3 training rounds, 2 queries
    assert [r.steps for r in regular] == [(("train", 4), ("query", 1))] * 2 + [(("train", 4),)]
    assert merge_reference(regular) == [Round(4, True), Round(4, True), Round(4, False)]
    irregular = reference_rounds([(("train", 5), ("query", 1)), ("train", 8)], 1)
    assert irregular[1].bare and irregular[1].path == (1,)
    assert merge_reference(irregular) == [Round(5, True), Round(8, False)]
    assert merge_reference(reference_rounds([(("train", 2), ("query", 0)), (("train", 3),)], 1)) == [Round(5, False)]


def test_resets_start_with_the_second_round():
    assert [reset_before(i, True) for i in range(3)] == [False, True, True]
    assert not any(reset_before(i, False) for i in range(3))


# ---- `query at`: absolute positions ---------------------------------------------------------------------
def _steps(placed):
    return [(kind, length) for kind, length, _ in placed]


def test_query_at_splits_the_train_steps():
    placed = place_queries([("train", 20000)], [10000, 12000])
    assert _steps(placed) == [("train", 10000), ("query", 0), ("train", 2000), ("query", 0), ("train", 8000)]
    assert [origin for _, _, origin in placed] == [0, -1, 0, -2, 0]
    assert rounds_of_steps(_steps(placed)) == [Round(10000, True), Round(2000, True), Round(8000, False)]


def test_query_at_across_steps_and_after_a_warmup():
    # positions count from the end of a 2-epoch warm-up: 5 falls in the first step, 9 at a boundary
    placed = place_queries([("train", 4), ("train", 3), ("query", 0), ("train", 6)], [5, 9, 15], start=2)
    assert _steps(placed) == [("train", 3), ("query", 0), ("train", 1), ("train", 3), ("query", 0), ("query", 0),
                              ("train", 6), ("query", 0)]


def test_query_at_outside_the_training_is_left_to_the_caller():
    assert _steps(place_queries([("train", 10)], [0, 11])) == [("query", 0), ("train", 10)]
    assert _steps(place_queries([("train", 10)], [1], start=2)) == [("train", 10)]


def test_iters_per_epoch_drops_the_last_partial_batch():
    assert iters_per_epoch(2975, 2) == 1487
    assert iters_per_epoch(2975, 2, world=4) == 372   # ceil(2975 / 4) = 744 per rank
    assert iters_per_epoch(3, 8) == 1                 # smaller than a batch: one short batch
    assert iters_per_epoch(0, 8) == 0
