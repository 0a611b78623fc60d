"""A Python config file's assignments, evaluated from its AST without running anything. Emits SEG601/602/612.

Evaluated: constants; names bound earlier in the file; list/tuple/dict literals and `dict(k=v, **d)`;
arithmetic on numbers; `+` on strings, lists and tuples; comparisons, `and`/`or`/`not` and `x if c else y`
on those values; indexing and slicing them; f-strings; the pure builtins `int float round str bool abs min
max sum len range list tuple`; and list / dict / generator comprehensions over such values. Nothing else is
evaluated (calls, attributes, imports, loops): each refusal is a SEG601/SEG602 at its place, and the
value becomes UNKNOWN so that its uses stay silent.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass
from typing import Any

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.source import Source, Span

_MAX_POWER_BITS = 4096      # `10 ** 10 ** 10` must not hang the evaluator
_MAX_ITEMS = 100_000        # a comprehension or range() longer than this is refused
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
_REFUSED = {ast.Attribute: "attribute access", ast.Lambda: "a lambda", ast.SetComp: "a set comprehension",
            ast.Set: "a set", ast.NamedExpr: "an assignment expression", ast.Await: "await",
            ast.Yield: "yield", ast.YieldFrom: "yield", ast.Starred: "unpacking"}


class Unknown:
    """A value that could not be evaluated (already reported): uses of it stay silent."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


