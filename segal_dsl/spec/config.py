"""The compiled config as a typed contract: every key the runtime reads, its type, default, and meaning.

`read_config(cfg)` is the one reading of a compiled (or hand-written, or imported) mmcv config: the front
end applies it to the config it is about to write, merged with its `_base_` files, and refuses what it
refuses; the runtime applies it to the config mmcv loaded, before any work. Keys not listed here (model,
data, optimizer, hooks, …) are mmcv's and mmseg's, passed through untouched. docs/compiled-config.md is
generated from these models (`scripts/generate.py`); a test keeps it current.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal

from segal_dsl.spec import budget, heuristics, schedule
from segal_dsl.spec.modes import (
    MODE_NAMES,
    REFERENCES,
    RUNNER_KINDS,
    SAMPLE_MODES,
    SUPERPIXEL_LABELS,
    runner_kind_of_type,
)
from segal_dsl.spec.typed import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

RUNTIME_MODULE = "segal_dsl.runtime"  # the custom import that registers the runners, hooks and datasets
MULTITASK_KEYS = ("mae_viz_dir", "mae_warmup_epochs", "multitask_validation_iter", "mae_val_iter",
                  "mae_viz_interval", "mae_viz_count")


class Section(BaseModel):
    """A strict section of the contract: no coercion, unknown keys are errors."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


def _budget_spec(value: Any) -> Any:
    if isinstance(value, Mapping):
        budget.parse_spec(value)
        return dict(value)
    budget.check_count(value, "budget")
    return value


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


BudgetSpec = Annotated[Any, AfterValidator(_budget_spec)]
NonNegInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
# Value ranges of compiled keys that a `.seg` statement states too (frontend/model.py checks them with these).
Threshold = Annotated[float, Field(gt=0, le=100)]      # percent of the top-scored pixels (PixelPick)
IgnoreIndex = Annotated[int, Field(ge=0, le=255)]      # a uint8 label value
Radius = Annotated[int, Field(ge=0, le=256)]           # regions are (2r+1)² squares
Segments = Annotated[int, Field(gt=0, le=1_000_000)]   # SLIC's n_segments: superpixels asked for per image
Compactness = Annotated[float, Field(gt=0, le=1000)]   # SLIC's compactness (colour vs space)
SuperpixelLabel = Literal[SUPERPIXEL_LABELS]  # type: ignore[valid-type]
PictureCount = Annotated[int, Field(gt=0, le=10_000)]  # pool images drawn by `visualize`
Seed = Annotated[int, Field(ge=0, lt=2**32)]           # numpy's seed range
Size = Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(_as_tuple)]


_PER_QUERY = ("`budget X total`: what each query buys, in order, one entry per query (the shares of X); its "
              "first entry is `budget_per_round`, which the reference buys at every query")


class ImageSettings(Section):
    """`active_learning.settings.image`: whole images are bought; counts are images."""

    initial_pool: NonNegInt = Field(0, description="images labelled uniformly at random before the first query")
    budget_per_round: NonNegInt = Field(description="images each query buys (the highest scores); > 0 when the "
                                        "workflow queries")
    budget_per_query: list[NonNegInt] | None = Field(None, description=_PER_QUERY)


class PixelSettings(Section):
    """`active_learning.settings.pixel`: single pixels are bought; budgets are BudgetSpecs (pixels)."""

    initial_label_pixels: BudgetSpec = Field(0, description="BudgetSpec: labels drawn uniformly at random "
                                             "before the first query")
    budget_per_round: BudgetSpec = Field(description="BudgetSpec: new labels each query buys")
    budget_per_query: list[BudgetSpec] | None = Field(None, description=_PER_QUERY)
    sample_evenly: bool = Field(True, description="the same quota in every image (else one top-k over the pool); "
                                "the reference labelled almost every pixel when this key was absent")
    sample_threshold: Threshold | None = Field(
        None, description="percent: pick the quota uniformly at random from the top t% of pixels (PixelPick)")
    ignore_index: IgnoreIndex = Field(255, description="label value of unlabelled "
                                                              "pixels in training (written into every loss head)")
    exclude_void: bool = Field(True, description="pixels whose ground truth is `ignore_index` (void) are never "
                               "bought: excluded before ranking, counted per query (PixelPick)")


