"""Legacy reference-style mmseg config (Python source) -> `.seg` text, without executing it. Emits SEG6xx.

The file is read with `ast.parse`; only constants, arithmetic on numbers, names bound earlier in the file,
`int`/`float`/`round`, string concatenation, f-strings and literal containers (`dict(k=v)` included) are
evaluated (`_Evaluator`). The values are then mapped to statements (`_Mapper`), the result is checked and
compiled, and every top-level value of the compiled config is compared with the legacy one (SEG609/SEG610).

Upper-case names (`BUDGET`, `DATA_ROOT`) are helper constants: they feed other values and are not written
to the `.seg` file, although mmcv would keep them in the config (nothing reads them there). Any other
top-level name without a statement goes to the `mmseg { … }` pass-through block, so nothing is lost.
"""

from __future__ import annotations

import ast
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segal_dsl.pyconfig.layout import break_lines
from segal_dsl.diagnostics import Diagnostic, Diagnostics, Severity
from segal_dsl.source import Source, Span

RUNTIME_MODULE = "segal_dsl.runtime"
HELPER_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = {"experiment", "schedule", "train", "query", "warmup", "mmseg", "dict"}
_RUNNERS = {"ActiveLearningRunner": "active", "MultiTaskActiveRunner": "multitask"}
_UNITS = {"%/img": "{}% per image", "%": "{}%", "px/img": "{} px per image", "regions/img": "{} regions per image"}
_WANDB_HOOKS = ("WandbLoggerHookWithVal", "WandbLoggerHook")
_WANDB_KEYS = ("entity", "project", "name", "group", "tags")
_HEURISTIC_KEYS = {"ripu": ("k", "use_entropy", "categories"),
                   "mps": ("k", "use_entropy", "categories", "crop_size", "mix_factor")}
_MAX_POWER_BITS = 4096  # `10 ** 10 ** 10` must not hang the importer


@dataclass
class ImportResult:
    source: Source
    seg_text: str | None  # None when an error stops the import
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def sources(self) -> dict[str, Source]:
        return {self.source.path: self.source}

    @property
    def ok(self) -> bool:
        return self.seg_text is not None and not any(d.severity is Severity.ERROR for d in self.diagnostics)


