"""How ThingSpeak entries live in Ownstream: fieldN is a dataset's N-th declared variable (else its variable
named fieldN); location and status are stored as readings of reserved variables (starting with "@", which no
registered tag can). Variables registered on first sight from other protocols never take a field slot."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import BadRequest

FIELD_COUNT = 8
LATITUDE, LONGITUDE, ELEVATION, STATUS = "@latitude", "@longitude", "@elevation", "@status"
# ThingSpeak's name for each reserved variable in feeds and bulk updates, in ThingSpeak's order
META_NAMES = {LATITUDE: "latitude", LONGITUDE: "longitude", ELEVATION: "elevation", STATUS: "status"}


def zone(name: object) -> tzinfo:
    """The time zone of a `timezone` parameter (IANA name); UTC when absent."""
    if name is None or name == "":
        return UTC
    try:
        if len(str(name)) > 64:
            raise ValueError
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("Europe") or an odd path
        raise BadRequest(f"timezone {name!r} is not a known time zone name (e.g. Europe/Berlin)") from None


def field_variables(declared: Sequence[str], variables: Collection[str]) -> dict[int, str]:
    """{N: variable} of ThingSpeak's fieldN: the N-th declared variable, else the variable named `fieldN` if any."""
    slots: dict[int, str] = {}
    for number in range(1, FIELD_COUNT + 1):
        if number <= len(declared):
            slots[number] = declared[number - 1]
        elif f"field{number}" in variables:
            slots[number] = f"field{number}"
    return slots