class Evaluator:
    """Evaluates expression nodes of one file; refusals become diagnostics against that file."""

    def __init__(self, source: Source, diags: Diagnostics):
        self.src = source
        self.d = diags
        self.env: dict[str, Any] = {}

    # -- positions ---------------------------------------------------------------------------------------
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

    def refuse(self, node: ast.AST, what: str) -> Unknown:
        self.d.add("SEG601", f"`{self.segment(node)}` is not a constant expression", self.span(node),
                   label=what, help="the config is read as data, never run: write the value itself, or arithmetic "
                   "on constants defined above it")
        return UNKNOWN

    # -- expressions -------------------------------------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if is_scalar(node.value):
                return node.value
            return self.refuse(node, f"a {type(node.value).__name__} constant")
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            return self.refuse(node, "not assigned earlier in this file")
        if isinstance(node, (ast.List, ast.Tuple)):
            return self._sequence(node)
        if isinstance(node, ast.Dict):
            return self._dict(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            test = self.eval(node.test)
            if test is UNKNOWN:
                return UNKNOWN
            return self.eval(node.body if test else node.orelse)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.JoinedStr):
            return self._fstring(node)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            items = self._comprehension(node.generators, lambda: self.eval(node.elt), node)
            return items if items is UNKNOWN else list(items)
        if isinstance(node, ast.DictComp):
            pairs = self._comprehension(node.generators, lambda: (self.eval(node.key), self.eval(node.value)), node)
            if pairs is UNKNOWN:
                return UNKNOWN
            if any(k is UNKNOWN or v is UNKNOWN for k, v in pairs):
                return UNKNOWN
            return dict(pairs)
        return self.refuse(node, _REFUSED.get(type(node), "not evaluated"))

    def _sequence(self, node: ast.List | ast.Tuple) -> Any:
        items: list[Any] = []
        for e in node.elts:
            if isinstance(e, ast.Starred):
                inner = self.eval(e.value)
                if inner is UNKNOWN:
                    return UNKNOWN
                if not isinstance(inner, (list, tuple)):
                    return self.refuse(e, "unpacking of something other than a list or tuple")
                items.extend(inner)
            else:
                items.append(self.eval(e))
        if any(i is UNKNOWN for i in items):
            return UNKNOWN
        return items if isinstance(node, ast.List) else tuple(items)

    def _dict(self, node: ast.Dict) -> Any:
        out: dict = {}
        for k, v in zip(node.keys, node.values):
            if k is None:  # {**other}
                inner = self.eval(v)
                if inner is UNKNOWN:
                    return UNKNOWN
                if not isinstance(inner, dict):
                    return self.refuse(v, "`**` of something other than a dict")
                out.update(inner)
                continue
            key, value = self.eval(k), self.eval(v)
            if key is UNKNOWN or value is UNKNOWN:
                return UNKNOWN
            if not is_scalar(key):
                return self.refuse(k, "a dict key must be a string, number, bool or None")
            out[key] = value
        return out

    def _binop(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        op = node.op
        if isinstance(op, ast.Add) and type(left) is type(right) and isinstance(left, (str, list, tuple)):
            return left + right
        if isinstance(op, ast.Mult) and (isinstance(left, (str, list, tuple)) and isinstance(right, int)
                                         and not isinstance(right, bool)):
            if len(left) * max(right, 0) > _MAX_ITEMS:
                return self.refuse(node, "the result is too large")
            return left * right
        if not (is_number(left) and is_number(right)):
            return self.refuse(node, "arithmetic on something other than numbers")
        if isinstance(op, ast.Pow) and isinstance(right, int) and isinstance(left, int) and (
                abs(right) * max(abs(left), 2).bit_length() > _MAX_POWER_BITS):
            return self.refuse(node, "the result is too large")
        if type(op) not in _BINOPS:
            return self.refuse(node, "an operator other than + - * / // % **")
        try:
            value = _BINOPS[type(op)](left, right)
        except (ZeroDivisionError, OverflowError, ValueError) as err:
            return self.refuse(node, str(err))
        if isinstance(value, complex) or (isinstance(value, float) and not math.isfinite(value)):
            return self.refuse(node, "the result is not a finite real number")
        return value

    def _unary(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(node.op, ast.Not):
            return not value
        if not is_number(value):
            return self.refuse(node, "an operator on something other than a number")
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        return self.refuse(node, "an operator other than + - not")

    def _boolop(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value_node in node.values:
            result = self.eval(value_node)
            if result is UNKNOWN:
                return UNKNOWN
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def _compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.eval(right_node)
            if left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError as err:
                return self.refuse(node, str(err))
            left = right
        return True

    def _subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [self.eval(p) if p is not None else None for p in (node.slice.lower, node.slice.upper,
                                                                      node.slice.step)]
            if value is UNKNOWN or any(p is UNKNOWN for p in parts):
                return UNKNOWN
            if not isinstance(value, (str, list, tuple)) or not all(p is None or isinstance(p, int) for p in parts):
                return self.refuse(node, "slicing of something other than a string, list or tuple")
            return value[slice(*parts)]
        index = self.eval(node.slice)
        if value is UNKNOWN or index is UNKNOWN:
            return UNKNOWN
        try:
            if isinstance(value, dict) or (isinstance(value, (str, list, tuple)) and isinstance(index, int)):
                return value[index]
        except (KeyError, IndexError) as err:
            return self.refuse(node, f"no item {err}")
        return self.refuse(node, "indexing of something other than a dict, string, list or tuple")

    def _comprehension(self, generators: list[ast.comprehension], element, node: ast.AST) -> Any:
        saved = self.env
        out: list[Any] = []

        def walk(i: int) -> bool:
            if i == len(generators):
                out.append(element())
                return len(out) <= _MAX_ITEMS
            gen = generators[i]
            if gen.is_async:
                self.refuse(node, "an async comprehension")
                return False
            iterable = self.eval(gen.iter)
            if iterable is UNKNOWN:
                return False
            if isinstance(iterable, dict):
                iterable = list(iterable)
            if not isinstance(iterable, (list, tuple, str, range)):
                self.refuse(gen.iter, "iteration over something other than a list, tuple, dict, string or range")
                return False
            for item in iterable:
                self.env = dict(self.env)
                if not self._bind(gen.target, item, gen.target):
                    return False
                conditions = [self.eval(c) for c in gen.ifs]
                if any(c is UNKNOWN for c in conditions):
                    return False
                if all(conditions) and not walk(i + 1):
                    return False
            return True

        try:
            ok = walk(0)
        finally:
            self.env = saved
        if not ok:
            if len(out) > _MAX_ITEMS:
                return self.refuse(node, f"more than {_MAX_ITEMS} items")
            return UNKNOWN
        if any(v is UNKNOWN for v in out):
            return UNKNOWN
        return out

    def _bind(self, target: ast.AST, value: Any, where: ast.AST) -> bool:
        if isinstance(target, ast.Name):
            self.env[target.id] = value
            return True
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (list, tuple)) \
                and len(value) == len(target.elts):
            return all(self._bind(t, v, where) for t, v in zip(target.elts, value))
        self.refuse(where, "a loop target other than names")
        return False

    def _call(self, node: ast.Call) -> Any:
        func = node.func
        name = func.id if isinstance(func, ast.Name) and func.id not in self.env else None
        if name == "dict" and len(node.args) <= 1:
            return self._dict_call(node)
        if name not in _BUILTINS or any(kw.arg is not None for kw in node.keywords if name != "round"):
            return self.refuse(node, "a function call" if isinstance(func, ast.Name) else "a call")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(kw.arg is None for kw in node.keywords):
            return self.refuse(node, "unpacking in a call")
        args = [self.eval(a) for a in node.args]
        kwargs = {kw.arg: self.eval(kw.value) for kw in node.keywords}
        if any(a is UNKNOWN for a in args) or any(v is UNKNOWN for v in kwargs.values()):
            return UNKNOWN
        check, fn = _BUILTINS[name]
        if not check(args, kwargs):
            return self.refuse(node, f"`{name}` of values it does not take here")
        try:
            value = fn(*args, **kwargs)
        except (OverflowError, ValueError, TypeError) as err:
            return self.refuse(node, str(err))
        if isinstance(value, range):
            if len(value) > _MAX_ITEMS:
                return self.refuse(node, f"a range of more than {_MAX_ITEMS} items")
            return value  # only ever iterated (list(range(…)) turns it into a list)
        return value

    def _dict_call(self, node: ast.Call) -> Any:
        out: dict = {}
        if node.args:
            first = self.eval(node.args[0])
            if first is UNKNOWN:
                return UNKNOWN
            if not isinstance(first, dict):
                return self.refuse(node, "`dict` of something other than a dict or keywords")
            out.update(first)
        for kw in node.keywords:
            value = self.eval(kw.value)
            if value is UNKNOWN:
                return UNKNOWN
            if kw.arg is None:
                if not isinstance(value, dict):
                    return self.refuse(kw.value, "`**` of something other than a dict")
                out.update(value)
            else:
                out[kw.arg] = value
        return out

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
            if not is_scalar(inner) and not isinstance(inner, (list, tuple)):
                return self.refuse(value, "an f-string over a dict")
            if any(len(run) > 3 for run in re.findall(r"\d+", spec)):
                return self.refuse(value, "a format width or precision above 999")
            conv = {-1: lambda x: x, 115: str, 114: repr, 97: ascii}[value.conversion]
            try:
                parts.append(format(conv(inner), spec))
            except (ValueError, TypeError) as err:
                return self.refuse(value, f"format: {err}")
        return "".join(parts)


def _numbers(args, kwargs) -> bool:
    return not kwargs and bool(args) and all(is_number(a) for a in args)


def _iterable_of_numbers(args, kwargs) -> bool:
    if kwargs or not args:
        return False
    if len(args) == 1 and isinstance(args[0], (list, tuple, range)):
        return bool(args[0]) and all(is_number(a) for a in args[0])
    return len(args) > 1 and all(is_number(a) for a in args)


_BUILTINS = {
    "int": (lambda a, k: not k and len(a) == 1 and (is_number(a[0]) or isinstance(a[0], str)), int),
    "float": (lambda a, k: not k and len(a) == 1 and (is_number(a[0]) or isinstance(a[0], str)), float),
    "round": (lambda a, k: not k and 1 <= len(a) <= 2 and is_number(a[0]) and (len(a) == 1 or isinstance(a[1], int)),
              round),
    "str": (lambda a, k: not k and len(a) == 1 and is_scalar(a[0]), str),
    "bool": (lambda a, k: not k and len(a) == 1, bool),
    "abs": (lambda a, k: _numbers(a, k) and len(a) == 1, abs),
    "min": (_iterable_of_numbers, min),
    "max": (_iterable_of_numbers, max),
    "sum": (lambda a, k: not k and len(a) == 1 and isinstance(a[0], (list, tuple, range))
            and all(is_number(x) for x in a[0]), sum),
    "len": (lambda a, k: not k and len(a) == 1 and isinstance(a[0], (str, list, tuple, dict, range)), len),
    "range": (lambda a, k: not k and 1 <= len(a) <= 3 and all(isinstance(x, int) and not isinstance(x, bool)
                                                              for x in a), range),
    "list": (lambda a, k: not k and len(a) <= 1 and all(isinstance(x, (list, tuple, str, range, dict)) for x in a),
             list),
    "tuple": (lambda a, k: not k and len(a) <= 1 and all(isinstance(x, (list, tuple, str, range, dict)) for x in a),
              tuple),
}


# ---- module level ---------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One top-level name of the file: its value and where it is assigned."""

    value: Any
    target: ast.AST  # the name being assigned
    node: ast.AST    # its value


def parse_module(source: Source, diags: Diagnostics) -> ast.Module | None:
    """The file's AST, or None with a SEG100 at the syntax error."""
    try:
        return ast.parse(source.text, filename=source.path)
    except SyntaxError as err:
        line = err.lineno or 1
        start = source.line_starts[min(line, len(source.line_starts)) - 1] + max((err.offset or 1) - 1, 0)
        diags.add("SEG100", f"not valid Python: {err.msg}", source.span(start, start + 1),
                  help="a config file is read as Python source")
        return None


_STATEMENTS = {ast.Import: "an import", ast.ImportFrom: "an import", ast.FunctionDef: "a function definition",
               ast.If: "a conditional", ast.For: "a loop", ast.While: "a loop", ast.Expr: "an expression statement",
               ast.Assign: "an unpacking assignment", ast.ClassDef: "a class definition", ast.With: "a `with` block",
               ast.Try: "a `try` block", ast.Delete: "a `del`"}


@dataclass
class Module:
    """A file's top-level names in assignment order, and the evaluator that read them (for spans)."""

    entries: dict[str, Entry]
    evaluator: Evaluator

    def values(self) -> dict[str, Any]:
        return {k: e.value for k, e in self.entries.items()}


def read_module(source: Source, diags: Diagnostics, env: dict[str, Any] | None = None) -> Module | None:
    """Evaluate the module's assignments in order: every name mmcv would keep in the config (dunders left out).

    `env` pre-binds names (e.g. the placeholders of `{{_base_.x}}` references). A name assigned twice is
    SEG612 (the last assignment wins, in mmcv as here). None when the file is not valid Python.
    """
    tree = parse_module(source, diags)
    if tree is None:
        return None
    ev = Evaluator(source, diags)
    ev.env.update(env or {})
    keys: dict[str, Entry] = {}
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
            first = ev.span(stmt)
            line_end = first.start + len(source.line(first.line)) - first.column + 1
            diags.add("SEG602", f"{_STATEMENTS.get(type(stmt), 'a statement')} is not a config assignment",
                      source.span(first.start, min(first.end, line_end)), label="not evaluated",
                      help="a config read as data is a list of `name = value` assignments; remove this or write "
                      "its result as an assignment")
            continue
        value = ev.eval(value_node)
        for target in targets:
            name = target.id
            ev.env[name] = value
            if name.startswith("__"):
                continue  # mmcv drops dunders from the config
            if name in keys:
                diags.add("SEG612", f"`{name}` is assigned again; the last assignment wins", ev.span(target),
                          notes=((ev.span(keys[name].target), "first assigned here"),),
                          help="keep one assignment (the earlier one is ignored, by mmcv as here)")
                del keys[name]
            keys[name] = Entry(value, target, value_node)
    return Module(keys, ev)