class _Unknown:
    """A value that could not be evaluated (already reported): uses of it stay silent."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


class NotExpressible(ValueError):
    pass


# ---- evaluation -------------------------------------------------------------------------------------
class _Evaluator:
    def __init__(self, source: Source, diags: Diagnostics):
        self.src = source
        self.d = diags
        self.env: dict[str, Any] = {}

    def span(self, node: ast.AST) -> Span:
        return self.src.span(self._offset(node.lineno, node.col_offset),
                             self._offset(getattr(node, "end_lineno", node.lineno) or node.lineno,
                                          getattr(node, "end_col_offset", node.col_offset) or node.col_offset))

    def _offset(self, line: int, col_bytes: int) -> int:
        starts = self.src.line_starts
        if line > len(starts):
            return len(self.src.text)
        text = self.src.line(line)
        return starts[line - 1] + len(text.encode("utf-8")[:col_bytes].decode("utf-8", "replace"))

    def segment(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.src.text, node) or type(node).__name__
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "…"

    def refuse(self, node: ast.AST, what: str) -> _Unknown:
        self.d.add("SEG601", f"`{self.segment(node)}` is not a constant expression", self.span(node),
                   label=what, help="`segal import` never runs the config: write the value itself, or arithmetic "
                   "on constants defined above it")
        return UNKNOWN

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, int, float, bool)) or node.value is None:
                return node.value
            return self.refuse(node, f"a {type(node.value).__name__} constant")
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            return self.refuse(node, "not assigned earlier in this file")
        if isinstance(node, (ast.List, ast.Tuple)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return self.refuse(node, "unpacking")
            items = [self.eval(e) for e in node.elts]
            if any(i is UNKNOWN for i in items):
                return UNKNOWN
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                return self.refuse(node, "`**` unpacking")
            out = {}
            for k, v in zip(node.keys, node.values):
                key, value = self.eval(k), self.eval(v)
                if key is UNKNOWN or value is UNKNOWN:
                    return UNKNOWN
                if not isinstance(key, (str, int, float, bool, type(None))):
                    return self.refuse(k, "a dict key must be a string, number, bool or None")
                out[key] = value
            return out
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.eval(node.operand)
            if value is UNKNOWN:
                return UNKNOWN
            if not _is_number(value):
                return self.refuse(node, "sign of a value that is not a number")
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.JoinedStr):
            return self._fstring(node)
        kinds = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Compare: "a comparison",
                 ast.BoolOp: "a boolean operation", ast.IfExp: "a conditional", ast.Lambda: "a lambda",
                 ast.ListComp: "a comprehension", ast.DictComp: "a comprehension", ast.SetComp: "a comprehension",
                 ast.GeneratorExp: "a comprehension", ast.Set: "a set", ast.UnaryOp: "an operator on a non-number",
                 ast.NamedExpr: "an assignment expression"}
        return self.refuse(node, kinds.get(type(node), "not evaluated"))

    def _binop(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        op = node.op
        if isinstance(op, ast.Add) and (
                (isinstance(left, str) and isinstance(right, str)) or (isinstance(left, list) and isinstance(right, list))
                or (isinstance(left, tuple) and isinstance(right, tuple))):
            return left + right
        if not (_is_number(left) and _is_number(right)):
            return self.refuse(node, "arithmetic on something other than numbers")
        if isinstance(op, ast.Pow) and isinstance(right, int) and isinstance(left, int) and (
                abs(right) * max(abs(left), 2).bit_length() > _MAX_POWER_BITS):
            return self.refuse(node, "the result is too large")
        ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
               ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
               ast.Pow: lambda a, b: a ** b}
        if type(op) not in ops:
            return self.refuse(node, "an operator other than + - * / // % **")
        try:
            value = ops[type(op)](left, right)
        except (ZeroDivisionError, OverflowError, ValueError) as err:
            return self.refuse(node, str(err))
        if isinstance(value, complex) or (isinstance(value, float) and not math.isfinite(value)):
            return self.refuse(node, "the result is not a finite real number")
        return value

    def _call(self, node: ast.Call) -> Any:
        func = node.func
        name = func.id if isinstance(func, ast.Name) and func.id not in self.env else None
        if name == "dict" and not node.args and all(kw.arg is not None for kw in node.keywords):
            out = {}
            for kw in node.keywords:
                out[kw.arg] = self.eval(kw.value)
            return UNKNOWN if any(v is UNKNOWN for v in out.values()) else out
        if name in ("int", "float", "round") and not node.keywords and 1 <= len(node.args) <= (2 if name == "round" else 1):
            args = [self.eval(a) for a in node.args]
            if any(a is UNKNOWN for a in args):
                return UNKNOWN
            if not all(_is_number(a) for a in args) or (len(args) == 2 and not isinstance(args[1], int)):
                return self.refuse(node, f"`{name}` of something other than a number")
            try:
                return {"int": int, "float": float, "round": round}[name](*args)
            except (OverflowError, ValueError) as err:
                return self.refuse(node, str(err))
        return self.refuse(node, "a function call" if name or isinstance(func, ast.Name) else "a call")

    def _fstring(self, node: ast.JoinedStr) -> Any:
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
                continue
            assert isinstance(value, ast.FormattedValue)
            inner = self.eval(value.value)
            spec = self._fstring(value.format_spec) if value.format_spec is not None else ""
            if inner is UNKNOWN or spec is UNKNOWN:
                return UNKNOWN
            if not isinstance(inner, (str, int, float, bool, type(None))):
                return self.refuse(value, "an f-string over a container")
            if any(len(run) > 3 for run in re.findall(r"\d+", spec)):
                return self.refuse(value, "a format width or precision above 999")
            conv = {-1: lambda x: x, 115: str, 114: repr, 97: ascii}[value.conversion]
            try:
                parts.append(format(conv(inner), spec))
            except (ValueError, TypeError) as err:
                return self.refuse(value, f"format: {err}")
        return "".join(parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class _Entry:
    value: Any
    target: ast.AST  # the name being assigned
    node: ast.AST  # its value


def read_assignments(source: Source, diags: Diagnostics) -> tuple[dict[str, _Entry], _Evaluator] | None:
    """Evaluate the module's assignments in order. Returns the config keys (helper constants excluded)."""
    try:
        tree = ast.parse(source.text, filename=source.path)
    except SyntaxError as err:
        line = err.lineno or 1
        start = source.line_starts[min(line, len(source.line_starts)) - 1] + max((err.offset or 1) - 1, 0)
        diags.add("SEG100", f"not valid Python: {err.msg}", source.span(start, start + 1),
                  help="`segal import` reads legacy configs as Python source")
        return None
    ev = _Evaluator(source, diags)
    keys: dict[str, _Entry] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # a docstring or a `""" SECTION """` banner
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(stmt.target, ast.Name):
            targets, value_node = [stmt.target], stmt.value
        elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            targets, value_node = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            targets = [stmt.target]
            value_node = ast.BinOp(ast.Name(stmt.target.id, ast.Load()), stmt.op, stmt.value)
            ast.copy_location(value_node, stmt)
            ast.fix_missing_locations(value_node)
        else:
            kind = {ast.Import: "an import", ast.ImportFrom: "an import", ast.FunctionDef: "a function definition",
                    ast.If: "a conditional", ast.For: "a loop", ast.While: "a loop", ast.Expr: "an expression "
                    "statement", ast.Assign: "an unpacking assignment", ast.ClassDef: "a class definition",
                    ast.With: "a `with` block", ast.Try: "a `try` block", ast.Delete: "a `del`"}
            first = ev.span(stmt)
            line_end = first.start + len(source.line(first.line)) - first.column + 1
            diags.add("SEG602", f"{kind.get(type(stmt), 'a statement')} is not a config assignment",
                      source.span(first.start, min(first.end, line_end)), label="not evaluated",
                      help="a config for import is a list of `name = value` assignments; remove this or write its "
                      "result as an assignment")
            continue
        value = ev.eval(value_node)
        for target in targets:
            name = target.id
            ev.env[name] = value
            if HELPER_CONSTANT.match(name) or name.startswith("__"):
                continue  # helper constants and dunders: not config keys (docs/language.md)
            if name in keys:
                diags.add("SEG612", f"`{name}` is assigned again; the last assignment wins", ev.span(target),
                          notes=((ev.span(keys[name].target), "first assigned here"),),
                          help="keep one assignment (the earlier one is ignored, by mmcv as by `segal import`)")
                del keys[name]
            keys[name] = _Entry(value, target, value_node)
    return keys, ev


