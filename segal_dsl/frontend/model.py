"""The validated experiment: pydantic v2 models in strict mode (no silent coercion, no unknown keys).

A field is None when the `.seg` file does not state it: its value then comes from the `base` files or,
failing them, from the default of the compiled-config contract (`segal_dsl/spec/config.py`), which is the
only home of those defaults. Names, units and heuristic parameters come from `segal_dsl/spec/`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from segal_dsl.spec import heuristics
from segal_dsl.spec.budget import UNIT_KEYS
from segal_dsl.spec.config import IgnoreIndex, NonNegInt, PictureCount, PositiveInt, Radius, Seed, Threshold
from segal_dsl.spec.modes import MODE_NAMES, RUNNER_NAMES
from segal_dsl.spec.schedule import UNITS as SCHEDULE_UNITS


class Strict(BaseModel):
    """Base of every section: strict types, unknown keys rejected, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class Amount(Strict):
    """A number of labels with its unit (spec/budget.py); `unit=None` only for a bare zero (`initial 0`)."""

    value: int | float
    unit: Literal[UNIT_KEYS] | None  # type: ignore[valid-type]


class Sample(Strict):
    """`sample <mode> { … }`: what is bought and how (None: not stated)."""

    mode: Literal[MODE_NAMES]  # type: ignore[valid-type]
    initial: Amount | None = None
    budget: Amount
    threshold: Threshold | None = None
    evenly: bool | None = None
    ignore_index: IgnoreIndex | None = None
    radius: Radius | None = None


class Heuristic(Strict):
    """`heuristic <name> { params }`; the parameters are checked against spec/heuristics.py."""

    name: Literal[heuristics.HEURISTIC_NAMES]  # type: ignore[valid-type]
    params: dict[str, Any] = {}


class Runner(Strict):
    """`runner active|multitask { … }`: the runner and the multitask runner's settings."""

    kind: Literal[RUNNER_NAMES] = "active"  # type: ignore[valid-type]
    mask_dir: str | None = None
    mae_viz_dir: str | None = None
    validation_interval: PositiveInt | None = None
    viz_interval: NonNegInt | None = None  # 0: no reconstruction pictures
    viz_count: PositiveInt | None = None
    mask_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    reconstruction_weight: Annotated[float, Field(gt=0)] | None = None
    mae_val_interval: PositiveInt | None = None


class Visualize(Strict):
    """`visualize { size N; overlay B; dir "D" }`: pictures of the bought labels."""

    size: PictureCount
    overlay: bool | None = None
    dir: str | None = None


class Pool(Strict):
    """`pool { images N; resolution WxH }`: the pool as far as the file states it, for the plan."""

    images: PositiveInt | None = None
    resolution: tuple[PositiveInt, PositiveInt] | None = None  # (W, H), mmcv order


class Wandb(Strict):
    """`wandb { entity; project; name; group; tags }` inside `log`."""

    entity: str | None = None
    project: str | None = None
    name: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()


class Log(Strict):
    """`log every N iters { text; wandb { … } }`."""

    interval: PositiveInt = 50
    text: bool = True
    wandb: Wandb | None = None


class Evaluation(Strict):
    """`evaluation every N epochs|iters { metric; save_best; pre_eval }`."""

    interval: PositiveInt
    by_epoch: bool
    metric: str = "mIoU"
    save_best: str | None = None
    pre_eval: bool | None = None


class Checkpoint(Strict):
    """`checkpoint every N epochs|iters { max_keep }`."""

    interval: PositiveInt
    by_epoch: bool
    max_keep: PositiveInt | None = None


class Step(Strict):
    """One schedule item before expansion; `loc` finds its span in the SpanIndex."""

    kind: Literal["train", "query", "warmup", "group"]
    length: int | None = None
    repeat: int | None = None
    items: tuple[Step, ...] = ()
    loc: tuple[Any, ...] = ()


class Schedule(Strict):
    """`schedule epochs|iters { steps }`, before expansion (frontend/expand.py expands it)."""

    unit: Literal[SCHEDULE_UNITS] = SCHEDULE_UNITS[0]  # type: ignore[valid-type]
    steps: tuple[Step, ...]


class Experiment(Strict):
    """A whole validated `.seg` experiment: what the file states (None: not stated)."""

    name: str
    base: Annotated[tuple[str, ...], Field(min_length=1)]
    imports: tuple[str, ...] = ()
    allow_failed_imports: bool = False
    load_from: str | None = None
    work_dir: str | None = None
    seed: Seed | None = None
    deterministic: bool | None = None
    source_free: bool | None = None
    runner: Runner = Runner()
    sample: Sample
    heuristic: Heuristic
    reset_each_round: bool | None = None
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
