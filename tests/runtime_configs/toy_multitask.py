# Hand-written config in the format of docs/compiled-config.md for the multitask runner (tiny ViT +
# MAE decoder on the toy data); tests/test_runtime_multitask.py overrides the schedule per test.
_base_ = ['../../segal_dsl/runtime/toy/configs/toy_vit_multitask.py']
custom_imports = dict(imports=['segal_dsl.runtime'], allow_failed_imports=False)
load_from = None
seed = 0
source_free = True
active_learning = dict(
    settings=dict(
        pixel=dict(
            initial_label_pixels=dict(value=1.0, unit='%/img'),
            budget_per_round=dict(value=1.0, unit='%/img'),
            sample_evenly=True,
            ignore_index=255,
        ),
    ),
    heuristic='mps',
    heuristic_cfg=dict(k=1, use_entropy=True, categories=5, crop_size=64, mix_factor=0.8),
    reset_each_round=False,
)
workflow = [
    (('train', 2), ('query', 1)),
    (('train', 2), ('query', 1)),
    (('train', 2),),
]
runner = dict(type='MultiTaskActiveRunner', sample_mode='pixel', sample_rounds=2)
log_config = dict(interval=5, hooks=[dict(type='TextLoggerHook')])
mask_dir = 'masks'
mae_viz_dir = 'reconstructed_images'
mae_warmup_epochs = 2
multitask_validation_iter = 2
mae_viz_interval = 4
mae_viz_count = 2
segal_meta = dict(experiment='toy_multitask', source='examples/toy_multitask.seg', source_sha256='', version='0.1.0')
