"""Topic parsing is pure: every form, and what is refused."""

from __future__ import annotations

import pytest

from services.ingest.topics import Route, TopicError, parse_topic, redact, share_group, subscriptions


@pytest.mark.parametrize(
    ("topic", "route"),
    [
        ("channels/12/publish/KEY", Route("push", "KEY", 12)),
        ("channels/12/publish/fields/field3/KEY", Route("push", "KEY", 12, "field3")),
        ("devices/TOKEN/autopi", Route("autopi", "TOKEN")),
        ("devices/TOKEN/telemetry", Route("telemetry", "TOKEN")),
        ("datasets/7/influx/KEY", Route("lineproto", "KEY", 7)),
        ("registered/7/car-1/telemetry", Route("telemetry", "", 7, device="car-1")),
        ("registered/7/car-1/autopi", Route("autopi", "", 7, device="car-1")),
        ("registered/7/car-1/influx", Route("lineproto", "", 7, device="car-1")),
        ("registered/7/car-1/publish", Route("push", "", 7, device="car-1")),
    ],
)
def test_each_form(topic, route):
    assert parse_topic(topic) == route


@pytest.mark.parametrize(
    "topic",
    [
        "channels/abc/publish/KEY",
        "channels/0/publish/KEY",
        "channels/99999999999/publish/KEY",
        "channels/12/publish/",
        "channels/12/publish/fields/temperature/KEY",
        "channels/12/publish/fields/field1/",
        "devices//telemetry",
        "devices/TOKEN/other",
        "devices/TOKEN/telemetry/extra",
        "datasets/7/influx",
        "elsewhere/7/influx/KEY",
        "",
        "/",
        "registered/7/car-1",
        "registered/7//telemetry",
        "registered/x/car-1/telemetry",
        "registered/7/car-1/other",
        "registered/7/car-1/telemetry/extra",
    ],
)
def test_refused_forms(topic):
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_refusal_message_does_not_repeat_the_key():
    with pytest.raises(TopicError) as error:
        parse_topic("channels/abc/publish/SECRET")
    assert "SECRET" not in str(error.value)


def test_redact_hides_keys_and_tokens():
    assert redact("channels/1/publish/SECRET") == "channels/1/publish/***"
    assert redact("channels/1/publish/fields/field1/SECRET") == "channels/1/publish/fields/field1/***"
    assert redact("devices/SECRET/telemetry") == "devices/***/telemetry"
    assert redact("datasets/1/influx/SECRET") == "datasets/1/influx/***"


def test_share_group_is_stable_and_depends_on_the_password():
    group = share_group("pw")
    assert group == share_group("pw") != share_group("other")
    assert share_group("pw", "install-a") == share_group("pw", "install-a") != share_group("pw", "install-b")
    assert "pw" not in group.removeprefix("ownstream-")
    assert subscriptions(group) == [
        f"$share/{group}/channels/#",
        f"$share/{group}/devices/#",
        f"$share/{group}/datasets/#",
    ]
    assert subscriptions(group, registered=True)[-1] == f"$share/{group}/registered/#"  # only with dynsec on


def test_registered_topics_carry_no_secret_to_redact():
    assert redact("registered/7/car-1/telemetry") == "registered/7/car-1/telemetry"
