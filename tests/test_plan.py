"""Schedule expansion and budgets: the decided semantics of design.md, with exact numbers."""

from conftest import EXAMPLES

from segal_dsl.api import analyse
from segal_dsl.source import Source


def plan_of(text: str):
    result = analyse(Source("t.seg", text))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.plan


def exp(schedule: str, sample: str = "sample pixel { budget 1% per image }", extra: str = "") -> str:
    return (f'experiment t {{\n base "m.py"\n {sample}\n heuristic entropy\n {extra}\n'
            f' schedule epochs {{ {schedule} }}\n}}\n')


def test_design_sketch_schedule_queries_after_10_12_14_16_18_then_14_more():
    plan = analyse(Source("d.seg", (EXAMPLES / "design_sketch.seg").read_text())).plan
    ends = [r.train_start + r.train for r in plan.rounds if r.query]
    assert ends == [10, 12, 14, 16, 18]
    assert plan.total_train == 32 and plan.queries == 5
    assert [r.train for r in plan.rounds] == [10, 2, 2, 2, 2, 14]


def test_groups_and_repeat_expand_in_order():
    plan = plan_of(exp("train 3; query; (train 1; query) x2; train 2 x1; train 4"))
    assert [(r.train, r.query) for r in plan.rounds] == [(3, True), (1, True), (1, True), (2, True), (4, False)]


def test_consecutive_trains_merge_into_one_round():
    plan = plan_of(exp("train 3; train 2; query; train 4"))
    assert [(r.train, r.query) for r in plan.rounds] == [(5, True), (4, False)]


def test_pool_budgets_match_the_reference_arithmetic():
    # reference: BUDGET = int(1280*640*0.01) * 2975 = 24,371,200 px per round
    plan = plan_of(exp("train 5; query; train 3", "sample region { budget 1% per image per round }",
                       "pool { images 2975; resolution 1280x640 }"))
    (query_round,) = [r for r in plan.rounds if r.query]
    assert query_round.budget.per_image == 8192 and query_round.budget.total == 24_371_200
    assert plan.rounds[-1].trained_on.total == 24_371_200


def test_regions_convert_to_pixels_with_the_radius():
    plan = plan_of(exp("train 5; query; train 3", "sample region { budget 10 regions per image; radius 2 }"))
    assert plan.rounds[0].budget.per_image == 10 * 25


def test_image_mode_counts_images():
    plan = plan_of(exp("train 5 x3; train 5", "sample image { initial 10 images; budget 5 images }",
                       "pool { images 100 }"))
    assert [r.trained_on.total for r in plan.rounds] == [10, 15, 20, 25]


def test_reset_applies_before_every_round_after_a_query():
    plan = plan_of(exp("train 5 x2; train 5", extra="reset_each_round true"))
    assert [r.reset for r in plan.rounds] == [False, True, True]


def test_iteration_schedule_unit():
    text = exp("train 1000; query; train 500").replace("schedule epochs", "schedule iters")
    plan = plan_of(text)
    assert plan.unit == "iters" and plan.total_train == 1500


def test_warmup_only_multitask_schedule():
    text = ('experiment w {\n base "m.py"\n runner multitask\n sample pixel { budget 1% per image }\n'
            ' heuristic entropy\n schedule iters { warmup 1000 }\n}\n')
    plan = plan_of(text)
    assert plan.warmup_only and plan.warmup == 1000 and plan.rounds == []


def test_plan_table_golden(update_golden):
    from conftest import GOLDEN, ROOT, assert_golden, valid_examples

    from segal_dsl.api import read_source
    from segal_dsl.frontend.table import render_plan

    for path in valid_examples():
        source = read_source(path)
        result = analyse(Source(path.relative_to(ROOT).as_posix(), source.text))
        assert_golden(GOLDEN / "plan" / f"{path.stem}.txt", render_plan(result.plan), update_golden)


def test_warmup_only_compiles_to_one_mae_round():
    from test_emit import evaluate_config

    from segal_dsl.api import compile_source

    text = ('experiment w {\n base "m.py"\n runner multitask\n sample pixel { budget 1% per image }\n'
            ' heuristic entropy\n schedule iters { warmup 1000 }\n}\n')
    cfg = evaluate_config(compile_source(Source("w.seg", text), "c.py").config)
    assert cfg["workflow"] == [("train", 1000)]  # the reference's own form of an MAE-only workflow
    assert cfg["runner"] == {"type": "MultiTaskActiveRunner", "sample_mode": "pixel", "sample_rounds": 0,
                             "schedule_unit": "iters", "warmup_only": True}
    assert "mae_warmup_epochs" not in cfg


def test_entropy_prop_and_threshold_are_exclusive():
    text = exp("train 1; query; train 1", "sample pixel { budget 1% per image; threshold top 5% }")
    text = text.replace("heuristic entropy", "heuristic entropy { prop 0.5 }")
    result = analyse(Source("t.seg", text))
    assert [d.code for d in result.diagnostics] == ["SEG208"]


