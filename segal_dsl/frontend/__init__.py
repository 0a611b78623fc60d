"""The front end: .seg text -> parse -> build (AST) -> validate -> expand -> emit. Never imports torch."""

import sys as _sys


def _import_lark() -> None:
    """Import lark without its optional `regex` back end: lark imports the `regex` package whenever it is
    installed (the runtime stack installs it: ~10 ms of every `segal check`), but uses it only for
    `Lark(regex=True)`, which the parser here does not ask for. `regex` stays importable for everyone else."""
    if "lark" in _sys.modules or "regex" in _sys.modules:
        return
    _sys.modules["regex"] = None  # an import of it fails while lark loads
    try:
        import lark  # noqa: F401
    finally:
        del _sys.modules["regex"]


_import_lark()
