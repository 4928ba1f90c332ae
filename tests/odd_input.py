"""Odd input for property tests: what an attacker or a careless client sends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

ODD = [
    "\x00",
    "\ud800",
    "\udc00",
    "\udfff",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\n",
    "\t",
    "\r",
    " ",
    "é",
    "😀",
    "/",
    ".",
    "..",
    "%00",
]
"""NUL, lone surrogates, control characters, BOM, bidi controls, path pieces."""

odd_text = st.lists(
    st.one_of(st.sampled_from(ODD), st.text(min_size=1, max_size=3)),
    min_size=1,
    max_size=5,
).map("".join)
"""Non-empty text mixing odd characters with arbitrary ones."""

odd_moments = st.builds(
    lambda naive, minutes: naive.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.one_of(
        st.datetimes(min_value=datetime.min, max_value=datetime(1, 1, 3)),
        st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime.max),
        st.datetimes(),
    ),
    st.integers(min_value=-1439, max_value=1439),
)
"""Aware moments, often within a day of the ends of time, in any offset."""

odd_integers = st.one_of(
    st.integers(), st.sampled_from([2**63 - 1, 2**63, -(2**63), 10**30, 10**5000])
)
"""Integers around and far past 64 bits."""
