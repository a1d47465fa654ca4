"""Per-device broker accounts through the dynamic security plugin, against a private Mosquitto running it."""

from __future__ import annotations

import pytest

from services.cli.broker import init_dynamic_security
from services.ingest.topics import share_group
from shared.broker_accounts import (
    BrokerAccountError,
    BrokerAdmin,
    bootstrap,
    device_topic_root,
    device_username,
    provision_device,
    revoke_device,
)
from shared.config import Settings
from tests.support.http import wait_for
from tests.support.mqtt import Peer, start_broker

ADMIN, ADMIN_PASSWORD = "ownstream-admin", "admin-password-for-tests"


@pytest.fixture
def dynsec(tmp_path):
    """A dynsec broker bootstrapped with Ownstream's policy; yields (broker, admin)."""
    settings = Settings(environment="test")
    store = init_dynamic_security(tmp_path / "mosquitto", ADMIN, ADMIN_PASSWORD)
    broker = start_broker(tmp_path / "mosquitto", settings, dynsec=store)
    admin = BrokerAdmin("127.0.0.1", broker.port, ADMIN, ADMIN_PASSWORD)
    bootstrap(admin, settings.mqtt_username, settings.mqtt_password)
    yield broker, admin, settings
    broker.stop()


def test_registered_device_publishes_under_its_own_topic_only(dynsec):
    broker, admin, settings = dynsec
    bridge = Peer(broker.port, settings.mqtt_username, settings.mqtt_password)
    group = share_group(settings.mqtt_password)
    assert not any(code.is_failure for code in bridge.subscribe(f"$share/{group}/registered/#"))
    assert provision_device(admin, 7, "car-1", "token-1") == device_username(7, "car-1")
    provision_device(admin, 7, "car-2", "token-2")
    device = Peer(broker.port, device_username(7, "car-1"), "token-1")
    assert device.accepted
    assert not device.publish(f"{device_topic_root(7, 'car-1')}/telemetry", '{"t": 1}').is_failure
    assert device.publish(f"{device_topic_root(7, 'car-2')}/telemetry").is_failure  # not its topic
    assert device.publish("registered/8/car-1/telemetry").is_failure  # not its dataset
    wait_for(lambda: bridge.heard, what="bridge hears the device")
    assert bridge.heard == ["registered/7/car-1/telemetry"]
    assert not Peer(broker.port, device_username(7, "car-1"), "token-2").accepted  # another device's token
    device.close()
    bridge.close()


def test_anonymous_devices_publish_key_topics_but_cannot_subscribe_or_impersonate(dynsec):
    broker, admin, settings = dynsec
    provision_device(admin, 7, "car-1", "token-1")
    anonymous = Peer(broker.port)
    assert anonymous.accepted
    assert not anonymous.publish("channels/7/publish/KEY", "field1=1").is_failure
    assert anonymous.publish("registered/7/car-1/telemetry").is_failure
    group = share_group(settings.mqtt_password)
    codes = anonymous.subscribe("#", "channels/#", f"$share/{group}/channels/#")
    assert all(code.is_failure for code in codes)  # unlike the ACL file, the plugin checks subscriptions
    anonymous.close()


def test_revoke_disconnects_and_refresh_replaces_the_token(dynsec):
    broker, admin, _ = dynsec
    provision_device(admin, 7, "car-1", "old-token")
    device = Peer(broker.port, device_username(7, "car-1"), "old-token")
    assert device.accepted
    provision_device(admin, 7, "car-1", "new-token")  # a token refresh
    assert device.disconnected.wait(5)  # the broker drops the session of the replaced account
    device.close()
    assert not Peer(broker.port, device_username(7, "car-1"), "old-token").accepted
    refreshed = Peer(broker.port, device_username(7, "car-1"), "new-token")
    assert refreshed.accepted
    revoke_device(admin, 7, "car-1")
    assert refreshed.disconnected.wait(5)
    refreshed.close()
    assert not Peer(broker.port, device_username(7, "car-1"), "new-token").accepted
    revoke_device(admin, 7, "car-1")  # revoking twice is harmless


def test_refusals_are_errors(dynsec):
    broker, admin, _ = dynsec
    with pytest.raises(ValueError):
        provision_device(admin, 7, "a/b", "token")
    wrong = BrokerAdmin("127.0.0.1", broker.port, ADMIN, "wrong password", timeout=1)
    with pytest.raises(BrokerAccountError):
        provision_device(wrong, 7, "car-1", "token")
