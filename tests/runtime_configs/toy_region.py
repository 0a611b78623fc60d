# Hand-written config in the compiled format (docs/compiled-config.md): region mode, RIPU, reset each round.
_base_ = ['../../segal_dsl/runtime/toy/configs/toy_unet.py']
custom_imports = dict(imports=['segal_dsl.runtime'], allow_failed_imports=False)
load_from = None
seed = 0
source_free = True
active_learning = dict(
    settings=dict(
        region=dict(
            initial_label_pixels=0,
            budget_per_round=dict(value=4, unit='regions/img'),
            sample_evenly=True,
            ignore_index=255,
            radius=1,
        ),
    ),
    heuristic='ripu',
    heuristic_cfg=dict(k=1, use_entropy=True, categories=5),
    reset_each_round=True,
    visualize=dict(size=2, overlay=False, dir='viz'),
)
workflow = [
    (('train', 2), ('query', 1)),
    (('train', 2), ('query', 1)),
    (('train', 2),),
]
runner = dict(type='ActiveLearningRunner', sample_mode='region', sample_rounds=2)
log_config = dict(interval=5, hooks=[dict(type='TextLoggerHook')])
mask_dir = 'masks'
segal_meta = dict(experiment='toy_region', source='examples/toy_region.seg', source_sha256='', version='0.1.0')
