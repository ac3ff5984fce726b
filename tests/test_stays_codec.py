"""How a check-in is written in Redis (store/stays.py): every id and time comes back as
written, and a venue's day is what a query spanning days reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dichte.domain.tracing import DAY
from dichte.store import stays

ids = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),  # person and venue ids
    st.text(min_size=1, max_size=60),  # anything else a caller may use
)
times = st.integers(0, 2**32 - 1)


@given(other=ids, start=times, end=st.none() | times)
def test_a_member_reads_back_as_written(other: str, start: int, end: int | None) -> None:
    assert stays.parse(stays.member(other, start, end)) == (other, start, end)


def test_ids_of_32_hex_digits_take_17_bytes_and_others_are_told_apart() -> None:
    hex_id = "0123456789abcdef" * 2
    assert len(stays.member(hex_id, 1, 2)) == 17 + 8
    # The same characters in upper case are another id, kept as text.
    assert stays.parse(stays.member(hex_id.upper(), 1))[0] == hex_id.upper()
    with pytest.raises(ValueError):
        stays.pack_id("x" * 256)


def test_a_range_reads_every_day_it_touches_and_no_other() -> None:
    t = 1_790_000_000 - 1_790_000_000 % DAY
    assert list(stays.days(t, t + DAY)) == [t // DAY]
    assert list(stays.days(t - 1, t + 1)) == [t // DAY - 1, t // DAY]
    assert list(stays.days(t, t)) == []
