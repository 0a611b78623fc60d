# Hand-written config in the compiled format (docs/compiled-config.md): image mode, margin.
_base_ = ['../../segal_dsl/runtime/toy/configs/toy_unet.py']
custom_imports = dict(imports=['segal_dsl.runtime'], allow_failed_imports=False)
load_from = None
seed = 0
source_free = True
active_learning = dict(
    settings=dict(image=dict(initial_pool=16, budget_per_round=8)),
    heuristic='margin',
    reset_each_round=False,
)
workflow = [
    (('train', 2), ('query', 1)),
    (('train', 2), ('query', 1)),
    (('train', 2),),
]
runner = dict(type='ActiveLearningRunner', sample_mode='image', sample_rounds=2)
log_config = dict(interval=5, hooks=[dict(type='TextLoggerHook')])
mask_dir = 'masks'
segal_meta = dict(experiment='toy_image', source='examples/toy_image.seg', source_sha256='', version='0.1.0')
