"""How ThingSpeak entries live in Ownstream: fieldN is a dataset's N-th variable; location and status are
stored as readings of reserved variables (starting with "@", which no registered tag can)."""

from __future__ import annotations

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
