"""Sample modes and runner kinds: what each buys, which budget units it takes, which runner runs it.

The front end (which `sample` settings and units a mode accepts), the importer (which legacy modes exist)
and the runtime (how a query is counted) all read these two tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from segal_dsl.spec.budget import UNITS


@dataclass(frozen=True)
class SampleMode:
    """One way of buying labels: whole images, single pixels, square regions around a pixel, or superpixels."""

    name: str                 # the word after `sample`, and `runner.sample_mode` in the compiled config
    counts: str               # "images" or "px": what the label state counts (superpixel budgets count superpixels)
    settings: dict[str, str]  # `sample <mode> { key … }` -> the key of `active_learning.settings.<mode>` it writes
    multitask: bool           # whether the multitask runner can sample this way
    doc: str

    @property
    def units(self) -> tuple[str, ...]:
        """The budget units this mode takes (each unit says its modes: spec/budget.py)."""
        return tuple(u.key for u in UNITS.values() if self.name in u.modes)


_PIXEL_SETTINGS = {"initial": "initial_label_pixels", "budget": "budget_per_round", "threshold": "sample_threshold",
                   "evenly": "sample_evenly", "ignore_index": "ignore_index", "exclude_void": "exclude_void"}
# RIPU's pixel selection (PA): no pick within r of an earlier one; kept across queries or not (docs/strategies.md)
_SUPPRESS_SETTINGS = {"suppress": "suppress_radius", "keep_suppressed": "suppress_across_rounds"}
# Class-balanced pixel selection (CBAL's balance objective, Bengar et al. 2022): each image's quota spread over
# its predicted classes (docs/strategies.md)
_BALANCE_SETTINGS = {"class_balanced": "sample_class_balanced"}
# Superpixels (Cai et al. 2021, D2ADA): SLIC's segment count and compactness; `label dominant|full` (docs/strategies.md)
_SUPERPIXEL_SETTINGS = {"segments": "superpixel_segments", "compactness": "superpixel_compactness",
                        "label": "superpixel_label"}
SUPERPIXEL_LABELS: tuple[str, ...] = ("dominant", "full")  # the superpixel's majority class, or its ground truth
SAMPLE_MODES: dict[str, SampleMode] = {m.name: m for m in (
    SampleMode("image", "images", {"initial": "initial_pool", "budget": "budget_per_round"}, False,
               "whole images are labelled; budgets count images"),
    SampleMode("pixel", "px", {**_PIXEL_SETTINGS, **_SUPPRESS_SETTINGS, **_BALANCE_SETTINGS}, True,
               "single pixels are labelled; budgets count pixels"),
    SampleMode("region", "px", {**_PIXEL_SETTINGS, "radius": "radius"}, True,
               "square (2r+1)x(2r+1) regions around the chosen pixels are labelled; budgets count pixels"),
    SampleMode("superpixel", "px", {k: v for k, v in _PIXEL_SETTINGS.items() if k != "threshold"} | _SUPERPIXEL_SETTINGS,
               False, "SLIC superpixels are labelled, fully or with their dominant class (one click); budgets count "
               "superpixels"),
)}
MODE_NAMES: tuple[str, ...] = tuple(SAMPLE_MODES)


@dataclass(frozen=True)
class RunnerKind:
    """An active-learning runner: the `.seg` word and the name it is registered under in mmcv's RUNNERS."""

    name: str   # `runner active` / `runner multitask`
    type: str   # `runner.type` in the compiled config
    doc: str


RUNNER_KINDS: dict[str, RunnerKind] = {k.name: k for k in (
    RunnerKind("active", "ActiveLearningRunner", "train -> query -> label -> retrain"),
    RunnerKind("multitask", "MultiTaskActiveRunner",
               "as `active`, with MAE reconstruction trained alongside segmentation"),
)}
RUNNER_NAMES: tuple[str, ...] = tuple(RUNNER_KINDS)


def runner_kind_of_type(type_name: object) -> str | None:
    """`ActiveLearningRunner` -> `active`; None for any other (non active-learning) runner type."""
    return next((k.name for k in RUNNER_KINDS.values() if k.type == type_name), None)

# A sweep's reference points (`sweep { … reference full }`): `full` trains on every pool label from round 0 for
# the same schedule and buys nothing; `segal report` draws it as the ceiling (frontend/sweep.py, runtime/runner.py).
REFERENCES: tuple[str, ...] = ("full",)
