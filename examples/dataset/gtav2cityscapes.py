# GTAV -> Cityscapes active domain adaptation (the reference's dataset/gtav2cityscapes.py), mmseg 0.30 layout:
#   data/gtav/images/*.png, data/gtav/labels/*_labelTrainIds.png   (24,966 frames; labels mapped to the
#       19 Cityscapes train ids, e.g. with mmseg's tools/convert_datasets/gta.py conventions)
#   data/cityscapes/leftImg8bit/{train,val}/..., data/cityscapes/gtFine/{train,val}/...*_labelTrainIds.png
# data.train = [source (fully labelled), target (labels bought by the queries)], so this file sets
# `source_free = False`, as the reference's data files do; an experiment on it inherits that. data.query is the target train split through the test pipeline at the mask
# resolution 1280x640, which must equal the experiment's `pool { resolution 1280x640 }`.
source_type = 'GTAVDataset'          # registered by experiments/_base_/dataset_gtav.py (`imports`)
target_type = 'CityscapesDataset'
source_free = False                  # ADA: data.train below is [source, target]
gtav_root = 'data/gtav/'
cityscapes_root = 'data/cityscapes/'
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
crop_size = (512, 512)
pool_scale = (1280, 640)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=pool_scale, ratio_range=(0.5, 2.0)),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=pool_scale,
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ]),
]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=4,
    train=[
        dict(type=source_type, data_root=gtav_root, img_dir='images', ann_dir='labels', pipeline=train_pipeline),
        dict(type=target_type, data_root=cityscapes_root, img_dir='leftImg8bit/train', ann_dir='gtFine/train',
             pipeline=train_pipeline),
    ],
    query=dict(type=target_type, data_root=cityscapes_root, img_dir='leftImg8bit/train', ann_dir='gtFine/train',
               pipeline=test_pipeline),
    val=dict(type=target_type, data_root=cityscapes_root, img_dir='leftImg8bit/val', ann_dir='gtFine/val',
             pipeline=test_pipeline),
    test=dict(type=target_type, data_root=cityscapes_root, img_dir='leftImg8bit/val', ann_dir='gtFine/val',
              pipeline=test_pipeline),
)