class PointSettings(PixelSettings):
    """`active_learning.settings.pixel`: as PixelSettings, plus RIPU's neighbourhood suppression (PA)."""

    suppress_radius: Radius | None = Field(None, description="no pick within the (2r+1)x(2r+1) square of an "
                                           "earlier pick (RIPU PA); None: off")
    suppress_across_rounds: bool = Field(False, description="with suppress_radius: the squares of earlier "
                                         "queries' labels stay suppressed (RIPU keeps them)")
    sample_class_balanced: bool = Field(False, description="each image's quota spread over its predicted classes "
                                        "(argmax), each class buying its own top scores (CBAL's balance); needs "
                                        "sample_evenly, no sample_threshold, suppress_radius or entropy_prop")

    @model_validator(mode="after")
    def _suppression_fits(self) -> PointSettings:
        if self.suppress_radius is not None and not self.sample_evenly:
            raise ValueError("suppress_radius picks pixels image by image: it needs sample_evenly=True")
        if self.suppress_across_rounds and self.suppress_radius is None:
            raise ValueError("suppress_across_rounds keeps the squares of suppress_radius, which is not set")
        if self.sample_class_balanced:
            other = next((k for k in ("sample_threshold", "suppress_radius", "entropy_prop")
                          if getattr(self, k, None) is not None), None)
            if other is not None or not self.sample_evenly:
                raise ValueError(f"sample_class_balanced picks each image's top pixels per predicted class: it "
                                 f"cannot be combined with {other or 'sample_evenly=False'}")
        return self


class RegionSettings(PixelSettings):
    """`active_learning.settings.region`: (2r+1)x(2r+1) squares are bought; budgets count pixels."""

    radius: Radius = Field(1, description="region radius r")


class SuperpixelSettings(PixelSettings):
    """`active_learning.settings.superpixel`: SLIC superpixels are bought whole; budgets count superpixels
    (the BudgetSpecs' unit is `superpixels` or `superpixels/img`, `initial_label_pixels` included)."""

    superpixel_segments: Segments = Field(2048, description="SLIC n_segments per pool image (at the label "
                                          "resolution), computed once and cached in the work dir")
    superpixel_compactness: Compactness = Field(10.0, description="SLIC compactness (scikit-image's default)")
    superpixel_label: SuperpixelLabel = Field("dominant", description="`dominant`: every pixel of a bought "
                                              "superpixel gets its majority ground-truth class (one click); `full`: "
                                              "its ground truth, pixel by pixel")

    @model_validator(mode="after")
    def _counts_superpixels(self) -> SuperpixelSettings:
        if self.sample_threshold is not None:
            raise ValueError("sample_threshold picks pixels: superpixel sampling ranks whole superpixels")
        for name in ("initial_label_pixels", "budget_per_round"):
            spec = getattr(self, name)
            if not budget.is_zero(spec) and not budget.is_superpixel_spec(spec):
                raise ValueError(f"{name} must count superpixels (dict(value=N, unit='superpixels' or "
                                 f"'superpixels/img')), got {spec!r}")
        return self


def _with_heuristic_settings(model: type[Section], mode: str) -> type[Section]:
    """A mode's settings plus the heuristic parameters that the compiled config keeps there (`entropy_prop`)."""
    fields = {}
    for h in heuristics.HEURISTICS.values():
        for p in h.params:
            if p.compiled == heuristics.MODE_SETTINGS and mode in p.modes:
                fields[p.key] = (heuristics.annotation(p), Field(None, description=f"`{h.name}` only: {p.doc}"))
    if not fields:
        return model
    new = create_model(model.__name__, __base__=model, **fields)
    new.__doc__ = model.__doc__
    return new


MODE_SETTINGS: dict[str, type[Section]] = {
    "image": ImageSettings,
    "pixel": _with_heuristic_settings(PointSettings, "pixel"),
    "region": _with_heuristic_settings(RegionSettings, "region"),
    "superpixel": _with_heuristic_settings(SuperpixelSettings, "superpixel"),
}


class Visualize(Section):
    """`active_learning.visualize`: pictures of the bought labels after every query (rank 0)."""

    size: PictureCount = Field(description="pool images drawn")
    overlay: bool = Field(False, description="labels over the image (else side by side)")
    dir: str = Field("viz", description="folder, relative to the work dir (the reference: to the CWD)")


