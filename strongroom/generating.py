"""Generated values on SecretsManager's face (AWS ``GetRandomPassword``)."""

from __future__ import annotations

from strongroom.domain.generation import Generate
from strongroom.services.base import SYSTEM_RANDOM


class GeneratingFace:
    """``generate_value`` of ``SecretsManager`` (a base class: use ``SecretsManager``)."""

    @staticmethod
    def generate_value(
        length: int = 32,
        *,
        exclude_characters: str = "",
        exclude_punctuation: bool = False,
        exclude_numbers: bool = False,
        exclude_lowercase: bool = False,
        exclude_uppercase: bool = False,
        include_space: bool = False,
        require_each_included_type: bool = True,
    ) -> str:
        """A random value, by AWS ``GetRandomPassword``'s rules (ValidationError
        for an impossible combination). To store one without holding it, pass a
        ``Generate`` where the value goes: ``sm.create(name, Generate(length=40))``.
        Needs no open store: ``SecretsManager.generate_value()`` works too.
        """
        return Generate(
            length=length,
            exclude_characters=exclude_characters,
            exclude_punctuation=exclude_punctuation,
            exclude_numbers=exclude_numbers,
            exclude_lowercase=exclude_lowercase,
            exclude_uppercase=exclude_uppercase,
            include_space=include_space,
            require_each_included_type=require_each_included_type,
        ).value(SYSTEM_RANDOM)
