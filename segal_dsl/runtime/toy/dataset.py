"""`SegalToyDataset`: mmseg CustomDataset over the synthetic toy data, generated on first use."""

from __future__ import annotations

import os.path as osp

from mmseg.datasets import DATASETS, CustomDataset

from . import generate


@DATASETS.register_module()
class SegalToyDataset(CustomDataset):
    """`data_root=None` (or 'auto') means the cache directory of `generate.default_root(variant)`;
    `variant` names an entry of `generate.VARIANTS` (`easy`, `hard`), whose classes this dataset has."""

    CLASSES = generate.CLASSES
    PALETTE = [list(c) for c in generate.PALETTE]

    def __init__(self, data_root=None, img_suffix=generate.SUFFIX, seg_map_suffix=generate.SUFFIX,
                 variant="easy", **kwargs):
        if variant not in generate.VARIANTS:
            raise ValueError(f"SegalToyDataset: unknown variant {variant!r} (one of {', '.join(generate.VARIANTS)})")
        v = generate.VARIANTS[variant]
        self.variant = variant
        # mmseg's CustomDataset reads CLASSES/PALETTE from the instance when `classes` is not given
        self.CLASSES, self.PALETTE = v.classes, [list(c) for c in v.palette]
        root = generate.ensure(None if data_root in (None, "auto") else data_root, variant=variant)
        super().__init__(
            data_root=str(root), img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs
        )


def config_path() -> str:
    """Absolute path of the tiny model + data base config shipped with the package."""
    return osp.join(osp.dirname(__file__), "configs", "toy_unet.py")
