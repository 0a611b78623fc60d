# Tiny ViT (patch 8 on 64x64: an 8x8 token grid, dim 64, 3 layers) shared by a linear-ish segmentation
# head and a 1-layer MAE decoder, on the synthetic toy data: the multitask runner's CPU example.
# Data, pipelines and hooks come from toy_unet.py; the model is replaced whole (_delete_).
_base_ = ['./toy_unet.py']
model = dict(
    _delete_=True,
    type='MultiTaskSegmentor',
    pretrained=None,
    backbone=dict(
        type='SharedVisionTransformer', img_size=(64, 64), patch_size=8, in_channels=3, embed_dims=64,
        num_layers=3, num_heads=4, mlp_ratio=2, out_indices=-1, qkv_bias=True, drop_rate=0.0,
        attn_drop_rate=0.0, drop_path_rate=0.0, with_cls_token=False, final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6), act_cfg=dict(type='GELU'), interpolate_mode='bicubic'),
    decode_head=dict(
        type='FCNHead', in_channels=64, in_index=0, channels=64, num_convs=1, kernel_size=3,
        concat_input=False, dropout_ratio=0.0, num_classes=5, norm_cfg=None, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    mae_head=dict(
        type='MAEDecoderHead', embed_dims=64, num_layers=1, num_heads=4, mlp_ratio=2,
        norm_pix_loss=False, loss_rec=dict(type='ReconstructionLoss', loss_weight=1.0)),
    mae_config=dict(mask_ratio=0.5),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
optimizer = dict(type='AdamW', lr=0.001, weight_decay=0.01)
