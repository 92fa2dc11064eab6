"""SOURCE_DATE_EPOCH is strict: digits only, in range; unset or empty means unset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tunix_rt.dataset import source_date_epoch
from tunix_rt.errors import SettingsError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
        ("253402300799", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_good_values(value: str | None, expected: datetime | None) -> None:
    assert source_date_epoch(value) == expected


@pytest.mark.parametrize("value", [" 17", "17 ", " ", "+17", "-1", "1.5", "\u0661\u0667", "1e3"])
def test_anything_but_digits_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="is not a whole number of seconds"):
        source_date_epoch(value)


@pytest.mark.parametrize("value", ["253402300800", "99999999999999999", "9" * 5000])
def test_a_whole_number_out_of_range_says_so(value: str) -> None:
    with pytest.raises(SettingsError, match=r"is out of range: at most 253402300799") as caught:
        source_date_epoch(value)
    assert len(str(caught.value)) < 120
