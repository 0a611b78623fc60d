"""Strict, frozen records checked against their type annotations: the part of pydantic v2's API that the spec
and the front end use, with pydantic's error types, locations and messages.

`BaseModel`, `Field`, `ConfigDict`, `create_model`, `model_validator` (mode "after"), `AfterValidator`,
`BeforeValidator`, `TypeAdapter` and `ValidationError` behave as pydantic's do in strict mode for the types the
models are made of: `int`, `float` (an int is taken and made a float), `bool`, `str`, `Any`, `None`, `Literal`,
unions (members tried in order; the errors of every member, located under the member's name as pydantic names
it: `int`, `constrained-int`, `literal['a','b']`, `tuple[…]`), `tuple[X, ...]`, `tuple[X, Y]`, `list[X]`,
`dict[K, V]`, nested models, and `Annotated` with range (`gt`, `ge`, `lt`, `le`), length and pattern
constraints. `tests/test_typed.py` checks that against pydantic itself, model by model.

Why not pydantic: `segal check` must start in at most 1.5x `python -c "import lark, pydantic"` (issue 10).
Importing pydantic's `BaseModel` alone costs 1.37x of that, and defining the models of spec/ and frontend/
with it 2.06x, before a file is read (benchmarks/README.md). Here a model costs nothing until it is first
used: annotations are resolved and validators compiled then, once.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from typing import Annotated, Any, Literal, Union

__all__ = ["UNDEFINED", "AfterValidator", "BaseModel", "BeforeValidator", "ConfigDict", "Field", "FieldInfo",
           "TypeAdapter", "ValidationError", "create_model", "model_validator"]


class _Undefined:
    """The default of a required field."""

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()
_FAIL = object()  # what a checker returns after recording its errors
_CONSTRAINTS = ("gt", "ge", "lt", "le", "pattern", "min_length", "max_length")


class FieldInfo:
    """A field: its annotation, default (or `UNDEFINED`: required), description and constraints."""

    __slots__ = ("annotation", "default", "default_factory", "description", *_CONSTRAINTS)

    def __init__(self, default: Any = UNDEFINED, *, default_factory=None, description: str | None = None,
                 gt=None, ge=None, lt=None, le=None, pattern: str | None = None, min_length: int | None = None,
                 max_length: int | None = None, annotation: Any = None):
        self.annotation = annotation
        self.default = default
        self.default_factory = default_factory
        self.description = description
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.pattern, self.min_length, self.max_length = pattern, min_length, max_length

    def is_required(self) -> bool:
        return self.default is UNDEFINED and self.default_factory is None

    @property
    def metadata(self) -> list:
        """Constraints live in the annotation here (pydantic moves a top-level `Annotated`'s into this list)."""
        return []

    def constraints(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _CONSTRAINTS if getattr(self, k) is not None}

    def get_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        value = self.default
        if isinstance(value, dict):  # as pydantic: a mutable default is copied for each instance
            return dict(value)
        if isinstance(value, list):
            return list(value)
        return value

    def __repr__(self) -> str:
        parts = [f"annotation={self.annotation!r}", f"default={self.default!r}"]
        parts += [f"{k}={v!r}" for k, v in self.constraints().items()]
        return f"FieldInfo({', '.join(parts)})"


def Field(default: Any = UNDEFINED, **kwargs: Any) -> Any:
    """A field's default, description and constraints (pydantic's `Field`), in a class body or in `Annotated`."""
    return FieldInfo(default, **kwargs)


def ConfigDict(**kwargs: Any) -> dict[str, Any]:
    """A model's settings: `strict` (always on here), `extra` ("forbid" | "ignore" | "allow"), `frozen`."""
    return dict(kwargs)


class AfterValidator:
    """`Annotated[T, AfterValidator(f)]`: f(value) after T is checked; a ValueError is a `value_error`."""

    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func


class BeforeValidator:
    """`Annotated[T, BeforeValidator(f)]`: f(value) before T is checked."""

    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func


def model_validator(*, mode: str):
    """A method that checks the whole record after its fields (`mode="after"` only); a ValueError is a
    `value_error` located at the record."""
    if mode != "after":
        raise NotImplementedError("only model_validator(mode='after') is supported")

    def mark(func):
        func.__model_validator__ = mode
        return func

    return mark


class ValidationError(ValueError):
    """Every error of one validation, as pydantic lists them: dicts of `type`, `loc`, `msg`, `input`, `ctx`."""

    def __init__(self, title: str, errors: list[dict[str, Any]]):
        self.title = title
        self._errors = errors
        super().__init__(self.__str__())

    def errors(self, include_url: bool = False) -> list[dict[str, Any]]:
        return [dict(e) for e in self._errors]

    def __str__(self) -> str:
        n = len(self._errors)
        lines = [f"{n} validation error{'s' if n != 1 else ''} for {self.title}"]
        for e in self._errors:
            if e["loc"]:
                lines.append(".".join(map(str, e["loc"])))
            lines.append(f"  {e['msg']} [type={e['type']}, input_value={e['input']!r}, "
                         f"input_type={type(e['input']).__name__}]")
        return "\n".join(lines)


# ---- errors ------------------------------------------------------------------------------------------------
_MESSAGES = {
    "missing": "Field required", "extra_forbidden": "Extra inputs are not permitted",
    "int_type": "Input should be a valid integer", "float_type": "Input should be a valid number",
    "bool_type": "Input should be a valid boolean", "string_type": "Input should be a valid string",
    "none_required": "Input should be None", "tuple_type": "Input should be a valid tuple",
    "list_type": "Input should be a valid list", "dict_type": "Input should be a valid dictionary",
    "greater_than": "Input should be greater than {gt}", "greater_than_equal": "Input should be greater than or equal to {ge}",
    "less_than": "Input should be less than {lt}", "less_than_equal": "Input should be less than or equal to {le}",
    "string_pattern_mismatch": "String should match pattern '{pattern}'",
    "model_type": "Input should be a valid dictionary or instance of {class_name}",
    "literal_error": "Input should be {expected}", "value_error": "Value error, {error}",
    "invalid_key": "Keys should be strings",
}
_RANGE = (("gt", "greater_than", lambda v, b: v > b), ("ge", "greater_than_equal", lambda v, b: v >= b),
          ("lt", "less_than", lambda v, b: v < b), ("le", "less_than_equal", lambda v, b: v <= b))


def _number(x: Any) -> str:
    """A number as pydantic's messages print it: `100` for 100.0."""
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _error(errs: list, kind: str, loc: tuple, value: Any, ctx: dict | None = None, **words: Any) -> object:
    fmt = {k: (_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
           for k, v in {**(ctx or {}), **words}.items()}
    e = {"type": kind, "loc": loc, "msg": _MESSAGES[kind].format(**fmt) if kind in _MESSAGES else words["msg"],
         "input": value}
    if ctx:
        e["ctx"] = ctx
    errs.append(e)
    return _FAIL


def _length_error(errs: list, loc: tuple, value: Any, what: str, bound: str, n: int, actual: int | None = None) -> object:
    """too_short / too_long; `actual`: the items that passed (pydantic counts those, "after validation")."""
    kind = "too_short" if bound == "min_length" else "too_long"
    words = "at least" if bound == "min_length" else "at most"
    noun = "item" if what != "String" else "character"
    actual = len(value) if actual is None else actual
    msg = f"{what} should have {words} {n} {noun}{'' if n == 1 else 's'} after validation, not {actual}"
    errs.append({"type": kind, "loc": loc, "msg": msg, "input": value,
                 "ctx": {"field_type": what, bound: n, "actual_length": actual}})
    return _FAIL


# ---- checkers: annotation -> check(value, loc, errs) -> value | _FAIL ------------------------------------------
def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _split(tp: Any) -> tuple[Any, list]:
    """`Annotated[T, *metadata]` -> (T, metadata), flattening nested Annotated."""
    meta: list = []
    while typing.get_origin(tp) is Annotated:
        meta = [*tp.__metadata__, *meta]
        tp = tp.__origin__
    return tp, meta


def type_name(tp: Any) -> str:
    """How pydantic names a union member in error locations."""
    base, meta = _split(tp)
    constrained = any(isinstance(m, FieldInfo) and m.constraints() for m in meta)
    if base in (int, float, str, bool):
        return ("constrained-" if constrained else "") + base.__name__
    if typing.get_origin(base) is Literal:
        return "literal[" + ",".join(repr(a) for a in typing.get_args(base)) + "]"
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin in (tuple, list, dict):
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if isinstance(base, type) and issubclass(base, BaseModel):
        return base.__name__
    if _is_union(base):
        return "union[" + ",".join(type_name(a) for a in typing.get_args(base)) + "]"
    return getattr(base, "__name__", repr(base))


def compile_type(tp: Any):
    """The checker of an annotation (resolved: no strings)."""
    base, meta = _split(tp)
    limits: dict[str, Any] = {}
    before, after = [], []
    for m in meta:
        if isinstance(m, FieldInfo):
            limits.update(m.constraints())
        elif isinstance(m, BeforeValidator):
            before.append(m.func)
        elif isinstance(m, AfterValidator):
            after.append(m.func)
    check = _base_checker(base, limits)
    if not before and not after:
        return check

    def wrapped(value, loc, errs):
        for f in before:
            value = f(value)
        value = check(value, loc, errs)
        if value is _FAIL:
            return _FAIL
        for f in after:
            try:
                value = f(value)
            except ValueError as err:
                return _error(errs, "value_error", loc, value, {"error": err}, error=str(err))
        return value

    return wrapped


def _base_checker(tp: Any, limits: dict):
    if tp is Any or tp is object:
        return lambda value, loc, errs: value
    if tp is None or tp is type(None):
        return lambda value, loc, errs: value if value is None else _error(errs, "none_required", loc, value)
    if _is_union(tp):
        return _union_checker(typing.get_args(tp))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return _literal_checker(args)
    if tp is int or tp is float:
        return _number_checker(tp, limits)
    if tp is bool:
        return lambda value, loc, errs: value if isinstance(value, bool) else _error(errs, "bool_type", loc, value)
    if tp is str:
        return _str_checker(limits)
    if tp is tuple or origin is tuple:
        return _tuple_checker(args, limits)
    if tp is list or origin is list:
        return _list_checker(args[0] if args else Any, limits)
    if tp is dict or origin is dict:
        return _dict_checker(*(args or (Any, Any)))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp._checker
    raise TypeError(f"typed: unsupported annotation {tp!r}")


def _number_checker(kind: type, limits: dict):
    bounds = [(key, err, test, kind(limits[key])) for key, err, test in _RANGE if key in limits]

    def check(value, loc, errs):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
            return _error(errs, "int_type" if kind is int else "float_type", loc, value)
        out = float(value) if kind is float else value
        for key, err, test, bound in bounds:
            if not test(out, bound):
                return _error(errs, err, loc, value, {key: bound})
        return out

    return check


def _str_checker(limits: dict):
    pattern = limits.get("pattern")
    regex = re.compile(pattern) if pattern is not None else None

    def check(value, loc, errs):
        if not isinstance(value, str):
            return _error(errs, "string_type", loc, value)
        if regex is not None and not regex.search(value):
            return _error(errs, "string_pattern_mismatch", loc, value, {"pattern": pattern})
        return _lengths(value, loc, errs, limits, "String")

    return check


def _lengths(value, loc, errs, limits: dict, what: str, passed: int | None = None, original: Any = None):
    n = len(value) if passed is None else passed
    shown = value if original is None else original
    if "min_length" in limits and n < limits["min_length"]:
        return _length_error(errs, loc, shown, what, "min_length", limits["min_length"], n)
    if "max_length" in limits and n > limits["max_length"]:
        return _length_error(errs, loc, shown, what, "max_length", limits["max_length"], n)
    return value


def _literal_checker(choices: tuple):
    shown = [repr(c) for c in choices]
    expected = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

    def check(value, loc, errs):
        for c in choices:
            if value == c and type(value) is type(c):
                return c
        return _error(errs, "literal_error", loc, value, {"expected": expected})

    return check


def _union_checker(members: tuple):
    rest = [m for m in members if m is not type(None) and m is not None]
    nullable = len(rest) < len(members)
    if len(rest) == 1:
        inner = compile_type(rest[0])
    else:
        tagged = [(type_name(m), compile_type(m)) for m in rest]

        def inner(value, loc, errs):
            mine: list = []
            for tag, check in tagged:
                tried: list = []
                result = check(value, (*loc, tag), tried)
                if result is not _FAIL:
                    return result
                mine += tried
            errs += mine
            return _FAIL

    if not nullable:
        return inner
    return lambda value, loc, errs: None if value is None else inner(value, loc, errs)


def _tuple_checker(args: tuple, limits: dict):
    if len(args) == 2 and args[1] is Ellipsis or not args:
        item = compile_type(args[0] if args else Any)

        def variadic(value, loc, errs):
            if not isinstance(value, tuple):
                return _error(errs, "tuple_type", loc, value)
            before = len(errs)
            out = tuple(item(v, (*loc, i), errs) for i, v in enumerate(value))
            passed = sum(v is not _FAIL for v in out)
            checked = _lengths(out, loc, errs, limits, "Tuple", passed, value)
            return _FAIL if len(errs) > before else checked

        return variadic
    items = [compile_type(a) for a in args]

    def fixed(value, loc, errs):
        if not isinstance(value, tuple):
            return _error(errs, "tuple_type", loc, value)
        before = len(errs)
        out = []
        for i, check in enumerate(items):
            if i < len(value):
                out.append(check(value[i], (*loc, i), errs))
            else:
                _error(errs, "missing", (*loc, i), value)
        if len(value) > len(items):
            _length_error(errs, loc, value, "Tuple", "max_length", len(items))
        return _FAIL if len(errs) > before else tuple(out)

    return fixed


def _list_checker(item_tp: Any, limits: dict):
    item = compile_type(item_tp)

    def check(value, loc, errs):
        if not isinstance(value, list):
            return _error(errs, "list_type", loc, value)
        before = len(errs)
        out = [item(v, (*loc, i), errs) for i, v in enumerate(value)]
        checked = _lengths(out, loc, errs, limits, "List", sum(v is not _FAIL for v in out), value)
        return _FAIL if len(errs) > before else checked

    return check


def _dict_checker(key_tp: Any, value_tp: Any):
    key_check, value_check = compile_type(key_tp), compile_type(value_tp)

    def check(value, loc, errs):
        if not isinstance(value, dict):
            return _error(errs, "dict_type", loc, value)
        before = len(errs)
        out = {}
        for k, v in value.items():
            k2 = key_check(k, (*loc, k, "[key]"), errs)
            v2 = value_check(v, (*loc, k), errs)
            if k2 is not _FAIL and v2 is not _FAIL:
                out[k2] = v2
        return _FAIL if len(errs) > before else out

    return check


# ---- models ---------------------------------------------------------------------------------------------------
class _ModelMeta(type):
    """Collects a model's declared fields when the class is made; resolves and compiles them on first use."""

    def __new__(mcs, name, bases, namespace, **kwargs):
        own = {k: namespace[k] for k in namespace.get("__annotations__", {}) if k in namespace}
        for k, v in own.items():
            if isinstance(v, FieldInfo):
                del namespace[k]
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        cls.__declared__ = own
        config: dict = {}
        for base in reversed(cls.__mro__[1:]):
            config.update(getattr(base, "model_config", {}))
        cls.model_config = {**config, **namespace.get("model_config", {})}
        validators = [v for base in reversed(cls.__mro__) for v in vars(base).values()
                      if callable(v) and getattr(v, "__model_validator__", None) == "after"]
        cls.__validators__ = list(dict.fromkeys(validators))
        cls.__fields = None
        return cls

    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        """Every field, in declaration order (a base's first), resolved."""
        if cls.__dict__.get("_ModelMeta__fields") is None:
            cls.__fields = _resolve(cls)
        return cls.__fields


_EVALUATED: dict[tuple[str, str], Any] = {}


def _hints(cls) -> dict[str, Any]:
    """The annotations of `cls` and its bases (a base's first), strings evaluated in their module as
    `typing.get_type_hints` does, but each distinct text once per module: evaluating every occurrence was most
    of what the models cost a check."""
    out: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        annotations = base.__dict__.get("__annotations__")
        if not annotations:
            continue
        module = sys.modules.get(base.__module__)
        namespace = vars(module) if module is not None else {}
        for name, ann in annotations.items():
            if isinstance(ann, str):
                key = (base.__module__, ann)
                if key not in _EVALUATED:
                    try:
                        _EVALUATED[key] = eval(ann, namespace)
                    except NameError:  # a name of the class body: evaluated there, not shared
                        out[name] = eval(ann, namespace, dict(vars(base)))
                        continue
                ann = _EVALUATED[key]
            out[name] = ann
    return out


def _resolve(cls) -> dict[str, FieldInfo]:
    hints = _hints(cls)
    fields: dict[str, FieldInfo] = {}
    for name, tp in hints.items():
        if name.startswith("_") or name == "model_config" or typing.get_origin(tp) is typing.ClassVar:
            continue
        declared = next((c.__declared__[name] for c in cls.__mro__ if name in getattr(c, "__declared__", {})),
                        UNDEFINED)
        info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
        copy = FieldInfo(info.default, default_factory=info.default_factory, description=info.description,
                         annotation=tp, **info.constraints())
        fields[name] = copy
    return fields


class BaseModel(metaclass=_ModelMeta):
    """A strict, typed record: `Model.model_validate(dict)` or `Model(**fields)` checks every field against its
    annotation and gives an instance whose attributes are the fields (frozen with `frozen=True`)."""

    model_config: typing.ClassVar[dict[str, Any]] = {}

    def __init__(self, **data: Any):
        errs: list = []
        values = type(self)._values(data, (), errs)
        if errs:
            raise ValidationError(type(self).__name__, errs)
        self.__dict__.update(values)
        type(self)._after(self, data, (), errs)
        if errs:
            raise ValidationError(type(self).__name__, errs)

    # -- validation
    @classmethod
    def _compiled(cls) -> list:
        got = cls.__dict__.get("_compiled_fields")
        if got is None:
            got = [(name, compile_type(info.annotation), info) for name, info in cls.model_fields.items()]
            cls._compiled_fields = got
        return got

    @classmethod
    def _names(cls) -> frozenset[str]:
        got = cls.__dict__.get("_field_names")
        if got is None:
            got = cls._field_names = frozenset(cls.model_fields)
        return got

    @classmethod
    def _values(cls, data: Any, loc: tuple, errs: list) -> dict[str, Any]:
        before = len(errs)
        if not isinstance(data, dict):
            _error(errs, "model_type", loc, data, {"class_name": cls.__name__})
            return {}
        values: dict[str, Any] = {}
        for name, check, info in cls._compiled():
            if name in data:
                value = check(data[name], (*loc, name), errs)
                if value is not _FAIL:
                    values[name] = value
            elif info.is_required():
                _error(errs, "missing", (*loc, name), data)
            else:
                values[name] = info.get_default()
        extra = cls.model_config.get("extra", "ignore")
        if extra != "ignore":
            names = cls._names()
            for key in data:
                if key in names:
                    continue
                if not isinstance(key, str):
                    _error(errs, "invalid_key", (*loc, key), key)
                elif extra == "forbid":
                    _error(errs, "extra_forbidden", (*loc, key), data[key])
                else:
                    values[key] = data[key]
        return values if len(errs) == before else {}

    @classmethod
    def _after(cls, obj: BaseModel, data: Any, loc: tuple, errs: list) -> None:
        for validator in cls.__validators__:
            try:
                validator(obj)
            except ValueError as err:
                _error(errs, "value_error", loc, data, {"error": err}, error=str(err))
                return

    @classmethod
    def _checker(cls, value: Any, loc: tuple, errs: list) -> Any:
        if isinstance(value, cls):
            return value
        before = len(errs)
        values = cls._values(value, loc, errs)
        if len(errs) > before:
            return _FAIL
        obj = cls.__new__(cls)
        obj.__dict__.update(values)
        cls._after(obj, value, loc, errs)
        return _FAIL if len(errs) > before else obj

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        errs: list = []
        obj = cls._checker(data, (), errs)
        if errs:
            raise ValidationError(cls.__name__, errs)
        return obj

    # -- a record
    def model_dump(self) -> dict[str, Any]:
        return {k: _dump(v) for k, v in self.__dict__.items()}

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        defs: dict[str, Any] = {}
        schema = _model_schema(cls, defs)
        if cls.__name__ in defs:  # recursive (a `Step` holds steps): as pydantic, the model itself becomes a def
            defs[cls.__name__] = schema
            return {"$defs": defs, "$ref": f"#/$defs/{cls.__name__}"}
        if defs:
            schema["$defs"] = defs
        return schema

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self).model_config.get("frozen"):
            raise AttributeError(f"{type(self).__name__} is frozen: cannot set `{name}`")
        super().__setattr__(name, value)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        if not type(self).model_config.get("frozen"):
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    def __str__(self) -> str:
        return " ".join(f"{k}={v!r}" for k, v in self.__dict__.items())


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_dump(v) for v in value)
    return value


