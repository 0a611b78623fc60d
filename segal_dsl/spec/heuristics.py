"""The acquisition heuristics and their parameters: names, types, ranges, defaults, where they are compiled.

The front end validates `heuristic <name> { … }` against these declarations, the compiler writes the
parameters where `compiled` says, the importer reads them back from there, and the runtime checks the
compiled config against the same models before it scores anything. The scoring functions themselves are
in `segal_dsl/runtime/heuristics.py` (torch); adding a heuristic means one entry here and one function
there (CONTRIBUTING.md, "Adding a heuristic").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from segal_dsl.spec.modes import MODE_NAMES
from segal_dsl.spec.typed import BaseModel, ConfigDict, Field, create_model

HEURISTIC_CFG = "heuristic_cfg"   # active_learning.heuristic_cfg: the parameters of `ripu` and `mps`
MODE_SETTINGS = "settings"        # active_learning.settings.<mode>: where `entropy_prop` lives


@dataclass(frozen=True)
class Param:
    """One parameter of a heuristic."""

    name: str                     # as written in `heuristic <name> { <param> … }`
    kind: str                     # "int", "float", "bool", "size" (an int, or a pair of ints), "choice"
    default: Any                  # None: not set (the heuristic works it out, e.g. from the model)
    doc: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    compiled: str = HEURISTIC_CFG  # HEURISTIC_CFG, or MODE_SETTINGS (under `compiled_name`)
    compiled_name: str | None = None
    modes: tuple[str, ...] = MODE_NAMES  # sample modes it applies to
    choices: tuple[str, ...] = ()        # the words a "choice" parameter takes
    conflicts: tuple[str, ...] = ()      # `sample` settings it cannot be combined with

    @property
    def key(self) -> str:
        """The key in the compiled config."""
        return self.compiled_name or self.name


@dataclass(frozen=True)
class Heuristic:
    """One heuristic: higher score = more informative; what it needs and which parameters it takes."""

    name: str
    doc: str
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    runner: str | None = None     # a runner kind it needs (`mps` needs the multitask runner's MAE decoder)
    uninformed: bool = False      # its scores say nothing about the pixels (a `threshold` over them changes nothing)
    source: str = ""              # where the method comes from
    user: bool = False            # registered at run time by a module of `imports`, unknown to the front end
    modes: tuple[str, ...] = MODE_NAMES  # sample modes it works in (`kcenter` picks whole images)
    needs_dropout: bool = False   # MC dropout: the model needs a dropout layer with p > 0 (SEG232)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


_RIPU_PARAMS = (
    Param("k", "int", 1, "the region is the (2k+1)x(2k+1) window around each pixel", ge=0, le=256),
    Param("use_entropy", "bool", True, "multiply region impurity by the window's mean prediction entropy"),
    Param("categories", "int", None, "classes used to normalise the entropies; default: the model's classes", ge=2),
)

HEURISTICS: dict[str, Heuristic] = {h.name: h for h in (
    Heuristic("random", "uniform random scores (a seeded baseline)", uninformed=True),
    Heuristic("entropy", "prediction entropy -Σ p log p of each pixel", (
        Param("prop", "float", None, "pixel mode: this share of the quota by entropy, the rest uniformly at random",
              gt=0, le=1, compiled=MODE_SETTINGS, compiled_name="entropy_prop", modes=("pixel",),
              conflicts=("threshold",)),
    )),
    Heuristic("margin", "1 - (p1 - p2): the smallest gap between the two most likely classes (float64)"),
    Heuristic("least_confidence", "1 - max p: the flattest posterior", aliases=("least-confidence",)),
    Heuristic("ripu", "region impurity x prediction uncertainty", _RIPU_PARAMS + (
        Param("form", "choice", None, "`pixel`: the pixel's own entropy (RIPU's PA score), `region`: the window's "
              "mean entropy (RA); default: `region`, the score the reference uses in every mode (an imported "
              "config keeps its meaning)", choices=("pixel", "region")),
    ),
              source="Xie et al., Towards Fewer Annotations: Active Learning via Region Impurity and Prediction "
                     "Uncertainty for Domain Adaptive Semantic Segmentation, CVPR 2022"),
    Heuristic("mps", "RIPU mixed with the MAE reconstruction error of each patch", _RIPU_PARAMS + (
        Param("crop_size", "size", None, "the crop the MAE decoder scores, HxW (or one side), slid over the image",
              gt=0),
        Param("mix_factor", "float", 0.8, "weight of the RIPU score added to the reconstruction error", ge=0, le=1),
        Param("exploration", "choice", None, "the reference's `pixel`-branch form: `constant` scores by the "
              "reconstruction error alone, `linear` mixes (1-m)·RIPU + m·error with m falling from 0.8 at the first "
              "query to 0 at the last; replaces `mix_factor`", compiled_name="expl_schedule",
              choices=("constant", "linear")),
    ), runner="multitask"),
    Heuristic("bald", "MC dropout: mutual information H(mean p) - mean H(p) over N passes with dropout on", (
        Param("passes", "int", 10, "stochastic forward passes with the model's dropout layers on", ge=2, le=1000),
    ), needs_dropout=True, source="Houlsby et al., Bayesian Active Learning for Classification and Preference Learning, 2011; "
              "Gal, Islam, Ghahramani, Deep Bayesian Active Learning with Image Data, ICML 2017"),
    Heuristic("variation_ratio", "MC dropout: 1 - (passes voting for the modal class) / N", (
        Param("passes", "int", 10, "stochastic forward passes with the model's dropout layers on", ge=2, le=1000),
    ), needs_dropout=True, source="Freeman, Elementary Applied Statistics, 1965; Gal, Islam, Ghahramani, ICML 2017"),
    Heuristic("kcenter", "image sampling: k-center greedy (core-set) over the decoder features pooled per image",
              modes=("image",), source="Sener, Savarese, Active Learning for Convolutional Neural Networks: "
              "A Core-Set Approach, ICLR 2018"),
    Heuristic("badge", "image sampling: k-means++ seeding over gradient embeddings of the decoder's classifier",
              modes=("image",), source="Ash et al., Deep Batch Active Learning by Diverse, Uncertain Gradient "
              "Lower Bounds (BADGE), ICLR 2020"),
)}
HEURISTIC_NAMES: tuple[str, ...] = tuple(HEURISTICS)


def lookup(name: str) -> Heuristic | None:
    """A heuristic by name or alias (`least-confidence`), else None."""
    if name in HEURISTICS:
        return HEURISTICS[name]
    return next((h for h in HEURISTICS.values() if name in h.aliases), None)


def spec_of(name: str) -> Heuristic:
    """A built-in heuristic by name or alias, else a user heuristic: one a module of `imports` registers at run
    time with `segal_dsl.runtime.heuristics.register` (its parameters are the module's business)."""
    h = lookup(name)
    return h if h is not None else Heuristic(name, "a heuristic registered by a module of `imports`", user=True)


def canonical_name(name: str) -> str:
    h = lookup(name)
    return h.name if h is not None else name


def score_form(heuristic: str, params: dict[str, Any], mode: str) -> str | None:
    """The score form a heuristic with a `form` parameter uses: the stated one, else `region` in every sample
    mode. The reference (and every config written for it) scores RIPU with the region form in pixel
    sampling too, so RIPU's PA score is asked for by name (`form pixel`), never implied by the mode."""
    h = spec_of(heuristic)
    if h.param("form") is None:
        return None
    stated = params.get("form")
    return stated if stated is not None else "region"


def takers(param: str) -> list[str]:
    """Heuristics that take a parameter of this name, in catalogue order."""
    return [h.name for h in HEURISTICS.values() if h.param(param) is not None]


# ---- typed models (spec/typed.py), shared by the front end and the runtime's config contract -----------------
_KINDS = {"int": int, "float": float, "bool": bool}


def annotation(p: Param) -> Any:
    """The type of a parameter: its kind, its range, and None allowed when it has no default."""
    if p.kind == "size":
        size = Annotated[int, Field(gt=0)]
        base: Any = size | tuple[size, size]
    elif p.kind == "choice":
        base = Literal[p.choices]  # type: ignore[valid-type]
    else:
        bounds = {k: getattr(p, k) for k in ("ge", "gt", "le", "lt") if getattr(p, k) is not None}
        base = Annotated[_KINDS[p.kind], Field(**bounds)] if bounds else _KINDS[p.kind]
    return base | None if p.default is None else base


@cache
def params_model(name: str) -> type[BaseModel]:
    """A strict model of one heuristic's parameters (unknown names rejected, defaults filled)."""
    h = spec_of(name)
    fields = {p.name: (annotation(p), Field(default=p.default, description=p.doc)) for p in h.params}
    # a user heuristic's parameters are passed through as written: only its own module knows them
    model = create_model(f"{name.title().replace('_', '')}Params",
                         __config__=ConfigDict(strict=True, extra="allow" if h.user else "forbid", frozen=True),
                         **fields)
    model.__doc__ = f"The parameters of the `{name}` heuristic ({h.doc})."
    return model


def compiled_params(name: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stated parameters -> (heuristic_cfg entries, settings entries), named as the compiled config names them."""
    h = spec_of(name)
    cfg: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    if h.user:  # all of them to heuristic_cfg, as written
        return {k: v for k, v in params.items() if v is not None}, settings
    for p in h.params:
        if p.name in params and params[p.name] is not None:
            value = params[p.name]
            value = float(value) if p.kind == "float" else value
            (cfg if p.compiled == HEURISTIC_CFG else settings)[p.key] = value
    return cfg, settings
