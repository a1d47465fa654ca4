"""ThingSpeak parameters mapped to variables, checked without any server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest import thingspeak as ts
from services.ingest.credentials import Credential
from shared.errors import BadRequest
from shared.thingspeak import LATITUDE, STATUS, zone
from shared.values import TimeWindow

WINDOW = TimeWindow(2000, 86_400)


def vocabulary(*tags: str, accepts_new: bool = False) -> Credential:
    """A write credential for a dataset that declared `tags`."""
    return Credential(1, "write", None, tags, accepts_new=accepts_new)


def test_field_numbers_are_positions_and_own_tags_win():
    variables = ("temperature", "status", "field1")
    values = ts.push_values(
        {"field2": "x", "field1": "1", "temperature": "2", "lat": "1.5", "key": "k"},
        vocabulary(*variables),
        ts.UPDATE_META,
        ts.UPDATE_IGNORED,
    )
    assert values == {"status": "x", "field1": "1", "temperature": "2", LATITUDE: "1.5"}
    assert ts.push_values({"status": "up"}, vocabulary("a"), ts.UPDATE_META, ts.UPDATE_IGNORED) == {STATUS: "up"}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"field3": "1"}, "no field3"),
        ({"speed": "1"}, "unknown field"),
        ({"long": "181"}, "outside"),
        ({"elevation": "high"}, "not a number"),
        ({"field1": {"a": 1}}, "number or a string"),
        ({"field1": float("nan")}, "finite"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(BadRequest, match=message):
        ts.push_values(params, vocabulary("a", "b"), ts.UPDATE_META, ts.UPDATE_IGNORED)


def test_blank_values_are_no_values():
    assert ts.push_values({"field1": "", "field9": ""}, vocabulary("a"), ts.UPDATE_META, ts.UPDATE_IGNORED) == {}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2014-12-31 23:59:59", datetime(2015, 1, 1, 4, 59, 59, tzinfo=UTC)),  # in the request's time zone
        ("2014-12-31T23:59:59Z", datetime(2014, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2018-01-30 10:26:2 -0500", datetime(2018, 1, 30, 15, 26, 2, tzinfo=UTC)),
        ("1514764800", datetime(2018, 1, 1, tzinfo=UTC)),
    ],
)
def test_times_in_iso_mysql_and_epoch_forms(text, expected):
    assert ts.parse_moment(text, "t", zone("America/New_York"), WINDOW) == expected


def test_csv_updates_follow_the_documented_column_order():
    [update] = ts.csv_updates("5,1,,,,,,,8,1.5,2.5,100,a, b", "relative")
    assert update == {
        "delta_t": "5",
        "field1": "1",
        "field2": "",
        "field3": "",
        "field4": "",
        "field5": "",
        "field6": "",
        "field7": "",
        "field8": "8",
        "latitude": "1.5",
        "longitude": "2.5",
        "elevation": "100",
        "status": "a, b",
    }


def test_bulk_entries_refuse_mixed_times_and_too_many():
    mixed = [{"delta_t": 0, "a": "1"}, {"created_at": "2026-01-01", "a": "2"}]
    with pytest.raises(BadRequest, match="mix"):
        ts.bulk_entries(mixed, vocabulary("a"), UTC, WINDOW, 10)
    with pytest.raises(BadRequest, match="at most 1"):
        ts.bulk_entries([{"delta_t": 0, "a": "1"}] * 2, vocabulary("a"), UTC, WINDOW, 1)


def test_field_slots_belong_to_declared_variables_and_new_names_follow_the_dataset_setting():
    registered_later = Credential(1, "write", None, ("temperature", "weather.door"), declared=("temperature",))
    assert registered_later.fields == {1: "temperature"}  # a variable registered on first sight takes no slot
    with pytest.raises(BadRequest, match="no field2"):
        ts.push_values({"field2": "1"}, registered_later, ts.UPDATE_META, ts.UPDATE_IGNORED)
    open_dataset = Credential(1, "write", None, ("field1",), accepts_new=True, declared=())
    values = ts.push_values(
        {"field1": "1", "field2": "2", "wind": "3", "twitter": "me"}, open_dataset, ts.UPDATE_META, ts.UPDATE_IGNORED
    )
    assert values == {"field1": "1", "field2": "2", "wind": "3"}
    with pytest.raises(BadRequest, match="unknown field 'bad name'"):
        ts.push_values({"bad name": "1"}, open_dataset, ts.UPDATE_META, ts.UPDATE_IGNORED)