# ---- writing .seg text --------------------------------------------------------------------------------
def seg_string(text: str) -> str:
    """A .seg string literal (docs/language.md escapes) that reads back as `text`."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in "\n\t\r\0":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}[ch])
        elif 0xD800 <= code <= 0xDFFF:
            raise NotExpressible("a lone surrogate cannot be written as UTF-8")
        elif code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def seg_number(value: Any, plain: bool = False) -> str:
    """A number the .seg lexer reads back to an equal value; `plain` avoids exponents (for `N%`)."""
    if not _is_number(value):
        raise NotExpressible(f"`{value!r}` is not a number")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise NotExpressible(f"`{value!r}` is not a finite number")
    return format(Decimal(repr(value)), "f") if plain else repr(value)


def seg_literal(value: Any, indent: int = 0) -> str:
    """An mmseg-block literal; long containers are broken over lines (a comma may end a line)."""
    return break_lines(value, indent, _flat_literal, _kwarg_keys, 96)


def _kwarg_keys(d: dict) -> bool:
    return all(isinstance(k, str) and _NAME.match(k) for k in d)


def _flat_literal(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if _is_number(value):
        return seg_number(value)
    if isinstance(value, str):
        return seg_string(value)
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise NotExpressible(f"a dict key `{k!r}` is not a string, number, bool or None")
        if _kwarg_keys(value):
            return "dict(" + ", ".join(f"{k}={_flat_literal(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{_flat_literal(k)}: {_flat_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        if len(value) == 1:
            return "(" + _flat_literal(value[0]) + ",)"
        return "(" + ", ".join(_flat_literal(v) for v in value) + ")"
    raise NotExpressible(f"cannot write a {type(value).__name__}")


def experiment_name(path: str, keys: dict[str, _Entry]) -> str:
    meta = keys.get("segal_meta")
    if meta is not None and isinstance(meta.value, dict):
        name = meta.value.get("experiment")
        if isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z_][A-Za-z0-9_]*)*", name):
            return name
    stem = os.path.splitext(os.path.basename(path))[0] or "imported"
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    if not re.match(r"[A-Za-z_]", name):
        name = "exp_" + name
    return name + "_exp" if name in _KEYWORDS else name


def import_source(text: str, path: str, seg_path: str | None = None) -> ImportResult:
    """Convert a legacy config's text into .seg text, never executing it.

    `seg_path` is where the .seg file will be written (default: next to `path`, same stem); relative
    `_base_` paths are rewritten for it. The result is checked and compiled back to `path`'s directory
    and compared with the legacy values; errors leave `seg_text` None.
    """
    from segal_dsl.importer.mapping import convert

    source = Source(path, text)
    diags = Diagnostics()
    seg_path = seg_path or os.path.splitext(path)[0] + ".seg"
    seg_text = None
    try:
        read = read_assignments(source, diags)
        if read is not None:
            keys, ev = read
            seg_text = convert(keys, ev, diags, seg_path)
    except RecursionError:
        diags.add("SEG601", "the config is nested too deeply to read", source.whole())
        seg_text = None
    if diags.has_errors:
        seg_text = None
    return ImportResult(source, seg_text, diags.sorted())
