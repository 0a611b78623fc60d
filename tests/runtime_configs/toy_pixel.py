# Hand-written config in the format of docs/compiled-config.md (what `segal compile` emits), used by
# tests/test_runtime_*.py until the front end compiles examples/toy_pixel.seg.
_base_ = ['../../segal_dsl/runtime/toy/configs/toy_unet.py']
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
    heuristic='entropy',
    reset_each_round=False,
    visualize=dict(size=3, overlay=True, dir='viz'),
)
workflow = [
    (('train', 2), ('query', 1)),
    (('train', 2), ('query', 1)),
    (('train', 2),),
]
runner = dict(type='ActiveLearningRunner', sample_mode='pixel', sample_rounds=2)
log_config = dict(interval=5, hooks=[dict(type='TextLoggerHook')])
mask_dir = 'masks'
segal_meta = dict(experiment='toy_pixel', source='examples/toy_pixel.seg', source_sha256='', version='0.1.0')
