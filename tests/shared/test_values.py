"""shared.values.parse_time: every way devices write an ISO-8601 time reads as the same aware moment."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.values import ValueProblem, parse_time

MOMENT = datetime(2026, 6, 1, 12, 30, 15, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-06-01T12:30:15.250000+00:00",
        "2026-06-01T12:30:15.25Z",
        "2026-06-01T12:30:15.25z",
        "2026-06-01 12:30:15.25Z",
        "2026-06-01T12:30:15.25",  # naive: UTC
        "  2026-06-01T12:30:15.25Z \n",
        "2026-06-01T14:30:15.25+02:00",
        "20260601T123015.25Z",
    ],
)
def test_forms_of_one_moment(text: str) -> None:
    parsed = parse_time(text)
    assert parsed == MOMENT
    assert parsed.tzinfo is not None


def test_an_offset_is_kept() -> None:
    parsed = parse_time("2026-06-01T14:30:15.25+02:00")
    assert parsed.utcoffset() == timedelta(hours=2)
    assert parsed.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-06-01T25:00:00", 1717243815, None])
def test_what_is_not_a_time_is_refused(text: object) -> None:
    with pytest.raises(ValueProblem):
        parse_time(text)
