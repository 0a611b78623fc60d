"""Multitask active learning: a ViT encoder shared by segmentation and MAE reconstruction (issue 6).

Importing this package registers with mmseg/mmcv: `SharedVisionTransformer` (BACKBONES),
`MAEDecoderHead` (HEADS), `ReconstructionLoss` (LOSSES), `MultiTaskSegmentor` (SEGMENTORS),
`MultiTaskActiveRunner` (RUNNERS), and the `mps` heuristic in the runtime's heuristic registry.
"""

from . import backbone, heuristic, loss, mae_head, segmentor  # noqa: F401  (registry side effects)
from .runner import MultiTaskActiveRunner  # noqa: F401
