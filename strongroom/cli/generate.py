"""Generated values from the shell: ``strongroom generate`` prints one, and
``put --generate`` stores one without it ever being shown (the options are the
same, AWS ``GetRandomPassword``'s)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from strongroom import Generate, SecretsManager
from strongroom.cli.base import _checked, app

Length = Annotated[int, typer.Option("--length", help="How many characters (1-4096).")]
ExcludeCharacters = Annotated[
    str, typer.Option("--exclude-characters", help="Never use these characters.")
]
ExcludePunctuation = Annotated[
    bool,
    typer.Option(
        "--exclude-punctuation", help="No !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~."
    ),
]
ExcludeNumbers = Annotated[bool, typer.Option("--exclude-numbers", help="No digits.")]
ExcludeLowercase = Annotated[
    bool, typer.Option("--exclude-lowercase", help="No lowercase letters.")
]
ExcludeUppercase = Annotated[
    bool, typer.Option("--exclude-uppercase", help="No uppercase letters.")
]
IncludeSpace = Annotated[
    bool, typer.Option("--include-space", help="Spaces may be used too.")
]
EachType = Annotated[
    bool,
    typer.Option(
        "--require-each-type/--no-require-each-type",
        help="At least one character of each kind used.",
    ),
]


def generation(
    length: int,
    exclude_characters: str,
    *,
    exclude_punctuation: bool,
    exclude_numbers: bool,
    exclude_lowercase: bool,
    exclude_uppercase: bool,
    include_space: bool,
    require_each_type: bool = True,
) -> Generate:
    """The rules given on the command line (exit 2 for an impossible combination)."""
    return _checked(
        lambda: Generate(
            length=length,
            exclude_characters=exclude_characters,
            exclude_punctuation=exclude_punctuation,
            exclude_numbers=exclude_numbers,
            exclude_lowercase=exclude_lowercase,
            exclude_uppercase=exclude_uppercase,
            include_space=include_space,
            require_each_included_type=require_each_type,
        )
    )


@app.command()
def generate(
    length: Length = 32,
    exclude_characters: ExcludeCharacters = "",
    exclude_punctuation: ExcludePunctuation = False,
    exclude_numbers: ExcludeNumbers = False,
    exclude_lowercase: ExcludeLowercase = False,
    exclude_uppercase: ExcludeUppercase = False,
    include_space: IncludeSpace = False,
    require_each_type: EachType = True,
) -> None:
    """Print a random value (nothing is stored; `put --generate` stores one unseen)."""
    rules = generation(
        length,
        exclude_characters,
        exclude_punctuation=exclude_punctuation,
        exclude_numbers=exclude_numbers,
        exclude_lowercase=exclude_lowercase,
        exclude_uppercase=exclude_uppercase,
        include_space=include_space,
        require_each_type=require_each_type,
    )
    value = SecretsManager.generate_value(**dataclasses.asdict(rules))
    # A newline only for a person reading it: piped, the value is exactly itself.
    sys.stdout.write(value + ("\n" if sys.stdout.isatty() else ""))
