"""One configuration mechanism: typed pydantic models filled from mappings or YAML, errors as one line.

Every config of the package (model, kernel, training, MD, reference data) is a :class:`Config`.
Values are checked once, when the object is built or an attribute is assigned, by the field types
and constraints of the class; a mistake becomes an :class:`~ase_relaxed.errors.InputError` whose one
line names the file (when there is one), the key as a dotted path, what was expected and what was
given.  Unknown keys are errors that list the known ones, so a typo never falls back to a default.

>>> from pydantic import Field
>>> class Run(Config):
...     steps: int = Field(10, ge=0)
...     rate: float = 1.0
>>> Run.from_dict({"steps": 5}) == Run(steps=5)
True
>>> Run.from_dict({"steps": -1, "rate": "fast"}, where="run.yaml")
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: run.yaml: steps: must be >= 0, got -1; rate: expected a number, got 'fast'
>>> Run.from_dict({"step": 5})
Traceback (most recent call last):
...
ase_relaxed.errors.InputError: unknown config key(s) ['step']; known keys: ['steps', 'rate']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pydantic
from pydantic import ConfigDict, ValidationError

from .errors import InputError

#: what a failed check of a value's type says (pydantic error type → text)
EXPECTED = {
    "float_parsing": "expected a number", "float_type": "expected a number",
    "int_parsing": "expected an integer", "int_type": "expected an integer", "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false", "bool_type": "expected true or false",
    "string_type": "expected a string", "list_type": "expected a list", "tuple_type": "expected a list",
    "finite_number": "expected a finite number", "dict_type": "expected a mapping of key: value",
    "model_type": "expected a mapping of key: value", "model_attributes_type": "expected a mapping of key: value",
}
#: what a failed constraint says (pydantic error type → text, filled from the error's ctx)
CONSTRAINTS = {
    "greater_than": "must be > {gt}", "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}", "less_than_equal": "must be <= {le}",
    "too_short": "needs at least {min_length} value(s)", "too_long": "takes at most {max_length} value(s)",
    "literal_error": "must be {expected}",
}


class _ConfigMeta(type(pydantic.BaseModel)):
    """``SomeConfig(key=value)`` raises InputError.  (Done here, not in ``__init__``: pydantic calls a custom
    ``__init__`` for nested sections too, which would turn their errors into messages without the dotted key.)"""

    def __call__(cls, *args: Any, **values: Any):
        try:
            return super().__call__(*args, **values)
        except ValidationError as error:
            raise InputError(describe(error, cls)) from None


class Config(pydantic.BaseModel, metaclass=_ConfigMeta):
    """Base class of the package's configs: unknown keys forbidden, assignments checked, finite floats only."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              protected_namespaces=())
    #: how an error message calls this class's keys
    key_noun: ClassVar[str] = "config key"

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as error:
            raise InputError(describe(error, type(self))) from None

    def to_dict(self) -> dict:
        """Plain values (nested configs as dicts), ready for JSON or YAML."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, values: Mapping | None, where: str | None = None, context: dict | None = None):
        """Build from a mapping (``None``: all defaults); ``where`` (a file name) starts every error message."""
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise InputError(f"{where or cls.__name__}: expected a mapping of key: value, got {values!r}")
        try:
            return cls.model_validate(dict(values), context=context)
        except ValidationError as error:
            raise InputError(describe(error, cls, where)) from None

    @classmethod
    def from_yaml(cls, path: str | Path):
        """Build from the mapping in a YAML file; errors name the file."""
        return cls.from_dict(read_yaml(path), where=str(path))

    def replace(self, **changes: Any):
        """A checked copy with some values changed (the counterpart of ``dataclasses.replace``)."""
        return type(self).from_dict({**self.to_dict(), **changes})


def read_yaml(path: str | Path) -> dict:
    """The mapping in a YAML file (an empty file is ``{}``); any problem is one InputError line naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {str(path)!r} does not exist" if not path.exists()
                         else f"config file {str(path)!r} is not a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read config file {str(path)!r}: {error}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).replace("\n", " ")
        raise InputError(f"config file {str(path)!r} is not valid YAML: {problem}{at}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(f"config file {str(path)!r} must hold a mapping of key: value, got a {type(values).__name__}")
    return values


def dotted(loc: tuple) -> str:
    """``("optim", "batch_size")`` → ``optim.batch_size``; list positions as ``species[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(error: ValidationError, cls: type, where: str | None = None) -> str:
    """One line for all the problems in ``error``: ``where: key: what was expected, got value; ...``."""
    parts: list[str] = []
    unknown: dict[tuple, list[str]] = {}
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            if loc[:-1] not in unknown:
                unknown[loc[:-1]] = []
                parts.append(loc[:-1])  # placeholder, keeps the order of the problems
            unknown[loc[:-1]].append(str(loc[-1]))
        else:
            parts.append(explain(item))
    lines = [p if isinstance(p, str) else _unknown_keys(cls, p, unknown[p]) for p in parts]
    return (f"{where}: " if where else "") + "; ".join(lines)


def explain(item: Mapping) -> str:
    """One problem: ``key: expected ..., got ...`` (``key:`` left out for a check of the whole section)."""
    kind, ctx, value = item["type"], item.get("ctx") or {}, item.get("input")
    key = dotted(tuple(item["loc"]))
    head = f"{key}: " if key else ""
    if kind == "missing":
        return f"{head}is required"
    message = str(item["msg"])
    text = message[:1].lower() + message[1:]  # pydantic's own words, for the rare kinds not listed above
    if kind in EXPECTED:
        text = EXPECTED[kind]
    elif kind in CONSTRAINTS:
        try:
            text = CONSTRAINTS[kind].format(**{name: _number(bound) for name, bound in ctx.items()})
        except KeyError:  # a ctx without the bound: keep pydantic's words
            pass
    elif kind in ("value_error", "assertion_error") and "error" in ctx:
        text = str(ctx["error"])
    if isinstance(value, Mapping):  # a check across keys: its message says what it saw
        return f"{head}{text}"
    return f"{head}{text}, got {value!r}"


def _number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _unknown_keys(cls: type, section: tuple, keys: list[str]) -> str:
    """``unknown config key(s) ['x'] in section 'optim'; known keys: [...]``."""
    model = cls
    for part in section:  # the config class of the section the keys are in
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel) else None
        if model is None:
            break
    noun = getattr(model or cls, "key_noun", Config.key_noun)
    text = f"unknown {noun}(s) {keys}"
    if section:
        text += f" in section '{dotted(section)}'"
    if model is not None:
        text += f"; known {noun.split()[-1]}s: {list(model.model_fields)}"
    return text
