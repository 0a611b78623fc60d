# ViT-B/16 multitask model of the reference's MAE runs (segal/method/*, almma/scripts/multitask.py):
# a ViT-B/16 encoder (img_size 384, no class token) shared by a linear segmentation head (Segmenter-
# linear style FCNHead) and an 8-layer, 512-d MAE decoder predicting 16x16x3 patch pixels; masked-patch
# reconstruction loss weighted 15 against segmentation; half the patches masked. Weights come from
# `load_from` (an MAE-pretrained ViT-B converted to mmseg keys, or a warm-up checkpoint), so nothing is
# downloaded. Optimisation follows the reference recipe: AdamW, backbone and MAE decoder at 0.1x LR,
# poly decay with a linear warm-up, by iteration.
norm_cfg = dict(type='LN', eps=1e-6)
model = dict(
    type='MultiTaskSegmentor',
    pretrained=None,
    backbone=dict(
        type='SharedVisionTransformer', img_size=(384, 384), patch_size=16, in_channels=3, embed_dims=768,
        num_layers=12, num_heads=12, mlp_ratio=4, out_indices=-1, qkv_bias=True, drop_rate=0.0,
        attn_drop_rate=0.0, drop_path_rate=0.1, with_cls_token=False, final_norm=True, norm_cfg=norm_cfg,
        act_cfg=dict(type='GELU'), interpolate_mode='bicubic'),
    decode_head=dict(
        type='FCNHead', in_channels=768, in_index=0, channels=768, num_convs=0, kernel_size=1,
        concat_input=False, dropout_ratio=0.0, num_classes=19, norm_cfg=None, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    mae_head=dict(
        type='MAEDecoderHead', embed_dims=512, num_layers=8, num_heads=16, mlp_ratio=4, norm_pix_loss=False,
        loss_rec=dict(type='ReconstructionLoss', loss_weight=15.0)),
    mae_config=dict(mask_ratio=0.5),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(384, 384), stride=(256, 256)))
optimizer = dict(
    type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.01,
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.1), mae_head=dict(lr_mult=0.1),
                                        pos_embed=dict(decay_mult=0.0), norm=dict(decay_mult=0.0))))
optimizer_config = dict()
lr_config = dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False,
                 warmup='linear', warmup_iters=1500, warmup_ratio=1e-6)
