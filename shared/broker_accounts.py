"""Per-device broker accounts through Mosquitto's dynamic security plugin ($CONTROL/dynamic-security/v1).

With the plugin loaded (deploy/mosquitto/dynsec.conf), a registered device connects with its own user name
(`device:{dataset id}:{device id}`) and its token as password, and may publish only under
`registered/{dataset id}/{device id}/...`: the broker, not the topic, says who is speaking, so the token
never travels in a topic. `bootstrap` sets up the rest of the policy: the bridge's account (subscribe to the
ingest roots) and the anonymous group (publish under the key-in-topic roots, nothing else).

The broker stores only its own hash of a device's password, and the registry only sha256 of the token, so
neither can rebuild the other's: each account carries a fingerprint of the token's registry hash (its
`textdescription`), which lets a reconcile tell an account of the current token from a stale one.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt

from shared.config import Settings
from shared.keys import hash_key

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
REGISTERED_ROOT = "registered"
KEY_IN_TOPIC_ROOTS = ("channels", "devices", "datasets")
INGEST_ROOTS = (*KEY_IN_TOPIC_ROOTS, REGISTERED_ROOT)
ANONYMOUS_GROUP = "ownstream-anonymous"
BRIDGE_ROLE = "ownstream-bridge"
_DEVICE_ID = re.compile(r"^[^/+#\s]{1,200}$")
_DEVICE_USER = re.compile(r"^device:([1-9][0-9]{0,9}):([^/+#\s]{1,200})$")


class BrokerAccountError(RuntimeError):
    """The broker refused a dynamic-security command, or did not answer."""


@dataclass(frozen=True)
class BrokerAdmin:
    """Where and as whom to send dynamic-security commands (the admin made by `mosquitto_ctrl dynsec init`)."""

    host: str
    port: int
    username: str
    password: str
    timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerAdmin:
        """The admin of the broker at OWNSTREAM_MQTT_URL (OWNSTREAM_MQTT_ADMIN_USERNAME/PASSWORD)."""
        url = urlsplit(settings.mqtt_url)
        return cls(
            url.hostname or "127.0.0.1",
            url.port or 1883,
            settings.mqtt_admin_username,
            settings.mqtt_admin_password,
            settings.mqtt_admin_timeout_s,
        )


def token_fingerprint(token_hash: str) -> str:
    """What an account records of its token: derived from the registry's hash, useless as a password."""
    return "ownstream-token:" + hashlib.sha256(f"broker account:{token_hash}".encode()).hexdigest()[:24]


def device_username(dataset_id: int, device_id: str) -> str:
    return f"device:{dataset_id}:{device_id}"


def device_topic_root(dataset_id: int, device_id: str) -> str:
    """The topics a registered device publishes to: `<root>/telemetry`, `<root>/autopi`."""
    return f"{REGISTERED_ROOT}/{dataset_id}/{device_id}"


def provision_device(admin: BrokerAdmin, dataset_id: int, device_id: str, token: str) -> str:
    """Give a device its broker account (replacing any earlier one, e.g. after a token refresh); returns its user."""
    if not _DEVICE_ID.match(device_id):
        raise ValueError("a device id used as a broker account must not contain '/', '+', '#' or spaces")
    user = device_username(dataset_id, device_id)
    run_commands(admin, [{"command": "deleteClient", "username": user}], tolerate=("not found",))
    run_commands(
        admin,
        [
            {"command": "createRole", "rolename": user},
            {
                "command": "addRoleACL",
                "rolename": user,
                "acltype": "publishClientSend",
                "topic": device_topic_root(dataset_id, device_id) + "/#",
                "allow": True,
            },
        ],
        tolerate=("already exists",),
    )
    run_commands(
        admin,
        [
            {
                "command": "createClient",
                "username": user,
                "password": token,
                "textdescription": token_fingerprint(hash_key(token)),
                "roles": [{"rolename": user}],
            }
        ],
    )
    return user


