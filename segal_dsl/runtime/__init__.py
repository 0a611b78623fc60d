"""segal-dsl runtime: registers the AL runner, hooks, transforms and the toy dataset with mmcv/mmseg.

The compiled config's `custom_imports = dict(imports=['segal_dsl.runtime'])` imports this package;
the front end never does (it must not pull in torch/mmcv/mmseg). The numpy/torch-only modules
(heuristics, budget, selection, labels, viz) stay importable without the mmseg stack.
"""

import importlib.util as _util

if _util.find_spec("mmseg") is not None and _util.find_spec("mmcv") is not None:
    from . import (  # noqa: F401  (registry side effects)
        hooks,
        multitask,
        pipelines,
        runner,
    )
    from .toy import dataset  # noqa: F401  (registers the toy dataset)
