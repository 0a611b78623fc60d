"""Immutable value classes for the modules a cached `segal check` imports (source, diagnostics, codes,
check_cache), without `dataclasses`.

Why: `dataclasses` imports `inspect` (with `dis`, `ast`, `tokenize`): about 10 ms, a third of what a check
answered from the result cache may add to bare Python (the target is 2x `python -c pass`,
benchmarks/README.md "Issue 10"; `typing` is not imported either). The rest of the package uses dataclasses freely.
A subclass names its fields in `__slots__` (or in `FIELDS` when it needs a `__dict__`, e.g. for a
`functools.cached_property`) and their defaults in `DEFAULTS`; equality, hashing, repr and pickling follow
the fields, as a frozen dataclass's do, and a field cannot be assigned after `__init__`.
"""

from __future__ import annotations

_set = object.__setattr__


class Value:
    """Base of an immutable record: fields, defaults, equality, hash, repr, pickling, `replace`."""

    __slots__ = ()
    FIELDS: tuple[str, ...] = ()  # a class attribute (not a field)
    DEFAULTS: dict[str, object] = {}  # read only

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "__slots__" in cls.__dict__ and cls.__slots__:
            cls.FIELDS = tuple(cls.__slots__)

    def __init__(self, *args: object, **kwargs: object) -> None:
        names = self.FIELDS
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, got {len(args)}")
        for name, value in zip(names, args, strict=False):
            _set(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                _set(self, name, kwargs.pop(name))
            elif name in self.DEFAULTS:
                _set(self, name, self.DEFAULTS[name])
            else:
                raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments {sorted(kwargs)}")

    def values(self) -> tuple[object, ...]:
        """The fields' values, in order."""
        return tuple(getattr(self, name) for name in self.FIELDS)

    def replace(self, **changes: object) -> object:
        """A copy with some fields changed (`dataclasses.replace`)."""
        return type(self)(**{**dict(zip(self.FIELDS, self.values(), strict=True)), **changes})

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.values() == other.values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in zip(self.FIELDS, self.values(), strict=True))
        return f"{type(self).__name__}({inner})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of an immutable {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of an immutable {type(self).__name__}")

    def __reduce__(self) -> tuple:
        return (type(self), self.values())


def replace(record: Value, **changes: object) -> object:
    """A copy of a record with some fields changed (what `dataclasses.replace` is for dataclasses)."""
    return record.replace(**changes)


def assign(obj: Value, name: str, value: object) -> None:
    """Set a field while constructing (what a frozen dataclass's generated `__init__` does)."""
    _set(obj, name, value)
