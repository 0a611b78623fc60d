"""GTAV (Richter et al., 2016) in the Cityscapes train-id label space, registered with mmseg.

The reference imported this module through `custom_imports` (`experiments._base_.dataset_gtav`); the
experiments here keep that name, so run them from this folder (or put it on PYTHONPATH).
"""

from mmseg.datasets.builder import DATASETS
from mmseg.datasets.cityscapes import CityscapesDataset
from mmseg.datasets.custom import CustomDataset


@DATASETS.register_module(force=True)
class GTAVDataset(CustomDataset):
    """`images/00001.png` with `labels/00001_labelTrainIds.png` (19 Cityscapes classes, 255 = ignore)."""

    CLASSES = CityscapesDataset.CLASSES
    PALETTE = CityscapesDataset.PALETTE

    def __init__(self, img_suffix=".png", seg_map_suffix="_labelTrainIds.png", **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=False, **kwargs)
