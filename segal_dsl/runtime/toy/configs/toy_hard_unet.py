# The tiny UNet of toy_unet.py on the `hard` toy variant (segal_dsl/runtime/toy/generate.py): a rare
# class, lines 1-2 px wide, small blobs and void regions (ground truth 255, the default ignore_index).
# Only the dataset's `variant` setting differs; the model, pipelines and schedule are toy_unet.py's.
_base_ = ['./toy_unet.py']
data = dict(
    train=dict(variant='hard'),
    query=dict(variant='hard'),
    val=dict(variant='hard'),
    test=dict(variant='hard'))
