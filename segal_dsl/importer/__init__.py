"""`segal import`: a reference-style mmseg config (Python source) -> `.seg` text, never executed. SEG6xx.

The file and its `_base_` files are read as data (`segal_dsl/pyconfig/`: only constants, arithmetic,
names bound earlier, pure builtins, f-strings, literal containers and comprehensions over them are
evaluated), merged as mmcv merges them, mapped to statements (`mapping.py`), formatted canonically
(`segal fmt`), then compiled back over the same bases and compared with the original key by key
(`roundtrip.py`, SEG609/SEG610).

Upper-case names (`BUDGET`, `DATA_ROOT`) are helper constants: they feed other values and are not
written to the `.seg` file; mmcv keeps them in the config, but nothing in the reference reads them.
Any other top-level name without a statement goes to the `mmseg { … }` pass-through block.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from segal_dsl.diagnostics import Diagnostic, Diagnostics, Severity
from segal_dsl.pyconfig.evaluate import read_module
from segal_dsl.pyconfig.load import load
from segal_dsl.source import Source


@dataclass
class ImportResult:
    """The `.seg` text of one legacy config (None when an error stops the import) and every diagnostic."""

    source: Source
    seg_text: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def sources(self) -> dict[str, Source]:
        return {self.source.path: self.source}

    @property
    def ok(self) -> bool:
        return self.seg_text is not None and not any(d.severity is Severity.ERROR for d in self.diagnostics)


def import_source(text: str, path: str, seg_path: str | None = None) -> ImportResult:
    """Convert a legacy config's text into `.seg` text, never executing it.

    `seg_path` is where the `.seg` file will be written (default: next to `path`, same stem); relative
    `_base_` paths are rewritten for it. `_base_` files are read relative to `path`, as mmcv reads them.
    """
    from segal_dsl.importer.mapping import convert

    source = Source(path, text)
    diags = Diagnostics()
    seg_path = seg_path or os.path.splitext(path)[0] + ".seg"
    seg_text = None
    try:
        module = read_module(source, diags)
        if module is not None and not diags.has_errors:
            seg_text = convert(module, _effective(source, module, diags), diags, seg_path)
    except RecursionError:
        diags.add("SEG601", "the config is nested too deeply to read", source.whole())
        seg_text = None
    if diags.has_errors:
        seg_text = None
    return ImportResult(source, seg_text, diags.sorted())


def _effective(source: Source, module, diags: Diagnostics) -> dict | None:
    """The config merged with its bases, or None (with SEG614) when a base cannot be read."""
    if "_base_" not in module.entries:
        return None
    loaded = load(source.path, source.text)
    if loaded.complete:
        return loaded.values
    entry = module.entries["_base_"]
    diags.add("SEG614", "the base files cannot be read, so values they set are not imported or compared: "
              + loaded.problems[0], module.evaluator.span(entry.target),
              help="run `segal import` where the config's `_base_` files are (paths relative to the config)")
    return None
