"""Masking secret values in a child's output (``strongroom run --mask``).

Output passes through as soon as it arrives; only a tail that could be the start
of a secret is held back until the next read shows whether it is one, so a value
written in pieces is masked as surely as one written whole.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = b"*****"
MIN_LENGTH = 4
"""Shorter values are not masked: they would mask ordinary words."""


def encodings(value: str) -> set[bytes]:
    """A value and its common encodings: base64 (padded or not, standard or
    URL-safe), URL-encoded and JSON-escaped."""
    raw = value.encode()
    found = {
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        quote(value, safe="").encode(),
        quote_plus(value, safe="").encode(),
        json.dumps(value)[1:-1].encode(),
        json.dumps(value, ensure_ascii=False)[1:-1].encode(),
    }
    found |= {item.rstrip(b"=") for item in found}
    return {item for item in found if len(item) >= MIN_LENGTH}


class Masker:
    """Replaces every pattern in a byte stream with ``*****``, across reads."""

    def __init__(self, values: Iterable[str]) -> None:
        self._patterns: set[bytes] = set()
        self._held = b""
        self._regex: re.Pattern[bytes] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        """Mask these values too (a restarted child's new ones)."""
        for value in values:
            if len(value) >= MIN_LENGTH:
                self._patterns |= encodings(value)
        ordered = sorted(self._patterns, key=len, reverse=True)
        self._regex = (
            re.compile(b"|".join(re.escape(p) for p in ordered)) if ordered else None
        )

    def feed(self, data: bytes) -> bytes:
        """What may be written now of what came so far, masked."""
        buffer = self._held + data
        if self._regex is None:
            self._held = b""
            return buffer
        last_end = 0
        for match in self._regex.finditer(buffer):
            last_end = match.end()
        cut = len(buffer) - self._unsure_tail(buffer[last_end:])
        self._held = buffer[cut:]
        return self._regex.sub(MASK, buffer[:cut])

    def flush(self) -> bytes:
        """The rest, at the end of the stream."""
        rest, self._held = self._held, b""
        return rest if self._regex is None else self._regex.sub(MASK, rest)

    def _unsure_tail(self, tail: bytes) -> int:
        """The length of the longest end of ``tail`` that starts some pattern."""
        for size in range(min(len(tail), max(map(len, self._patterns)) - 1), 0, -1):
            end = tail[-size:]
            if any(p.startswith(end) for p in self._patterns):
                return size
        return 0