class ActiveLearning(Section):
    """`active_learning`: how labels are bought."""

    settings: dict[str, Any] = Field(description="one sub-dict per sample mode; only `runner.sample_mode`'s is read")
    heuristic: str = Field(description="the acquisition heuristic (spec/heuristics.py)")
    heuristic_cfg: dict[str, Any] = Field({}, description="parameters of `ripu` / `mps`")
    reset_each_round: bool = Field(False, description="restart weights, optimizer state and LR schedule after "
                                   "every query")
    visualize: Visualize | None = Field(None, description="absent: no pictures")
    reference: Literal[REFERENCES] | None = Field(  # type: ignore[valid-type]
        None, description="`'full'`: the full-supervision reference of a sweep (`reference full`): every pool "
        "label from round 0, the same schedule, no query buys; `segal report` draws it as the ceiling")


class Runner(Section):
    """`runner`: the mmcv runner and the schedule facts it needs."""

    type: str = Field(description="ActiveLearningRunner | MultiTaskActiveRunner")
    sample_mode: Literal[MODE_NAMES] = Field(description="the `settings` entry that is read")  # type: ignore[valid-type]
    sample_rounds: NonNegInt | None = Field(None, description="the number of queries in `workflow` (checked)")
    schedule_unit: Literal[schedule.UNITS] = Field(  # type: ignore[valid-type]
        schedule.UNITS[0], description="what the counts of `workflow` count")
    warmup_only: bool = Field(False, description="multitask only: an MAE-only run of one round, no query")


class CustomImports(Section):
    """`custom_imports`: modules mmcv imports when it loads the config (registries)."""

    imports: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        description=f"always includes `{RUNTIME_MODULE}`; others resolve against the .seg file's folder and the CWD")
    allow_failed_imports: bool = False


