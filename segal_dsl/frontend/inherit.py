"""`extends "base.seg"`: merge a parent experiment's statements under the child's. Emits SEG215–SEG217.

Semantics (as mmcv's `_base_`, on statements instead of dicts):
- a child statement replaces the parent's statement with the same key;
- a block statement with the same words (`sample pixel { … }` over `sample pixel { … }`) merges key by
  key, recursively; different words (`heuristic ripu` over `heuristic entropy`) replace the whole block;
- `mmseg` overrides merge by dotted key: the child's `a.b` replaces the parent's `a.b` and everything below it;
- `delete KEY …` removes inherited statements of that block (the explicit delete);
- relative `base` paths of the parent stay relative to the parent's file.
Statements keep the spans of the file they come from, so diagnostics point into the right file.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend import nodes as n
from segal_dsl.pyconfig.load import rebase
from segal_dsl.source import Source
from segal_dsl.values import replace

MAX_DEPTH = 16


def _key(item) -> str:
    if isinstance(item, n.Schedule):
        return "schedule"
    if isinstance(item, n.Mmseg):
        return "mmseg"
    return item.key


def _words(item: n.Setting) -> tuple:
    return tuple(getattr(a, "name", getattr(a, "value", None)) for a in item.args)


def _rebase_base(item: n.Setting, parent_dir: str, child_dir: str) -> n.Setting:
    args = []
    for a in item.args:
        if isinstance(a, n.String):
            a = replace(a, value=rebase(a.value, parent_dir, child_dir))
        args.append(a)
    return replace(item, args=tuple(args))


def _merge(parent: list, child: list, diags: Diagnostics) -> list:
    result = [(item, True) for item in parent]  # (statement, inherited?)
    for item in child:
        if isinstance(item, n.Setting) and item.key == "delete":
            for word in item.args:
                name = getattr(word, "name", None)
                before = len(result)
                result = [(s, inh) for s, inh in result if not (inh and _key(s) == name)]
                if name is None or len(result) == before:
                    from segal_dsl.frontend.validate import did_you_mean

                    inherited = [_key(s) for s, inh in result if inh]
                    diags.add("SEG217", f"nothing inherited named `{name or '?'}` to delete", word.span,
                              label=did_you_mean(name or "", inherited) or "not inherited",
                              help="inherited here: " + ", ".join(f"`{k}`" for k in inherited))
            continue
        index = next((i for i, (s, inh) in enumerate(result) if inh and _key(s) == _key(item)), None)
        if index is None:
            result.append((item, False))
            continue
        old = result[index][0]
        if isinstance(old, n.Mmseg) and isinstance(item, n.Mmseg):
            kept = tuple(o for o in old.overrides
                         if not any(o.key[: len(c.key)] == c.key for c in item.overrides))
            merged = replace(item, overrides=kept + item.overrides)
        elif (isinstance(old, n.Setting) and isinstance(item, n.Setting) and old.block is not None
              and item.block is not None and _words(old) == _words(item)):
            items = _merge(list(old.block.items), list(item.block.items), diags)
            merged = replace(item, block=replace(item.block, items=tuple(items)))
        else:
            merged = item
        result[index] = (merged, False)
    return [s for s, _ in result]


def resolve(exp: n.Experiment, source: Source, diags: Diagnostics,
            load: Callable[[str], tuple[n.Experiment | None, Source | None]], _chain: tuple = ()) -> \
        tuple[n.Experiment, list[Source]]:
    """The experiment with its `extends` chain merged in, and every parent source (for rendering)."""
    extends = [i for i in exp.block.items if isinstance(i, n.Setting) and i.key == "extends"]
    if not extends:
        return exp, []
    for extra in extends[1:]:
        diags.add("SEG202", "`extends` is given twice", extra.key_span, help="an experiment extends one file")
    ext = extends[0]
    if len(ext.args) != 1 or not isinstance(ext.args[0], n.String):
        diags.add("SEG207", "`extends` expects one file name in quotes", ext.span, help='write `extends "base.seg"`')
        return exp, []
    child_dir = os.path.dirname(source.path)
    path = os.path.normpath(os.path.join(child_dir, ext.args[0].value))
    chain = _chain + (os.path.abspath(source.path),)
    if os.path.abspath(path) in chain or len(chain) > MAX_DEPTH:
        loop = chain[chain.index(os.path.abspath(path)):] if os.path.abspath(path) in chain else chain
        shown = " -> ".join(os.path.relpath(p, child_dir or ".") for p in (*loop, os.path.abspath(path)))
        what = "a cycle" if os.path.abspath(path) in chain else f"more than {MAX_DEPTH} levels"
        diags.add("SEG216", f"`{ext.args[0].value}` is already being extended ({what}: {shown})", ext.args[0].span,
                  help="remove the `extends` that closes the loop")
        return exp, []
    parent, parent_source = load(path)
    if parent is None and parent_source is not None:
        return exp, [parent_source]  # its syntax errors were reported against it
    if parent is None:
        diags.add("SEG215", f"cannot read the parent experiment `{ext.args[0].value}`", ext.args[0].span,
                  help=f"the path is relative to this file: {path}")
        return exp, []
    parent, sources = resolve(parent, parent_source, diags, load, chain)
    parent_dir = os.path.dirname(parent_source.path)
    parent_items = [_rebase_base(i, parent_dir, child_dir) if isinstance(i, n.Setting) and i.key == "base" else i
                    for i in parent.block.items]
    own = [i for i in exp.block.items if not (isinstance(i, n.Setting) and i.key == "extends")]
    merged = _merge(parent_items, own, diags)
    return replace(exp, block=replace(exp.block, items=tuple(merged))), [parent_source, *sources]