def create_model(name: str, *, __base__: type | None = None, __config__: dict | None = None, **fields: Any) -> type:
    """A model made at run time: `fields` maps a name to `(annotation, Field(...))` or `(annotation, default)`."""
    namespace: dict[str, Any] = {"__annotations__": {}, "__module__": sys._getframe(1).f_globals.get("__name__")}
    if __config__ is not None:
        namespace["model_config"] = __config__
    for key, (tp, default) in fields.items():
        namespace["__annotations__"][key] = tp
        namespace[key] = default
    return _ModelMeta(name, (__base__ or BaseModel,), namespace)


class TypeAdapter:
    """Checks one value against an annotation (pydantic's TypeAdapter, strict)."""

    def __init__(self, annotation: Any, config: dict | None = None):
        self.annotation = annotation
        self._check = compile_type(annotation)

    def validate_python(self, value: Any) -> Any:
        errs: list = []
        out = self._check(value, (), errs)
        if errs:
            raise ValidationError(type_name(self.annotation), errs)
        return out


# ---- JSON schema (what `segal schema`, the hover texts and docs/compiled-config.md read) -----------------------
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}
_JSON_LIMITS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum", "pattern": "pattern"}


def _model_schema(cls, defs: dict) -> dict[str, Any]:
    props, required = {}, []
    for name, info in cls.model_fields.items():
        prop = type_schema(info.annotation, defs)
        if info.is_required():
            required.append(name)
        elif not isinstance(info.default, BaseModel):
            prop["default"] = _dump(info.default)
        if info.description:
            prop["description"] = info.description
        props[name] = prop
    schema: dict[str, Any] = {"properties": props, "title": cls.__name__, "type": "object"}
    if required:
        schema["required"] = required
    if cls.model_config.get("extra") == "forbid":
        schema["additionalProperties"] = False
    if cls.__doc__:
        schema["description"] = cls.__doc__.strip()
    return schema


