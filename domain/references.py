"""References between secrets: ``${name}`` or ``${namespace/name}`` inside a value,
``$${`` for a literal ``${``. Pure text work: finding references and putting values
in their place; resolving them (and who may read what) is the reveal service's."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from strongroom.domain.errors import ValidationError, describe
from strongroom.domain.validation import NAMESPACE_PATTERN, Value

MAX_DEPTH = 8
"""How many references deep a value may reach (a cycle is refused at once)."""

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAMESPACE = re.compile(NAMESPACE_PATTERN)


@dataclass(frozen=True, slots=True)
class Address:
    """Where a secret lives: its namespace (None: global) and name."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        return describe(self.name, self.namespace)


def references(value: Value) -> Iterator[str]:
    """The reference texts in a value (inside ``${...}``), escapes skipped."""
    for text in _strings(value):
        for match in _TOKEN.finditer(text):
            if match.group(1) is not None:
                yield match.group(1)


def candidates(reference: str, home: str | None) -> list[Address]:
    """Where ``${reference}`` may point, in the order to try them.

    First the name in the referencing secret's own namespace (names hold ``/``,
    as in ``db/password``); then, for ``namespace/rest``, ``rest`` in that
    namespace; last the name among global secrets, which every namespace shares.
    """
    found = [Address(home, reference)]
    first, slash, rest = reference.partition("/")
    if slash and rest and _NAMESPACE.fullmatch(first) and first != home:
        found.append(Address(first, rest))
    if home is not None:
        found.append(Address(None, reference))
    return found


def substitute(value: Value, resolve: Callable[[str], Value]) -> Value:
    """``value`` with each reference replaced by ``resolve(reference)``.

    A JSON object's string leaves are expanded too; a referenced JSON object is
    put in as compact JSON text.
    """
    if isinstance(value, str):
        return _TOKEN.sub(lambda m: _text(m, resolve), value)
    if isinstance(value, dict):
        return {key: substitute(item, resolve) for key, item in value.items()}  # type: ignore[misc]
    if isinstance(value, list):
        return [substitute(item, resolve) for item in value]  # type: ignore[return-value]
    return value


def chain_error(chain: list[Address], why: str) -> ValidationError:
    """A ValidationError naming the reference chain (addresses only, no value)."""
    path = " -> ".join(str(address) for address in chain)
    return ValidationError(f"invalid reference: {path}: {why}")


def _text(match: re.Match[str], resolve: Callable[[str], Value]) -> str:
    if match.group(1) is None:
        return "${"
    found = resolve(match.group(1))
    if isinstance(found, str):
        return found
    return json.dumps(found, separators=(",", ":"), ensure_ascii=False)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