def revoke_device(admin: BrokerAdmin, dataset_id: int, device_id: str) -> None:
    """Remove a device's broker account (the broker disconnects it at once); absent accounts are fine."""
    user = device_username(dataset_id, device_id)
    run_commands(
        admin,
        [{"command": "deleteClient", "username": user}, {"command": "deleteRole", "rolename": user}],
        tolerate=("not found",),
    )


def device_accounts(admin: BrokerAdmin) -> dict[tuple[int, str], str | None]:
    """The broker's device accounts: (dataset id, device id) -> the token fingerprint it records (if any)."""
    [response] = run_commands(admin, [{"command": "listClients", "verbose": True, "count": -1}])
    accounts: dict[tuple[int, str], str | None] = {}
    for client in response.get("data", {}).get("clients", []):
        if match := _DEVICE_USER.match(client.get("username", "")):
            accounts[(int(match[1]), match[2])] = client.get("textdescription")
    return accounts


def bootstrap(admin: BrokerAdmin, bridge_username: str, bridge_password: str) -> None:
    """The fixed policy: anonymous devices publish under the key-in-topic roots; the bridge subscribes."""
    tolerate = ("already exists",)
    commands: list[dict] = [
        {"command": "createRole", "rolename": ANONYMOUS_GROUP},
        *(
            {
                "command": "addRoleACL",
                "rolename": ANONYMOUS_GROUP,
                "acltype": "publishClientSend",
                "topic": f"{root}/#",
                "allow": True,
            }
            for root in KEY_IN_TOPIC_ROOTS
        ),
        {"command": "createGroup", "groupname": ANONYMOUS_GROUP, "roles": [{"rolename": ANONYMOUS_GROUP}]},
        {"command": "setAnonymousGroup", "groupname": ANONYMOUS_GROUP},
        {"command": "createRole", "rolename": BRIDGE_ROLE},
        *(
            {
                "command": "addRoleACL",
                "rolename": BRIDGE_ROLE,
                "acltype": "subscribePattern",
                "topic": f"{root}/#",
                "allow": True,
            }
            for root in INGEST_ROOTS
        ),
        *(
            {
                "command": "addRoleACL",
                "rolename": BRIDGE_ROLE,
                "acltype": "subscribePattern",
                "topic": f"$share/+/{root}/#",
                "allow": True,
            }
            for root in INGEST_ROOTS
        ),
        {
            "command": "createClient",
            "username": bridge_username,
            "password": bridge_password,
            "roles": [{"rolename": BRIDGE_ROLE}],
        },
    ]
    run_commands(admin, commands, tolerate=tolerate)
    run_commands(admin, [{"command": "setClientPassword", "username": bridge_username, "password": bridge_password}])


def run_commands(admin: BrokerAdmin, commands: list[dict], tolerate: tuple[str, ...] = ()) -> list[dict]:
    """Send `commands` in one control message and wait for the broker's answers; raise on a refusal."""
    correlation = uuid.uuid4().hex
    commands = [{**command, "correlationData": correlation} for command in commands]
    answered = threading.Event()
    responses: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(admin.username, admin.password)

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        for response in orjson.loads(message.payload).get("responses", []):
            if response.get("correlationData") == correlation:
                responses.append(response)
        if len(responses) >= len(commands):
            answered.set()

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    try:
        client.connect(admin.host, admin.port, keepalive=30)
    except OSError as error:
        raise BrokerAccountError(f"broker at {admin.host}:{admin.port} unreachable: {error}") from None
    client.loop_start()
    try:
        client.subscribe(RESPONSE_TOPIC, qos=1)
        if not subscribed.wait(admin.timeout):
            raise BrokerAccountError("broker did not answer the subscription (wrong admin credentials?)")
        client.publish(CONTROL_TOPIC, orjson.dumps({"commands": commands}), qos=1)
        if not answered.wait(admin.timeout):
            raise BrokerAccountError("the dynamic security plugin did not answer (is it loaded?)")
    finally:
        client.disconnect()
        client.loop_stop()
    for response in responses:
        refusal = response.get("error")
        if refusal and not any(phrase in refusal.lower() for phrase in tolerate):
            raise BrokerAccountError(f"{response.get('command')}: {refusal}")
    return responses
