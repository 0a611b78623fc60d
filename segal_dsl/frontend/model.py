"""The validated experiment: strict typed models (spec/typed.py, pydantic v2's API): no coercion, no unknown keys.

A field is None when the `.seg` file does not state it: its value then comes from the `base` files or,
failing them, from the default of the compiled-config contract (`segal_dsl/spec/config.py`), which is the
only home of those defaults. Names, units and heuristic parameters come from `segal_dsl/spec/`.
A field's description says what the `.seg` statement means (`segal schema`, the language server's hover).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from segal_dsl.spec import heuristics
from segal_dsl.spec.budget import UNIT_KEYS
from segal_dsl.spec.config import (
    Compactness,
    IgnoreIndex,
    NonNegInt,
    PictureCount,
    PositiveInt,
    Radius,
    Seed,
    Segments,
    SuperpixelLabel,
    Threshold,
)
from segal_dsl.spec.modes import MODE_NAMES, RUNNER_NAMES
from segal_dsl.spec.schedule import UNITS as SCHEDULE_UNITS
from segal_dsl.spec.typed import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base of every section: strict types, unknown keys rejected, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class Amount(Strict):
    """A number of labels with its unit (spec/budget.py); `unit=None` only for a bare zero (`initial 0`).
    `total`: `budget X total`, X split over the queries (spec/budget.py `split_total`)."""

    value: int | float
    unit: Literal[UNIT_KEYS] | None  # type: ignore[valid-type]
    total: bool = False


class Sample(Strict):
    """`sample <mode> { … }`: what is bought and how (None: not stated)."""

    mode: Literal[MODE_NAMES] = Field(description="what a query buys")  # type: ignore[valid-type]
    initial: Amount | None = Field(None, description="labels bought uniformly at random before the first round")
    budget: Amount = Field(description="labels bought by each query")
    threshold: Threshold | None = Field(None, description="`top T%`: each query picks at random among the top T% "
                                        "scores of each image (of the pool when not even; PixelPick); omit for "
                                        "strict top-k")
    evenly: bool | None = Field(None, description="`true`: the same quota in every image; `false`: one top-k over "
                                "the whole pool")
    ignore_index: IgnoreIndex | None = Field(None, description="label value of the pixels not bought (mmseg pads "
                                             "with 255)")
    radius: Radius | None = Field(None, description="regions are (2r+1)x(2r+1) squares around the chosen pixels")
    exclude_void: bool | None = Field(None, description="`false`: pixels whose ground truth is void (`ignore_index`) "
                                      "can be bought; default true: never bought")
    suppress: Radius | None = Field(None, description="no pixel within r of an earlier pick of the query (RIPU's "
                                    "pixel selection)")
    keep_suppressed: bool | None = Field(None, description="`true`: the suppressed squares of earlier queries stay "
                                         "suppressed (RIPU keeps them)")
    class_balanced: bool | None = Field(None, description="`true`: each image's quota is spread over its predicted "
                                        "classes, each buying its own top scores (class-balanced, CBAL)")
    segments: Segments | None = Field(None, description="SLIC superpixels asked for per image (scikit-image's "
                                      "n_segments), computed once per image and cached in the work dir")
    compactness: Compactness | None = Field(None, description="SLIC compactness: higher gives squarer superpixels")
    label: SuperpixelLabel | None = Field(None, description="`dominant`: a bought superpixel gets its majority class "
                                          "(one click, Cai et al. 2021); `full`: its ground truth, pixel by pixel")


class Heuristic(Strict):
    """`heuristic <name> { params }`; the parameters are checked against spec/heuristics.py.

    Any other name is a user heuristic, allowed only with `imports` (validate.py, SEG206/SEG230)."""

    name: Literal[heuristics.HEURISTIC_NAMES] | str = Field(  # type: ignore[valid-type]
        description="how each query scores the pool (higher = more informative)")
    params: dict[str, Any] = Field({}, description="the heuristic's parameters")


class Runner(Strict):
    """`runner active|multitask { … }`: the runner and the multitask runner's settings."""

    kind: Literal[RUNNER_NAMES] = Field("active", description="the runner that trains and queries")  # type: ignore[valid-type]
    mask_dir: str | None = Field(None, description="where the label state lives, relative to the work dir")
    mae_viz_dir: str | None = Field(None, description="where the reconstruction pictures go, relative to the work dir")
    validation_interval: PositiveInt | None = Field(None, description="validation losses every N iterations")
    viz_interval: NonNegInt | None = Field(None, description="reconstruction pictures every N iterations (0: none)")
    viz_count: PositiveInt | None = Field(None, description="reconstruction pictures of N pool images")
    mask_ratio: Annotated[float, Field(gt=0, lt=1)] | None = Field(None, description="the share of image patches "
                                                                  "the MAE masks")
    reconstruction_weight: Annotated[float, Field(gt=0)] | None = Field(None, description="the weight of the MAE "
                                                                        "reconstruction loss")
    mae_val_interval: PositiveInt | None = Field(None, description="validation losses every N iterations during "
                                                 "the MAE warm-up")


