# Tiny UNet + FCN head on the synthetic toy data (segal_dsl/runtime/toy): trains on a 2-core CPU in
# seconds per epoch. A plain mmseg 0.30 config; the compiled .seg config lists it in `_base_`.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    pretrained=None,
    backbone=dict(
        type='UNet', in_channels=3, base_channels=8, num_stages=3, strides=(1, 1, 1),
        enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1), downsamples=(True, True),
        enc_dilations=(1, 1, 1), dec_dilations=(1, 1), with_cp=False, conv_cfg=None,
        norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'), upsample_cfg=dict(type='InterpConv'),
        norm_eval=False),
    decode_head=dict(
        type='FCNHead', in_channels=8, in_index=2, channels=16, num_convs=1, concat_input=False,
        dropout_ratio=0.0, num_classes=5, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

dataset_type = 'SegalToyDataset'
data_root = 'auto'  # generated on first use under $SEGAL_TOY_DIR or ~/.cache/segal-dsl
img_norm_cfg = dict(mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the runtime masks unlabelled pixels here, before any geometry
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug', img_scale=(64, 64), flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ]),
]
data = dict(
    samples_per_gpu=8,
    workers_per_gpu=0,        # 0 workers: no ~1 s worker start-up per tiny epoch
    persistent_workers=False,  # mmseg's loader default (True) fails with 0 workers
    train=dict(type=dataset_type, data_root=data_root, img_dir='img_dir/train',
               ann_dir='ann_dir/train', pipeline=train_pipeline),
    query=dict(type=dataset_type, data_root=data_root, img_dir='img_dir/train',
               ann_dir='ann_dir/train', pipeline=test_pipeline),
    val=dict(type=dataset_type, data_root=data_root, img_dir='img_dir/val',
             ann_dir='ann_dir/val', pipeline=test_pipeline),
    test=dict(type=dataset_type, data_root=data_root, img_dir='img_dir/val',
              ann_dir='ann_dir/val', pipeline=test_pipeline))

optimizer = dict(type='AdamW', lr=0.01, weight_decay=0.0001)
optimizer_config = dict()
lr_config = dict(policy='poly', power=0.9, min_lr=1e-5, by_epoch=False)
checkpoint_config = None           # the AL runner checkpoints every step for --resume anyway
evaluation = dict(metric='mIoU', pre_eval=True)   # no interval: evaluated at the end of each round
log_config = dict(interval=10, hooks=[dict(type='TextLoggerHook', by_epoch=True)])
dist_params = dict(backend='gloo')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
cudnn_benchmark = False
