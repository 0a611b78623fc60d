"""The validated experiment: pydantic v2 models in strict mode (no silent coercion, no unknown keys)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(gt=0)]

HEURISTIC_NAMES = ("random", "entropy", "margin", "least_confidence", "ripu", "mps")
SAMPLE_MODES = ("image", "pixel", "region")
RUNNER_KINDS = ("active", "multitask")
UNITS = ("px", "px/img", "%/img", "%", "images", "regions/img", "regions")


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Amount(Strict):
    """A number of labels with its unit; `unit=None` only for a bare zero (`initial 0`)."""

    value: Union[int, float]
    unit: Literal["px", "px/img", "%/img", "%", "images", "regions/img", "regions"] | None


class Sample(Strict):
    mode: Literal["image", "pixel", "region"]
    initial: Amount | None = None
    budget: Amount
    threshold: Annotated[float, Field(gt=0, le=100)] | None = None
    evenly: bool = True  # the reference labelled ~every pixel when `sample_evenly` was absent
    ignore_index: Annotated[int, Field(ge=0, le=255)] = 255
    radius: Annotated[int, Field(ge=0, le=256)] = 1


class NoParams(Strict):
    pass


class EntropyParams(Strict):
    prop: Annotated[float, Field(gt=0, le=1)] | None = None


class RipuParams(Strict):
    k: Annotated[int, Field(ge=0, le=256)] = 1
    use_entropy: bool = True
    categories: Annotated[int, Field(ge=2)] | None = None  # None: the model's number of classes


class MpsParams(RipuParams):
    crop_size: PositiveInt | None = None
    mix_factor: Annotated[float, Field(ge=0, le=1)] = 0.8


HEURISTIC_PARAMS: dict[str, type[Strict]] = {
    "random": NoParams,
    "entropy": EntropyParams,
    "margin": NoParams,
    "least_confidence": NoParams,
    "ripu": RipuParams,
    "mps": MpsParams,
}


class Heuristic(Strict):
    name: Literal["random", "entropy", "margin", "least_confidence", "ripu", "mps"]
    params: dict[str, Any] = {}


class Runner(Strict):
    kind: Literal["active", "multitask"] = "active"
    mask_dir: str | None = None
    mae_viz_dir: str | None = None
    validation_interval: PositiveInt | None = None
    viz_interval: Annotated[int, Field(ge=0)] | None = None  # 0: no reconstruction pictures
    viz_count: PositiveInt | None = None
    mask_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    reconstruction_weight: Annotated[float, Field(gt=0)] | None = None
    mae_val_interval: PositiveInt | None = None


class Visualize(Strict):
    size: Annotated[int, Field(gt=0, le=10_000)]
    overlay: bool = False
    dir: str = "viz"


class Pool(Strict):
    images: PositiveInt | None = None
    resolution: tuple[PositiveInt, PositiveInt] | None = None  # (W, H), mmcv order


class Wandb(Strict):
    entity: str | None = None
    project: str | None = None
    name: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()


class Log(Strict):
    interval: PositiveInt = 50
    text: bool = True
    wandb: Wandb | None = None


class Evaluation(Strict):
    interval: PositiveInt
    by_epoch: bool
    metric: str = "mIoU"
    save_best: str | None = None
    pre_eval: bool | None = None


class Checkpoint(Strict):
    interval: PositiveInt
    by_epoch: bool
    max_keep: PositiveInt | None = None


class Step(Strict):
    """One schedule item before expansion; `loc` finds its span in the SpanIndex."""

    kind: Literal["train", "query", "warmup", "group"]
    length: int | None = None
    repeat: int | None = None
    items: tuple["Step", ...] = ()
    loc: tuple[Any, ...] = ()


class Schedule(Strict):
    unit: Literal["epochs", "iters"] = "epochs"
    steps: tuple[Step, ...]


class Experiment(Strict):
    name: str
    base: Annotated[tuple[str, ...], Field(min_length=1)]
    imports: tuple[str, ...] = ()
    allow_failed_imports: bool = False
    load_from: str | None = None
    work_dir: str | None = None
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None = None
    deterministic: bool | None = None
    source_free: bool | None = None
    runner: Runner = Runner()
    sample: Sample
    heuristic: Heuristic
    reset_each_round: bool = False
    visualize: Visualize | None = None
    pool: Pool = Pool()
    schedule: Schedule
    log: Log | None = None
    evaluation: Evaluation | None = None
    checkpoint: Checkpoint | None = None
    overrides: dict[str, Any] = {}


def json_schema() -> dict:
    """The JSON Schema of a validated experiment (`segal schema`)."""
    return Experiment.model_json_schema()