class Visualize(Strict):
    """`visualize { size N; overlay B; dir "D" }`: pictures of the bought labels."""

    size: PictureCount = Field(description="pool images drawn after every query (the same images each round)")
    overlay: bool | None = Field(None, description="`true`: the labels over the image; `false`: side by side")
    dir: str | None = Field(None, description="one folder per round of pictures, relative to the work dir")


SbatchFlag = Annotated[str, Field(pattern=r"^--[A-Za-z][A-Za-z0-9-]*(=.+)?$")]


class Slurm(Strict):
    """`launch { slurm { partition; nodes; gpus_per_node; … } }`: the job `segal run --executor slurm` submits
    (docs/cluster.md); the command line's options win over these."""

    partition: str | None = Field(None, description="the Slurm partition (default: the cluster's default)")
    nodes: PositiveInt | None = Field(None, description="nodes per run (default 1)")
    gpus_per_node: PositiveInt | None = Field(None, description="GPUs per node; one rank per GPU")
    tasks_per_node: PositiveInt | None = Field(None, description="ranks per node (default: one per GPU, else 1)")
    cpus_per_task: PositiveInt | None = Field(None, description="CPU cores per rank")
    time: PositiveInt | None = Field(None, description="the job's time limit in minutes (default 60); a timed-out "
                                     "job is requeued and resumes")
    account: str | None = Field(None, description="the account the job is charged to")
    max_parallel: PositiveInt | None = Field(None, description="a sweep's points (array tasks) running at once")
    sbatch: tuple[SbatchFlag, ...] = Field((), description="extra sbatch flags, `--name=value` or `--name`")


class Launch(Strict):
    """`launch { slurm { … } }`: where `segal run --executor` runs the experiment."""

    slurm: Slurm | None = Field(None, description="the Slurm job of `segal run --executor slurm`")


class Pool(Strict):
    """`pool { images N; resolution WxH }`: the pool as far as the file states it, for the plan."""

    images: PositiveInt | None = Field(None, description="the number of pool images: exact plans, budgets checked")
    resolution: tuple[PositiveInt, PositiveInt] | None = Field(  # (W, H), mmcv order
        None, description="the label and query resolution of every pool image, compiled as `scale_size`")


class Wandb(Strict):
    """`wandb { entity; project; name; group; tags }` inside `log`."""

    entity: str | None = Field(None, description="the wandb team or user")
    project: str | None = Field(None, description="the wandb project")
    name: str | None = Field(None, description="the run's name (a sweep point's default: the point's name)")
    group: str | None = Field(None, description="the group the run belongs to (a sweep point's default: the sweep's name)")
    tags: tuple[str, ...] = Field((), description="the run's tags")


class Log(Strict):
    """`log every N iters { text; wandb { … } }`."""

    interval: PositiveInt = Field(50, description="log every N iterations")
    text: bool = Field(True, description="the text logger")
    wandb: Wandb | None = Field(None, description="the wandb logger (`WandbLoggerHookWithVal`)")