def test_multitask_runner_settings_reach_the_model_and_hooks():
    from test_emit import evaluate_config

    from segal_dsl.api import compile_source

    text = ('experiment m {\n base "m.py"\n runner multitask { viz_interval 0; viz_count 3; mask_ratio 0.6;'
            ' reconstruction_weight 15 }\n sample region { budget 1% per image }\n heuristic random\n'
            ' schedule iters { warmup 10; train 5; query; train 5 }\n mmseg { model.backbone.depth = 2 }\n}\n')
    cfg = evaluate_config(compile_source(Source("m.seg", text), "c.py").config)
    assert cfg["mae_viz_interval"] == 0 and cfg["mae_viz_count"] == 3 and cfg["mae_warmup_epochs"] == 10
    assert cfg["model"] == {"mae_config": {"mask_ratio": 0.6}, "mae_head": {"loss_rec": {"loss_weight": 15.0}},
                            "backbone": {"depth": 2}}


# ---- `query at`, `budget X total`, regions and iterations ----------------------------------------------------
def iters_exp(schedule: str, sample: str = "sample pixel { budget 1% per image }", extra: str = "") -> str:
    return exp(schedule, sample, extra).replace("schedule epochs", "schedule iters")


def test_query_at_is_the_split_train_steps():
    at = analyse(Source("t.seg", iters_exp("train 20k; query at 10k, 12k")))
    split = analyse(Source("t.seg", iters_exp("train 10k; query; train 2k; query; train 8k")))
    assert at.ok and split.ok
    assert [(r.train, r.query) for r in at.plan.rounds] == [(10000, True), (2000, True), (8000, False)]
    assert at.plan.as_dict()["rounds"] == split.plan.as_dict()["rounds"]


def test_query_at_counts_after_the_warmup():
    plan = plan_of(exp("warmup 2; train 10; query at 5", extra='runner multitask\n base "mt.py"')
                   .replace(' base "m.py"\n', ""))
    assert [(r.train_start, r.train, r.query) for r in plan.rounds] == [(2, 3, True), (5, 7, False)]


def test_budget_total_shares_in_the_plan():
    plan = plan_of(exp("train 2; query at 2, 4, 6, 8, 10; train 10", "sample image { budget 12 images total }"))
    assert [r.budget.total for r in plan.rounds if r.query] == [3, 3, 2, 2, 2]
    assert plan.rounds[-1].cumulative.total == 12
    pct = plan_of(exp("train 8; query at 2, 4, 6", "sample region { budget 2.2% per image total }",
                      "pool { images 10; resolution 1280x640 }"))
    assert [r.budget.per_image for r in pct.rounds if r.query] == [6008, 6007, 6007]  # int(819200·2.2%) = 18022
    assert pct.rounds[-1].cumulative.per_image == 18022


def test_plan_counts_regions_and_iterations():
    from segal_dsl.frontend.table import render_plan

    plan = plan_of(exp("train 2; query; train 1", "sample region { budget 10 regions per image; radius 2 }",
                       "pool { images 101; resolution 64x64 }\n mmseg { data.samples_per_gpu = 4 }"))
    assert plan.regions(plan.rounds[0].budget.per_image) == 10  # 250 px of 5x5 squares
    assert [(r.iters_per_epoch, r.iters) for r in plan.rounds] == [(25, 50), (25, 25)]  # the last 1 of 101 dropped
    assert plan.total_iters == 75
    text = render_plan(plan)
    assert "iterations: 25 per epoch on one GPU (samples_per_gpu 4)" in text
    assert "3 epochs of training (75 iterations on one GPU)" in text
    header = next(line for line in text.splitlines() if line.startswith("round"))
    assert "regions / image" in header and "iters" in header


def test_no_iterations_without_the_batch_size_or_for_ada():
    plan = plan_of(exp("train 2; query; train 1", extra="pool { images 100 }"))
    assert plan.total_iters is None and plan.rounds[0].iters_per_epoch is None
    ada = plan_of(exp("train 2; query; train 1", extra="pool { images 100 }\n source_free false\n"
                      " mmseg { data.samples_per_gpu = 2 }"))
    assert ada.rounds[0].iters is None  # the source set's size is not stated


def test_total_is_for_budgets_and_excludes_per_round():
    for sample, message in (("sample pixel { budget 1% per image per round total }",
                             "a budget is either `per round` or `total`"),
                            ("sample pixel { initial 1% per image total; budget 1% per image }",
                             "the initial labels are bought once: `total` splits a budget over the queries")):
        result = analyse(Source("t.seg", exp("train 2; query; train 2", sample)))
        assert [(d.code, d.message) for d in result.diagnostics if d.code != "SEG222"] == [("SEG207", message)]
