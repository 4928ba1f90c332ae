"""Write docs/api.md, the API reference, from the package's signatures and docstrings.

    python scripts/api_docs.py            # rewrite docs/api.md
    python scripts/api_docs.py --check    # exit 1 if docs/api.md is out of date

The reference is generated so that it is complete by construction: every public
name of ``strongroom`` and every public method of the façade appears, with its
signature and docstring (``tests/unit/test_api_docs.py`` runs ``--check``).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import strongroom
from strongroom import shredding
from strongroom.domain import validation
from strongroom.domain.errors import StrongroomError
from strongroom.manager import SecretsManager
from strongroom.services.feed import ChangeWatch
from strongroom.services.field_encryption import FieldEncryption
from strongroom.services.keys import KeyAPI
from strongroom.services.tokens import IssuedToken, TokenAPI, TokenInfo
from strongroom.shredding import postgres as shredding_postgres
from strongroom.shredding import sqlite as shredding_sqlite

TARGET = Path(__file__).resolve().parents[1] / "docs" / "api.md"

INTRO = """\
# strongroom API reference

Generated from the code by `python scripts/api_docs.py`; do not edit by hand.
Everything below is importable from `strongroom` unless its heading says otherwise.
Every error derives from `StrongroomError`; messages name secrets, never values.
"""


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _signature(name: str, func: Any) -> str:
    try:
        text = str(inspect.signature(func))
    except (TypeError, ValueError):
        text = "(...)"
    # Annotations are strings under postponed evaluation: show them unquoted.
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)
    return f"{name}{text.replace('self, ', '').replace('(self)', '()')}"


def _methods(cls: type, prefix: str) -> list[str]:
    out = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name != "__init__":
            continue
        if name == "__init__":
            continue
        func = member.__func__ if isinstance(member, classmethod) else member
        if isinstance(inspect.getattr_static(cls, name), property):
            out.append(f"#### `{prefix}{name}` (property)\n\n{_doc(member)}\n")
        elif inspect.isfunction(func) or inspect.ismethod(member):
            static = isinstance(inspect.getattr_static(cls, name), classmethod)
            owner = f"{cls.__name__}." if static else prefix
            out.append(f"#### `{owner}{_signature(name, func)}`\n\n{_doc(func)}\n")
    return out


def _fields(cls: type) -> str:
    if dataclasses.is_dataclass(cls):
        rows = [f"`{f.name}`" for f in dataclasses.fields(cls)]
        return "Fields: " + ", ".join(rows) + ".\n"
    if issubclass(cls, enum.Enum):
        return "Values: " + ", ".join(f"`{m.value}`" for m in cls) + ".\n"
    return ""


def _error_tree() -> list[str]:
    lines = []

    def walk(cls: type, depth: int) -> None:
        lines.append(f"{'  ' * depth}- `{cls.__name__}`: {_doc(cls).splitlines()[0]}")
        for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
            if sub.__module__.startswith("strongroom"):
                walk(sub, depth + 1)

    walk(StrongroomError, 0)
    return lines


def render() -> str:
    """The reference as markdown."""
    parts = [INTRO]
    parts.append("## `SecretsManager`\n\n" + _doc(SecretsManager) + "\n")
    parts += _methods(SecretsManager, "sm.")
    parts.append(
        "## `sm.keys`: the aggregate key API (`KeyAPI`)\n\n" + _doc(KeyAPI) + "\n"
    )
    parts += _methods(KeyAPI, "sm.keys.")
    parts.append("### `FieldEncryption`\n\n" + _doc(FieldEncryption) + "\n")
    parts += _methods(FieldEncryption, "")
    parts.append(
        "## `sm.tokens`: HTTP API tokens (`TokenAPI`)\n\n" + _doc(TokenAPI) + "\n"
    )
    parts += _methods(TokenAPI, "sm.tokens.")
    for cls in (IssuedToken, TokenInfo):
        parts.append(
            f"### `{cls.__name__}` (`strongroom.services.tokens`)\n\n{_doc(cls)}\n\n{_fields(cls)}"
        )
    parts.append("## `sm.watch()`: `ChangeWatch`\n\n" + _doc(ChangeWatch) + "\n")
    parts += _methods(ChangeWatch, "watch.")
    parts.append("## Results\n")
    for name in sorted(strongroom.__all__):
        obj = getattr(strongroom, name)
        if inspect.isclass(obj) and (
            dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum)
        ):
            parts.append(f"### `{name}`\n\n{_doc(obj)}\n\n{_fields(obj)}")
    parts.append("## Errors\n\n" + "\n".join(_error_tree()) + "\n")
    parts.append("## Rotation hooks\n")
    for name in ("command_hook", "CommandHookError"):
        obj = getattr(strongroom, name)
        heading = (
            f"`{_signature(name, obj)}`" if inspect.isfunction(obj) else f"`{name}`"
        )
        parts.append(f"### {heading}\n\n{_doc(obj)}\n")
    parts.append("## Master keys and settings\n")
    for name in (
        "MasterKeyProvider",
        "RawKeyProvider",
        "CommandKeyProvider",
        "Settings",
    ):
        parts.append(f"### `{name}`\n\n{_doc(getattr(strongroom, name))}\n")
    parts.append(
        "## Crypto-shredding for eventsourcing applications (`strongroom.shredding`)\n\n"
        + _doc(shredding)
        + "\n"
    )
    for name in sorted(shredding.__all__):
        obj = getattr(shredding, name)
        if not str(getattr(obj, "__module__", "")).startswith(shredding.__name__):
            continue
        if inspect.isclass(obj):
            parts.append(f"### `{name}`\n\n{_doc(obj)}\n")
        elif inspect.isfunction(obj):
            parts.append(f"### `{_signature(name, obj)}`\n\n{_doc(obj)}\n")
    for module in (shredding_postgres, shredding_sqlite):
        parts.append(f"### `PERSISTENCE_MODULE={module.__name__}`\n\n{_doc(module)}\n")
    parts.append(
        "## Input rules (`strongroom.domain.validation`)\n\n"
        + _doc(validation)
        + "\n\nLimits: "
        + ", ".join(
            f"`{n}` = {getattr(validation, n)!r}"
            for n in sorted(vars(validation))
            if n.startswith("MAX_") or n.startswith("MIN_")
        )
        + ".\n"
    )
    for name in sorted(vars(validation)):
        obj = getattr(validation, name)
        if (
            inspect.isfunction(obj)
            and not name.startswith("_")
            and obj.__module__ == validation.__name__
        ):
            parts.append(f"- `{_signature(name, obj)}`: {_doc(obj)}")
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    """Write or check docs/api.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            sys.exit("docs/api.md is out of date: run python scripts/api_docs.py")
        return
    TARGET.write_text(text)


if __name__ == "__main__":
    main()