class Evaluation(Strict):
    """`evaluation every N epochs|iters { metric; save_best; pre_eval }`."""

    interval: PositiveInt = Field(description="evaluate every N epochs or iterations")
    by_epoch: bool = Field(description="N counts epochs (else iterations)")
    metric: str = Field("mIoU", description="the metric mmseg computes")
    save_best: str | None = Field(None, description="keep the checkpoint that is best in this metric")
    pre_eval: bool | None = Field(None, description="mmseg's `pre_eval`: metrics accumulated image by image "
                                  "(less memory)")


class Checkpoint(Strict):
    """`checkpoint every N epochs|iters { max_keep }`."""

    interval: PositiveInt = Field(description="save every N epochs or iterations")
    by_epoch: bool = Field(description="N counts epochs (else iterations)")
    max_keep: PositiveInt | None = Field(None, description="keep only the last N checkpoints")


class Step(Strict):
    """One schedule item before expansion; `loc` finds its span in the SpanIndex (`(*loc, "at", i)`: the
    i-th position of `query at …`)."""

    kind: Literal["train", "query", "warmup", "group"]
    length: int | None = None
    at: tuple[int, ...] = ()  # `query at 10k, 12k`: absolute positions (frontend/expand.py places them)
    repeat: int | None = None
    items: tuple[Step, ...] = ()
    loc: tuple[Any, ...] = ()


class Schedule(Strict):
    """`schedule epochs|iters { steps }`, before expansion (frontend/expand.py expands it)."""

    unit: Literal[SCHEDULE_UNITS] = Field(SCHEDULE_UNITS[0],  # type: ignore[valid-type]
                                          description="what the lengths of the `train` steps count")
    steps: tuple[Step, ...] = Field(description="training and queries, in the order they run")


class Experiment(Strict):
    """A whole validated `.seg` experiment: what the file states (None: not stated)."""

    name: str = Field(description="names the work dir and the compiled config's `segal_meta`")
    base: Annotated[tuple[str, ...], Field(min_length=1)] = Field(
        description="mmcv `_base_` files: model, data, runtime; relative to this file")
    imports: tuple[str, ...] = Field((), description="modules mmcv imports when it loads the config (datasets, "
                                     "transforms), found beside this file, then the current directory, then installed")
    allow_failed_imports: bool = Field(False, description="a module of `imports` that fails to import is skipped")
    load_from: str | None = Field(None, description="the initial weights, loaded again at every reset")
    work_dir: str | None = Field(None, description="where the run writes; `segal run --work-dir` wins")
    seed: Seed | None = Field(None, description="seeds the training order and every label selection")
    deterministic: bool | None = Field(None, description="cuDNN's deterministic mode")
    source_free: bool | None = Field(None, description="`false`: active domain adaptation, `data.train` is "
                                     "[source, target]")
    runner: Runner = Field(Runner(), description="the runner and its settings")
    sample: Sample = Field(description="what each query buys, and how much")
    heuristic: Heuristic = Field(description="how each query scores the pool")
    reset_each_round: bool | None = Field(None, description="`true`: weights, optimizer state and LR schedule "
                                          "start again after every query")
    visualize: Visualize | None = Field(None, description="pictures of the bought labels and the score maps")
    pool: Pool = Field(Pool(), description="facts about the unlabelled pool, for exact plans and budget checks")
    launch: Launch | None = Field(None, description="how `segal run --executor slurm` submits the run")
    schedule: Schedule = Field(description="training and queries, in epochs or iterations")
    log: Log | None = Field(None, description="logging every N iterations: text, wandb")
    evaluation: Evaluation | None = Field(None, description="validation every N epochs or iterations")
    checkpoint: Checkpoint | None = Field(None, description="checkpoints every N epochs or iterations")
    overrides: dict[str, Any] = Field({}, description="`mmseg { a.b = literal }`: pass-through overrides merged into "
                                      "the base files' values")
