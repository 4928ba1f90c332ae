"""Generated values: AWS ``GetRandomPassword``'s parameters and rules. The rules
are here; the randomness is given by the caller (the services pass the operating
system's), so the domain draws nothing itself."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Protocol

from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError

MAX_LENGTH = 4096
PUNCTUATION = string.punctuation
"""``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~``, AWS's set."""


class Randomness(Protocol):
    """What generation draws with (``secrets.SystemRandom()``)."""

    def choice(self, seq: str) -> str:
        """One character of ``seq``."""

    def shuffle(self, x: list[str]) -> None:
        """Shuffle ``x`` in place."""


@dataclass(frozen=True, slots=True)
class Generate:
    """How to generate a value: pass one where a value goes (``create``, ``put``,
    ``update``) and the value is made in the store, never in the caller's hands."""

    length: int = 32
    exclude_characters: str = ""
    exclude_punctuation: bool = False
    exclude_numbers: bool = False
    exclude_lowercase: bool = False
    exclude_uppercase: bool = False
    include_space: bool = False
    require_each_included_type: bool = True

    def __post_init__(self) -> None:
        check.check_count(self.length, "length", minimum=1, maximum=MAX_LENGTH)
        excluded = self.exclude_characters
        if not isinstance(excluded, str) or len(excluded) > MAX_LENGTH:
            msg = f"invalid exclude_characters: expected a str of at most {MAX_LENGTH}"
            raise ValidationError(msg)
        pools = self.pools()
        if not pools:
            msg = "invalid generation: every kind of character is excluded"
            raise ValidationError(msg)
        if self.require_each_included_type and self.length < len(pools):
            msg = (
                f"invalid length: {len(pools)} kinds of character are required, "
                f"so at least {len(pools)} characters"
            )
            raise ValidationError(msg)

    def pools(self) -> list[str]:
        """The kinds of character to draw from, without the excluded ones."""
        kinds = (
            (string.ascii_lowercase, self.exclude_lowercase),
            (string.ascii_uppercase, self.exclude_uppercase),
            (string.digits, self.exclude_numbers),
            (PUNCTUATION, self.exclude_punctuation),
            (" ", not self.include_space),
        )
        found = []
        for kind, excluded in kinds:
            left = "".join(c for c in kind if c not in self.exclude_characters)
            if left and not excluded:
                found.append(left)
        return found

    def value(self, randomness: Randomness) -> str:
        """A new value following these rules."""
        pools = self.pools()
        chars = (
            [randomness.choice(pool) for pool in pools]
            if self.require_each_included_type
            else []
        )
        alphabet = "".join(pools)
        chars += [randomness.choice(alphabet) for _ in range(self.length - len(chars))]
        randomness.shuffle(chars)
        return "".join(chars)