class CompiledConfig(BaseModel):
    """The keys of a compiled config that segal-dsl defines (mmcv's own keys pass through untouched)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, defer_build=True)

    runner: Runner = Field(description="the runner and what the schedule decides (below)")
    workflow: Any = Field(description="one tuple per round: (('train', N), ('query', 1)), the last "
                          "usually (('train', N),); a first round may be (('query', 1),); [('train', N)] for "
                          "runner.warmup_only")
    active_learning: ActiveLearning = Field(description="how labels are bought (below)")
    custom_imports: CustomImports | None = Field(None, description=f"`imports`: always `{RUNTIME_MODULE}`, "
                                                 "then the base files' and the experiment's modules")
    source_free: bool = Field(True, description="False: ADA, `data.train` is [source, target]")
    scale_size: Size | None = Field(None, description="(W, H): the label resolution of every pool image; "
                                    "absent: each image's own size")
    mask_dir: str = Field("masks", description="label state folder, relative to the work dir")
    load_from: str | None = Field(None, description="checkpoint loaded before training and at every reset")
    work_dir: str | None = Field(None, description="default: `segal run --work-dir`, else work_dirs/<experiment>")
    seed: Seed | None = Field(None, description="None: drawn, and recorded")
    deterministic: bool = Field(False, description="cudnn deterministic mode")
    mae_viz_dir: str | None = Field("reconstructed_images", description="multitask: reconstruction pictures, "
                                    "relative to the work dir (None: the default)")
    mae_warmup_epochs: NonNegInt | None = Field(0, description="multitask: MAE-only training before round 1 "
                                                "(iterations with schedule_unit='iters'); None: 0")
    multitask_validation_iter: NonNegInt | None = Field(0, description="multitask: validation losses every N "
                                                        "iterations (0 or None: never)")
    mae_val_iter: NonNegInt | None = Field(None, description="multitask: the same during the MAE stage "
                                           "(default: multitask_validation_iter)")
    mae_viz_interval: NonNegInt | None = Field(500, description="multitask: reconstruction pictures every N "
                                               "iterations (0: never; None: the default)")
    mae_viz_count: NonNegInt | None = Field(10, description="multitask: pictures of N pool images (None: the default)")
    segal_meta: dict[str, Any] = Field({}, description="written by the compiler: experiment, source, sha256, "
                                       "version, sweep point")


# ---- which `.seg` statement writes which key (the compiler writes them, the importer reads them back) -----
SET_BY: dict[str, str] = {
    "_base_": "use `base`", "custom_imports": "use `imports`", "load_from": "use `load_from`",
    "work_dir": "use `work_dir` or `segal run --work-dir`", "active_learning": "use `sample`, `heuristic`, "
    "`visualize`, `reset_each_round`", "workflow": "use `schedule`", "runner": "use `runner` and `schedule`",
    "log_config": "use `log`", "evaluation": "use `evaluation every N epochs`",
    "checkpoint_config": "use `checkpoint every N epochs`", "mask_dir": "use `runner { mask_dir … }`",
    "mae_viz_dir": "use `runner multitask { mae_viz_dir … }`", "mae_warmup_epochs": "use `warmup N` in the schedule",
    "seed": "use `seed`", "deterministic": "use `deterministic`", "source_free": "use `source_free`",
    "scale_size": "use `pool { resolution WxH }`", "segal_meta": "written by the compiler",
    "multitask_validation_iter": "use `runner multitask { validation_interval N }`",
    "mae_val_iter": "use `runner multitask { mae_val_interval N }`",
    "mae_viz_interval": "use `runner multitask { viz_interval N }`",
    "mae_viz_count": "use `runner multitask { viz_count N }`",
}
# `runner <kind> { key value }` -> the compiled key it writes (model paths for the multitask settings)
RUNNER_SETTINGS: dict[str, tuple[str, ...]] = {
    "mask_dir": ("mask_dir",),
    "mae_viz_dir": ("mae_viz_dir",),
    "validation_interval": ("multitask_validation_iter",),
    "mae_val_interval": ("mae_val_iter",),
    "viz_interval": ("mae_viz_interval",),
    "viz_count": ("mae_viz_count",),
    "mask_ratio": ("model", "mae_config", "mask_ratio"),
    "reconstruction_weight": ("model", "mae_head", "loss_rec", "loss_weight"),
}
MULTITASK_RUNNER_SETTINGS: tuple[str, ...] = tuple(k for k in RUNNER_SETTINGS if k != "mask_dir")
# `sample <mode> { key … }` -> the key of `active_learning.settings.<mode>` it writes (spec/modes.py)
SAMPLE_SETTINGS: dict[str, dict[str, str]] = {name: dict(m.settings) for name, m in SAMPLE_MODES.items()}


# ---- the reading ------------------------------------------------------------------------------------------
_READ_EXTRA = ("data", "evaluation", "checkpoint_config", "lr_config")  # mmcv keys the checks below look at


class ConfigError(ValueError):
    """A compiled config that the runtime cannot run, naming the key: `key.path: what is wrong`."""

    def __init__(self, path: tuple, message: str):
        self.path = tuple(path)
        self.detail = message
        super().__init__(f"{'.'.join(map(str, self.path)) or 'config'}: {message}")


@dataclass(frozen=True)
class MultitaskOptions:
    """The multitask runner's settings, defaults applied (whether it is an MAE-only run is the schedule's)."""

    val_interval: int       # multitask stage: validate both losses every N iterations (0 = off)
    mae_val_interval: int   # MAE stage: validate reconstruction every N iterations (0 = off)
    viz_dir: str
    viz_interval: int       # 0 = no pictures
    viz_count: int


@dataclass(frozen=True)
class Contract:
    """What a compiled config means to the runtime: everything `segal plan` and `segal run` rely on."""

    runner_kind: str                   # "active" | "multitask"
    runner_type: str
    mode: str                          # "image" | "pixel" | "region" | "superpixel"
    settings: Section                  # MODE_SETTINGS[mode], defaults applied
    heuristic: str                     # canonical name
    params: dict[str, Any]             # every parameter of the heuristic, defaults applied
    reset_each_round: bool
    visualize: Visualize | None
    schedule: schedule.Schedule
    source_free: bool
    scale_size: tuple[int, int] | None  # (W, H)
    mask_dir: str
    load_from: str | None
    seed: int | None
    deterministic: bool
    imports: tuple[str, ...]
    multitask: MultitaskOptions | None
    meta: dict[str, Any] = field(default_factory=dict)
    allow_failed_imports: bool = False
    batch_size: int | None = None      # `data.samples_per_gpu` (the plan's iterations per epoch), None: unknown
    reference: str | None = None       # `full`: every label from round 0, queries buy nothing (REFERENCES)

    def query_budget(self, query: int) -> Any:
        """What query `query` (1-based) buys: its share of a `budget X total` (`budget_per_query`), else
        `budget_per_round`."""
        shares = getattr(self.settings, "budget_per_query", None)
        return shares[query - 1] if shares else self.settings.budget_per_round

    @property
    def radius(self) -> int:
        """Region radius r (regions are (2r+1)² squares); the region default in other modes."""
        return getattr(self.settings, "radius", RegionSettings.model_fields["radius"].default)

    @property
    def ignore_index(self) -> int:
        """The label of unlabelled pixels in training (image mode: the pixel modes' default)."""
        return getattr(self.settings, "ignore_index", PixelSettings.model_fields["ignore_index"].default)

    @property
    def initial_spec(self) -> Any:
        """The initial labels as the settings state them: an image count, or a BudgetSpec of pixels."""
        return self.settings.initial_pool if self.mode == "image" else self.settings.initial_label_pixels

    @property
    def sample_evenly(self) -> bool:
        """Per-image quotas (image mode buys whole images: always "evenly")."""
        return getattr(self.settings, "sample_evenly", True)

    @property
    def sample_threshold(self) -> float | None:
        """PixelPick's top-t% pool (pixel modes); None: the top scores."""
        return getattr(self.settings, "sample_threshold", None)

    @property
    def initial_seed(self) -> int | None:
        """The seed of a sweep point's initial labels (the point's own seed), None outside a sweep."""
        sweep = self.meta.get("sweep") or {}
        return sweep.get("initial_seed")

    @property
    def pool_images(self) -> int | None:
        """The pool size the `.seg` file states (`pool { images N }`), for a plan without the data."""
        return self.meta.get("pool_images")

    def score_params(self) -> dict[str, Any]:
        """The parameters the scoring function takes (those kept in `heuristic_cfg`), defaults applied."""
        h = heuristics.spec_of(self.heuristic)
        if h.user:  # passed through as written (the module's function checks them)
            return dict(self.params)
        return {p.name: self.params[p.name] for p in h.params if p.compiled == heuristics.HEURISTIC_CFG}


_READ = frozenset(CompiledConfig.model_fields) | frozenset(MULTITASK_KEYS) | frozenset(_READ_EXTRA)


def read_config(cfg: Mapping[str, Any]) -> Contract:
    """Read a config (a plain or mmcv dict, bases merged) through the contract; ConfigError names the key."""
    cfg = {k: v for k, v in cfg.items() if k in _READ}
    if isinstance(cfg.get("data"), Mapping):  # of mmcv's data dict: the shape of `train`, the batch size
        data = cfg["data"]
        cfg["data"] = {**({"train": _shape(data["train"])} if "train" in data else {}),
                       **{k: data[k] for k in ("samples_per_gpu", "workers_per_gpu", "query_dataloader") if k in data}}
    cfg = _plain(cfg)
    runner = cfg.get("runner")
    if not isinstance(runner, dict):
        raise ConfigError(("runner",), "missing: a compiled config needs `runner = dict(type=..., sample_mode=...)`")
    for key in ("max_epochs", "max_iters"):
        if key in runner:
            raise ConfigError(("runner", key), "derived from `workflow`; remove it (the reference overwrote "
                              "max_epochs silently and raised on max_iters)")
    if runner_kind_of_type(runner.get("type")) is None:
        raise ConfigError(("runner", "type"), f"`{runner.get('type')}` is not an active-learning runner; use "
                          + " or ".join(k.type for k in RUNNER_KINDS.values()))
    top = _validate(CompiledConfig, cfg, ())
    kind = runner_kind_of_type(top.runner.type)
    mode = top.runner.sample_mode
    al = top.active_learning
    if top.runner.warmup_only and kind != "multitask":
        raise ConfigError(("runner", "warmup_only"), "belongs to MultiTaskActiveRunner")
    if kind == "multitask" and not SAMPLE_MODES[mode].multitask:
        raise ConfigError(("runner", "sample_mode"), f"MultiTaskActiveRunner samples pixels or regions, not `{mode}`")
    if kind != "multitask":
        for key in MULTITASK_KEYS:
            if key in cfg:
                raise ConfigError((key,), "read only by MultiTaskActiveRunner")
    if mode not in al.settings:
        raise ConfigError(("active_learning", "settings", mode), f"missing: runner.sample_mode is `{mode}`")
    settings = _validate(MODE_SETTINGS[mode], _plain(al.settings[mode]), ("active_learning", "settings", mode))
    if mode == "region" and not settings.sample_evenly:
        raise ConfigError(("active_learning", "settings", "region", "sample_evenly"),
                          "region sampling allocates regions per image: must be True")
    user_ok = bool(top.custom_imports and set(top.custom_imports.imports) - {RUNTIME_MODULE})
    name, params = _heuristic(al, settings, mode, kind, user_ok)
    sched = _schedule(top, cfg, kind)
    if sched.queries and budget.is_zero(settings.budget_per_round):
        raise ConfigError(("active_learning", "settings", mode, "budget_per_round"),
                          "a workflow with queries needs a positive budget")
    _check_shares(settings, sched.queries, ("active_learning", "settings", mode, "budget_per_query"))
    _check_units(cfg, sched.unit)
    _check_source_free(cfg, top.source_free)
    query_loader_settings(cfg.get("data") if isinstance(cfg.get("data"), dict) else {})
    ci = top.custom_imports
    mt = None
    if kind == "multitask":
        val = _or_default(top, "multitask_validation_iter")
        viz_dir = _or_default(top, "mae_viz_dir")
        if not viz_dir.strip():
            raise ConfigError(("mae_viz_dir",), "must be a non-empty path")
        mt = MultitaskOptions(val, val if top.mae_val_iter is None else top.mae_val_iter,
                              viz_dir, _or_default(top, "mae_viz_interval"), _or_default(top, "mae_viz_count"))
    return Contract(kind, top.runner.type, mode, settings, name, params, al.reset_each_round, al.visualize, sched,
                    top.source_free, top.scale_size, top.mask_dir or CompiledConfig.model_fields["mask_dir"].default,
                    top.load_from, top.seed, top.deterministic, tuple(ci.imports) if ci else (), mt,
                    dict(top.segal_meta), bool(ci and ci.allow_failed_imports), _batch_size(cfg),
                    reference=al.reference)


def _heuristic(al: ActiveLearning, settings: Section, mode: str, kind: str,
               user_ok: bool = False) -> tuple[str, dict[str, Any]]:
    h = heuristics.lookup(al.heuristic)
    if h is None and user_ok:  # a user heuristic: the runtime looks it up after the imports (configfile.py)
        h = heuristics.spec_of(al.heuristic)
        for h2 in heuristics.HEURISTICS.values():
            for p in h2.params:
                if p.compiled == heuristics.MODE_SETTINGS and getattr(settings, p.key, None) is not None:
                    raise ConfigError(("active_learning", "settings", mode, p.key),
                                      f"read only with heuristic `{h2.name}`")
        return h.name, dict(al.heuristic_cfg)
    if h is None:
        raise ConfigError(("active_learning", "heuristic"), f"unknown heuristic `{al.heuristic}`; expected one of: "
                          + ", ".join(heuristics.HEURISTIC_NAMES))
    if mode not in h.modes:
        raise ConfigError(("active_learning", "heuristic"), f"`{h.name}` works in {' or '.join(h.modes)} "
                          f"sampling only, not `{mode}`")
    if h.runner is not None and kind != h.runner:
        raise ConfigError(("active_learning", "heuristic"), f"`{h.name}` needs the {h.runner} runner "
                          f"({RUNNER_KINDS[h.runner].type})")
    in_cfg = {p.key: p.name for p in h.params if p.compiled == heuristics.HEURISTIC_CFG}
    for key in al.heuristic_cfg:
        if key not in in_cfg:
            takes = ", ".join(sorted(in_cfg)) or "nothing"
            raise ConfigError(("active_learning", "heuristic_cfg", key), f"`{h.name}` does not take it (takes: {takes})")
    stated: dict[str, Any] = {in_cfg[k]: v for k, v in al.heuristic_cfg.items()}
    for h2 in heuristics.HEURISTICS.values():
        for p in h2.params:
            if p.compiled != heuristics.MODE_SETTINGS:
                continue
            value = getattr(settings, p.key, None)
            if value is None:
                continue
            if h2.name != h.name:
                raise ConfigError(("active_learning", "settings", mode, p.key), f"read only with heuristic `{h2.name}`")
            stated[p.name] = value
    params = _validate(heuristics.params_model(h.name), stated, ("active_learning", "heuristic_cfg"))
    for p in h.params:
        for other in p.conflicts:
            key = SAMPLE_SETTINGS[mode].get(other)
            if p.name in stated and key is not None and getattr(settings, key, None) is not None:
                raise ConfigError(("active_learning", "settings", mode, p.key),
                                  f"cannot be combined with {key}: keep one of them")
    return h.name, params.model_dump()


def _schedule(top: CompiledConfig, cfg: dict, kind: str) -> schedule.Schedule:
    try:
        return schedule.read_schedule(top.workflow, top.runner.sample_rounds, top.runner.schedule_unit,
                                      _or_default(top, "mae_warmup_epochs"), top.runner.warmup_only)
    except schedule.WorkflowError as err:
        raise ConfigError(("workflow",), str(err)) from None


def _check_shares(settings: Section, queries: int, where: tuple) -> None:
    """`budget_per_query`: one positive budget per query, the first the `budget_per_round` the reference reads."""
    shares = settings.budget_per_query
    if shares is None:
        return
    if len(shares) != queries:
        raise ConfigError(where, f"{len(shares)} entries, but the workflow has {queries} queries")
    if shares and shares[0] != settings.budget_per_round:
        raise ConfigError(where, f"the first entry {shares[0]!r} must equal budget_per_round "
                          f"{settings.budget_per_round!r} (what the reference buys at every query)")
    zero = next((k for k, spec in enumerate(shares, 1) if budget.is_zero(spec)), None)
    if zero is not None:
        raise ConfigError((*where, zero - 1), f"query {zero} buys nothing: every query needs a positive budget")


def _check_units(cfg: dict, unit: str) -> None:
    """Iteration schedules count hooks by iteration: an epoch-based eval/checkpoint/LR policy would misfire."""
    if unit != "iters":
        return
    for key in ("evaluation", "checkpoint_config"):
        sub = cfg.get(key)
        if isinstance(sub, dict) and sub.get("by_epoch") is True and sub.get("interval") is not None:
            raise ConfigError((key, "by_epoch"), "must be False with runner.schedule_unit='iters'")
    lr = cfg.get("lr_config")
    if isinstance(lr, dict) and lr and lr.get("by_epoch", True):
        raise ConfigError(("lr_config", "by_epoch"), "must be False with runner.schedule_unit='iters' "
                          "(mmcv's default is True)")


QUERY_LOADER = {"samples_per_gpu": 1, "workers_per_gpu": 0, "pin_memory": None}  # data.query_dataloader's keys


def query_loader_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The query loader's settings (runtime/loaders.py): `data.query_dataloader` over the data-level
    `workers_per_gpu`, as mmseg 0.30 merges `data.val_dataloader` for its validation loader; by default one image
    per batch (mmseg's default for test-pipeline loaders). `pin_memory` None: on when the model is on CUDA."""
    own = data.get("query_dataloader") or {}
    if not isinstance(own, Mapping):
        raise ConfigError(("data", "query_dataloader"), f"must be a dict of {', '.join(QUERY_LOADER)}")
    unknown = sorted(set(own) - set(QUERY_LOADER))
    if unknown:
        raise ConfigError(("data", "query_dataloader", unknown[0]), f"unknown key; expected one of {', '.join(QUERY_LOADER)}")
    out = {**QUERY_LOADER, "workers_per_gpu": data.get("workers_per_gpu", 0), **own}
    for key, low in (("samples_per_gpu", 1), ("workers_per_gpu", 0)):  # data.workers_per_gpu is mmseg's to check
        v = out[key]
        if key in own and (isinstance(v, bool) or not isinstance(v, int) or v < low):
            raise ConfigError(("data", "query_dataloader", key), f"must be an int >= {low}, got {v!r}")
    if out["pin_memory"] is not None and not isinstance(out["pin_memory"], bool):
        raise ConfigError(("data", "query_dataloader", "pin_memory"), f"must be true or false, got {out['pin_memory']!r}")
    return out


def _check_source_free(cfg: dict, source_free: bool) -> None:
    data = cfg.get("data")
    train = data.get("train") if isinstance(data, dict) else None
    if train is None:
        return
    if not source_free and not (isinstance(train, (list, tuple)) and len(train) == 2):
        raise ConfigError(("data", "train"), "source_free=False (ADA) needs data.train = [source, target]")
    if source_free and isinstance(train, (list, tuple)):
        raise ConfigError(("data", "train"), "a list of datasets needs source_free=False (ADA: [source, target])")


# ---- helpers ----------------------------------------------------------------------------------------------
def _batch_size(cfg: dict) -> int | None:
    """`data.samples_per_gpu` when it is a positive int (mmseg checks it when it builds the loaders)."""
    value = cfg.get("data", {}).get("samples_per_gpu") if isinstance(cfg.get("data"), dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _or_default(top: CompiledConfig, key: str):
    """A key the config sets to None (mmcv's `--cfg-options key=None`) means its default."""
    value = getattr(top, key)
    return CompiledConfig.model_fields[key].default if value is None else value


def _shape(train: Any) -> Any:
    """`data.train` as `_check_source_free` sees it: one dataset, or a list of how many."""
    if isinstance(train, (list, tuple)):
        return [{} for _ in train]
    return {} if isinstance(train, Mapping) else train


def _plain(value: Any) -> Any:
    """mmcv ConfigDicts and other mappings as plain dicts (tuples stay tuples: the workflow needs them)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _validate(model: type[BaseModel], data: Any, prefix: tuple):
    if not isinstance(data, dict):
        raise ConfigError(prefix, f"must be a dict, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-", "json-or"))))
        message = first["msg"]
        if first["type"] == "missing":
            message = "missing"
        elif first["type"] == "extra_forbidden":
            message = "not a key of this section: " + ", ".join(f"`{k}`" for k in _known(model))
        elif "input" in first and first["type"] != "value_error":
            message += f" (got {first['input']!r})"[:120]
        raise ConfigError((*prefix, *_field_path(loc)), message) from None


def _field_path(loc: tuple) -> tuple:
    # validation errors add union member names (`int`, `tuple[...]`) to locations; keep the keys only
    out: list = []
    for p in loc:
        if isinstance(p, str) and ("[" in p or p in ("int", "float", "bool", "str")):
            continue
        out.append(p)
    return tuple(out)


@cache
def _known(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)



# ---- docs/compiled-config.md, generated from the models above ---------------------------------------------
def _schema_type(prop: dict, defs: dict) -> str:
    if "anyOf" in prop:
        return " \\| ".join(_schema_type(p, defs) for p in prop["anyOf"])
    if "$ref" in prop:
        return "dict: " + prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop or "const" in prop:
        return " \\| ".join(f"`{v!r}`" for v in prop.get("enum", [prop.get("const")]))
    kind = {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "array": "list/tuple",
            "object": "dict", "null": "None"}.get(prop.get("type"), "any")
    bounds = [f"{sym} {prop[k]}" for k, sym in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                ("exclusiveMaximum", "<")) if k in prop]
    if kind == "list/tuple" and "prefixItems" in prop:
        kind = "(" + ", ".join(_schema_type(p, defs) for p in prop["prefixItems"]) + ")"
    return kind + (" " + ", ".join(bounds) if bounds else "")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    rows = []
    for name, info in model.model_fields.items():
        prop = schema["properties"][name]
        typed = any(k in prop for k in ("type", "anyOf", "$ref", "enum", "const"))
        kind = _schema_type(prop, defs) if typed else "BudgetSpec" if "budget" in name or "initial" in name else "any"
        if name == "workflow":
            kind = "list of rounds"
        default = "required" if info.is_required() else f"`{info.default!r}`"
        meaning = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | {kind} | {default} | {meaning} |")
    return rows


def render_contract_table() -> str:
    """The key table of docs/compiled-config.md (a test keeps the file in sync; `make docs` rewrites it)."""
    out = ["| key | type | default | meaning |", "|---|---|---|---|"]
    out += _rows(CompiledConfig, "")
    out += _rows(Runner, "runner.")
    out += _rows(ActiveLearning, "active_learning.")
    for mode, model in MODE_SETTINGS.items():
        out += _rows(model, f"active_learning.settings.{mode}.")
    out += _rows(Visualize, "active_learning.visualize.")
    for h in heuristics.HEURISTICS.values():
        cfg = [p for p in h.params if p.compiled == heuristics.HEURISTIC_CFG]
        if cfg:
            params = heuristics.params_model(h.name)
            rows = _rows(params, "active_learning.heuristic_cfg.")
            names = {p.name: p.key for p in cfg}
            out += [r.replace(f"heuristic_cfg.{n}`", f"heuristic_cfg.{k}` ({h.name})") for r in rows
                    for n, k in names.items() if f"heuristic_cfg.{n}`" in r]
    return "\n".join(out) + "\n"
