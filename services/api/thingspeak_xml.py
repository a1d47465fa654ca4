"""ThingSpeak's XML shapes (channel and feed), for clients that ask for `.xml`."""

from __future__ import annotations

from xml.sax.saxutils import escape

TYPES = {
    "id": "integer",
    "entry_id": "integer",
    "last_entry_id": "integer",
    "created_at": "dateTime",
    "updated_at": "dateTime",
}


def _element(name: str, value: object, indent: str) -> str:
    tag = name.replace("_", "-")
    kind = f' type="{TYPES[name]}"' if name in TYPES else ""
    if value is None:
        return f'{indent}<{tag}{kind} nil="true"/>'
    return f"{indent}<{tag}{kind}>{escape(str(value))}</{tag}>"


def channel_xml(channel: dict) -> str:
    """`<channel>` with its settings alone (ThingSpeak's View a Channel as XML)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<channel>"]
    lines += [_element(name, value, "  ") for name, value in channel.items()]
    lines += ["</channel>", ""]
    return "\n".join(lines)


def feed_xml(channel: dict, feeds: list[dict]) -> str:
    """`<channel>` with its settings and `<feeds type="array">` of `<feed>` entries, as ThingSpeak writes them."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<channel>"]
    lines += [_element(name, value, "  ") for name, value in channel.items()]
    lines.append('  <feeds type="array">')
    for feed in feeds:
        lines.append("    <feed>")
        lines += [_element(name, value, "      ") for name, value in feed.items()]
        lines.append("    </feed>")
    lines += ["  </feeds>", "</channel>", ""]
    return "\n".join(lines)
