"""spec/typed.py against pydantic itself: every model of the spec and the front end, rebuilt as a pydantic v2
model from the same annotations, must accept and refuse the same inputs with the same errors (type, location,
message, input, context) and give the same values and JSON schema. pydantic is a test dependency only."""

from __future__ import annotations

import random
import typing
from typing import Annotated, Any, Literal, Union

import pydantic
import pytest

from segal_dsl.frontend import model as m
from segal_dsl.spec import config, heuristics, typed
from segal_dsl.spec.typed import BaseModel


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    pool = [*vars(m).values(), *vars(config).values(), *config.MODE_SETTINGS.values(),
            *(heuristics.params_model(h) for h in heuristics.HEURISTICS)]
    for obj in pool:
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            found[f"{obj.__module__}.{obj.__qualname__}.{id(obj)}"] = obj
    return list(found.values())


MODELS = _models()
_TWINS: dict[type, type] = {}


def _twin_type(tp: Any) -> Any:
    """The same annotation for pydantic: typed's Field/validators and models replaced by pydantic's."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        meta = []
        for x in tp.__metadata__:
            if isinstance(x, typed.FieldInfo):
                meta.append(pydantic.Field(**x.constraints()))
            elif isinstance(x, typed.AfterValidator):
                meta.append(pydantic.AfterValidator(x.func))
            elif isinstance(x, typed.BeforeValidator):
                meta.append(pydantic.BeforeValidator(x.func))
        return Annotated[(_twin_type(tp.__origin__), *meta)]
    if origin in (Union, typing.get_origin(int | None)):
        return Union[tuple(_twin_type(a) for a in args)]  # noqa: UP007
    if origin is Literal or tp is Any or tp is None or tp is type(None):
        return tp
    if origin in (tuple, list, dict):
        return origin[tuple(a if a is Ellipsis else _twin_type(a) for a in args)]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return twin(tp)
    return tp


def twin(cls: type[BaseModel]) -> type[pydantic.BaseModel]:
    if cls in _TWINS:
        return _TWINS[cls]
    _TWINS[cls] = f"{cls.__name__}"  # a forward reference while its own fields are built (Step is recursive)
    cfg = pydantic.ConfigDict(strict=True, extra=cls.model_config.get("extra", "ignore"),
                              frozen=bool(cls.model_config.get("frozen")))
    fields = {}
    for name, info in cls.model_fields.items():
        default = ... if info.is_required() else info.default
        if isinstance(default, BaseModel):
            default = twin(type(default)).model_validate(default.model_dump())
        fields[name] = (_twin_type(info.annotation), pydantic.Field(default, description=info.description))
    validators = {f"v{i}": pydantic.model_validator(mode="after")(lambda self, f=f: (f(self), self)[1])
                  for i, f in enumerate(cls.__validators__)}
    made = pydantic.create_model(cls.__name__, __config__=cfg, __validators__=validators, **fields)
    _TWINS[cls] = made
    made.model_rebuild(_types_namespace={t.__name__: t for t in _TWINS.values() if isinstance(t, type)})
    return made


SAMPLES: list[Any] = [None, True, False, 0, 1, -1, 3, 256, 2**32, 0.0, 0.5, 2.5, 100.0, 101.0, "", "x", "entropy",
                      "pixel", "iters", "--flag=1", "bad flag", (), (1,), (1, 2), (0, 2), (1, 2, 3), ("a",), ("a", 1),
                      [1], [1, 2], {}, {"a": 1}, {1: 2}, {"value": 1, "unit": "px"}, {"value": 1, "unit": "%"},
                      {"kind": "train", "length": 2}]


def _errors(err) -> list[tuple]:
    return [(e["type"], e["loc"], e["msg"], repr(e["input"]),
             repr({k: str(v) if isinstance(v, Exception) else v for k, v in (e.get("ctx") or {}).items()}))
            for e in err.errors(include_url=False)]


def _outcome(model, data):
    try:
        return "ok", _plain(model.model_validate(data).model_dump())
    except (typed.ValidationError, pydantic.ValidationError) as err:
        return "error", _errors(err)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return (type(x).__name__, x)


def _inputs(cls, rng: random.Random) -> list[dict]:
    names = list(cls.model_fields)
    out = [{}, {"not_a_field": 1}]
    for name in names:
        out += [{name: v} for v in SAMPLES]
    for _ in range(60):
        out.append({n: rng.choice(SAMPLES) for n in rng.sample(names, k=min(len(names), rng.randint(1, 4)))})
    return out


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: f"{c.__module__.rsplit('.', 1)[-1]}.{c.__name__}")
def test_validation_matches_pydantic(cls):
    mine, theirs = cls, twin(cls)
    rng = random.Random(cls.__name__)
    for data in _inputs(cls, rng):
        assert _outcome(mine, data) == _outcome(theirs, data), data


def _shape(schema: Any) -> Any:
    """A JSON schema without what only pydantic writes (titles) or what the readers ignore (defaults, texts)."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("title", "default", "description")}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: f"{c.__module__.rsplit('.', 1)[-1]}.{c.__name__}")
def test_json_schema_matches_pydantic(cls):
    assert _shape(cls.model_json_schema()) == _shape(twin(cls).model_json_schema())


def test_records_are_frozen_hashable_and_compare_by_value():
    a = m.Pool.model_validate({"images": 3})
    assert a == m.Pool.model_validate({"images": 3}) != m.Pool.model_validate({"images": 4})
    assert hash(a) == hash(m.Pool.model_validate({"images": 3}))
    with pytest.raises(AttributeError):
        a.images = 5
    assert a.model_dump() == {"images": 3, "resolution": None}


def test_a_model_is_resolved_only_when_first_used():
    made = typed.create_model("Lazy", n=(Annotated[int, typed.Field(gt=0)], 1))
    assert "_compiled_fields" not in made.__dict__
    assert made.model_validate({"n": 2}).n == 2 and "_compiled_fields" in made.__dict__