def type_schema(tp: Any, defs: dict) -> dict[str, Any]:
    """The JSON schema of an annotation, as pydantic writes it for the same type."""
    base, meta = _split(tp)
    out: dict[str, Any]
    origin, args = typing.get_origin(base), typing.get_args(base)
    if base is Any or base is object:
        out = {}
    elif base is None or base is type(None):
        out = {"type": "null"}
    elif _is_union(base):
        out = {"anyOf": [type_schema(a, defs) for a in args]}
    elif origin is Literal:
        kinds = {type(a) for a in args}
        out = {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        if len(kinds) == 1 and next(iter(kinds)) in _JSON_TYPES:
            out["type"] = _JSON_TYPES[next(iter(kinds))]
    elif base in _JSON_TYPES:
        out = {"type": _JSON_TYPES[base]}
    elif base is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            out = {"items": type_schema(args[0] if args else Any, defs), "type": "array"}
        else:
            out = {"maxItems": len(args), "minItems": len(args), "prefixItems": [type_schema(a, defs) for a in args],
                   "type": "array"}
    elif base is list or origin is list:
        out = {"items": type_schema(args[0] if args else Any, defs), "type": "array"}
    elif base is dict or origin is dict:
        out = {"additionalProperties": True, "type": "object"}
    elif isinstance(base, type) and issubclass(base, BaseModel):
        if base.__name__ not in defs:
            defs[base.__name__] = {}  # recursive models refer to themselves
            defs[base.__name__] = _model_schema(base, defs)
        out = {"$ref": f"#/$defs/{base.__name__}"}
    else:
        raise TypeError(f"typed: unsupported annotation {tp!r}")
    for m in meta:
        if isinstance(m, FieldInfo):
            for key, value in m.constraints().items():
                if key in _JSON_LIMITS:
                    out[_JSON_LIMITS[key]] = value
                elif out.get("type") == "string":
                    out["minLength" if key == "min_length" else "maxLength"] = value
                else:
                    out["minItems" if key == "min_length" else "maxItems"] = value
    return out
