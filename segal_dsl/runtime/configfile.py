"""Load a compiled config exactly as the runtime runs it: mmcv, the contract, import roots, custom imports.

`segal run`, `segal run --dry-run` and `python -m segal_dsl.runtime.train` all come through `load_config`:
mmcv reads the file (without its custom imports), the compiled-config contract (`segal_dsl/spec/config.py`)
reads the result, then the contract's `imports` are resolved against the `.seg` file's folder and then the
current directory (docs/runtime.md, "Imports") and imported here, so that a failure prints its real cause
(mmcv re-raises a bare `ImportError(f'Failed to import {name}')`).
"""

from __future__ import annotations

import importlib
import os
import os.path as osp
import sys
import warnings

from segal_dsl.spec.config import RUNTIME_MODULE, ConfigError, read_config


class LoadFailure(ValueError):
    """A compiled config that cannot be loaded; the message is one line with the fix."""


def import_roots(cfg_path: str, seg_path: str | None = None, meta_source: str | None = None) -> list[str]:
    """Where the experiment's `imports` are looked up, in order: the `.seg` file's folder, then the CWD.

    For a compiled config run on its own, the `.seg` file is the one its `segal_meta.source` names
    (relative to the CWD, as it was when it was compiled), when that file is there.
    """
    roots: list[str] = []
    seg = seg_path or (meta_source if meta_source and osp.isfile(meta_source) else None)
    if seg:
        roots.append(osp.abspath(osp.dirname(seg) or "."))
    roots.append(os.getcwd())
    return list(dict.fromkeys(roots))


def _use_roots(roots: list[str]) -> None:
    for root in reversed(roots):
        if root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)


def do_imports(imports, allow_failed: bool, roots: list[str]) -> None:
    """Import every custom module; the first failure is a LoadFailure naming the module and its cause."""
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as e:
            cause = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if allow_failed:
                warnings.warn(f"custom import `{name}` failed and is skipped (allow_failed_imports): {cause}",
                              stacklevel=2)
                continue
            raise LoadFailure(f"custom import `{name}` failed: {cause} (looked in {', '.join(roots)} and "
                              "the installed packages; fix: make the module importable from the .seg file's "
                              "folder or the current directory)") from e


def load_config(path: str, *, seg_path: str | None = None, cfg_options: dict | None = None):
    """(mmcv Config, Contract) of a compiled config, or LoadFailure with one line."""
    import mmcv

    if not osp.isfile(path):
        raise LoadFailure(f"config not found: {path}")
    try:
        cfg = mmcv.Config.fromfile(path, import_custom_modules=False)
    except (FileNotFoundError, SyntaxError, KeyError, TypeError) as e:
        raise LoadFailure(f"cannot load {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") \
            from e
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    try:
        contract = read_config(dict(cfg.items()))  # needs none of the imports: it reads no registry
    except ConfigError as e:
        raise LoadFailure(f"{path}: {e}") from e
    roots = import_roots(path, seg_path, contract.meta.get("source"))
    _use_roots(roots)
    do_imports(contract.imports, contract.allow_failed_imports, roots)
    check_user_heuristic(contract)
    return cfg, contract


def check_user_heuristic(contract) -> None:
    """A heuristic the front end did not know must be in the registry once the imports ran: say so before
    any training, not at the first query."""
    from segal_dsl.spec import heuristics as spec

    if spec.lookup(contract.heuristic) is not None:
        return
    from .heuristics import HEURISTICS

    name = contract.heuristic
    if name not in HEURISTICS:
        user = ", ".join(f"`{m}`" for m in contract.imports if m != RUNTIME_MODULE) or "none"
        raise LoadFailure(f"heuristic `{name}` is not registered: no module of `imports` ({user}) registered it "
                          f"with `@segal_dsl.runtime.heuristics.register(\"{name}\")`; registered: "
                          + ", ".join(sorted(HEURISTICS)))

