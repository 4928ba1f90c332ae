"""Secrets as environment variables: which variable each secret becomes, one field
of a JSON secret, and the refusals (a collision, a name that is no identifier)
made before anything runs. Pure rules; reading the values is a service's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError, describe
from strongroom.domain.validation import Value

_OUTSIDE = re.compile(r"[^A-Z0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPEC = re.compile(r"(?P<name>[^#=]+)(?:#(?P<field>[^=]+))?(?:=(?P<var>.+))?")


@dataclass(frozen=True, slots=True)
class Wanted:
    """One secret to inject: its name, a field of a JSON object, a variable."""

    name: str
    field: str | None = None
    variable: str | None = None


def parse_spec(spec: str) -> Wanted:
    """``NAME``, ``NAME=VAR``, ``NAME#field`` or ``NAME#field=VAR``."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        msg = "invalid --name: expected NAME, NAME=VAR, NAME#field or NAME#field=VAR"
        raise ValidationError(msg)
    variable = match["var"]
    if variable is not None:
        check_variable(variable)
    field = match["field"]
    if field is not None:
        check.check_label(field, "field")
    return Wanted(check.check_name(match["name"]), field, variable)


def variable_for(name: str, prefixes: Iterable[str] = ()) -> str:
    """The default variable of a secret: without its matched prefix, upper-cased,
    each run of characters outside ``A-Z0-9`` made ``_`` (``db/password`` ->
    ``DB_PASSWORD``)."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        if prefix and name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    return _OUTSIDE.sub("_", name.upper())


def check_variable(variable: str) -> str:
    """A variable name a shell accepts (``[A-Za-z_][A-Za-z0-9_]*``)."""
    if not _IDENTIFIER.fullmatch(variable):
        msg = "invalid variable name: expected letters, digits and _, not first a digit"
        raise ValidationError(msg)
    return variable


def assign(
    wanted: Iterable[Wanted],
    prefixes: Iterable[str] = (),
    namespace: str | None = None,
) -> dict[str, Wanted]:
    """Variable -> what it holds; a collision or a bad name raises first."""
    prefixes = list(prefixes)
    assigned: dict[str, Wanted] = {}
    for item in wanted:
        variable = item.variable or variable_for(item.name, prefixes)
        try:
            check_variable(variable)
        except ValidationError:
            where = describe(item.name, namespace)
            msg = f"secret {where} would be the variable {variable!r}, not a valid name"
            raise ValidationError(msg) from None
        if variable in assigned:
            msg = (
                f"secrets {describe(assigned[variable].name, namespace)} and "
                f"{describe(item.name, namespace)} both map to {variable}: "
                "name one with --name NAME=VAR"
            )
            raise ValidationError(msg)
        assigned[variable] = item
    return assigned


def as_text(value: Value, field: str | None, where: str) -> str:
    """A value as a variable holds it: a string as is, a JSON object as compact
    JSON, or one ``field`` of it (a string as is, anything else as JSON)."""
    if field is not None:
        if not isinstance(value, Mapping) or field not in value:
            msg = f"secret {where} has no field {field!r}"
            raise ValidationError(msg)
        value = value[field]
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    )
    if "\x00" in text:
        msg = f"secret {where} holds a NUL character, which no variable can hold"
        raise ValidationError(msg)
    return text
