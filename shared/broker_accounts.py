"""Per-device broker accounts through Mosquitto's dynamic security plugin ($CONTROL/dynamic-security/v1).

With the plugin loaded (deploy/mosquitto/dynsec.conf), a registered device connects with its own user name
(`device:{dataset id}:{device id}`) and its token as password, and may publish only under
`registered/{dataset id}/{device id}/...`: the broker, not the topic, says who is speaking, so the token
never travels in a topic. `bootstrap` sets up the rest of the policy: the bridge's account (subscribe to the
ingest roots) and the anonymous group (publish under the key-in-topic roots, nothing else).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass

import orjson
import paho.mqtt.client as mqtt

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
REGISTERED_ROOT = "registered"
KEY_IN_TOPIC_ROOTS = ("channels", "devices", "datasets")
INGEST_ROOTS = (*KEY_IN_TOPIC_ROOTS, REGISTERED_ROOT)
ANONYMOUS_GROUP = "ownstream-anonymous"
BRIDGE_ROLE = "ownstream-bridge"
_DEVICE_ID = re.compile(r"^[^/+#\s]{1,200}$")


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
    run_commands(admin, [
        {"command": "createRole", "rolename": user},
        {"command": "addRoleACL", "rolename": user, "acltype": "publishClientSend",
         "topic": device_topic_root(dataset_id, device_id) + "/#", "allow": True},
    ], tolerate=("already exists",))
    run_commands(admin, [{"command": "createClient", "username": user, "password": token,
                          "roles": [{"rolename": user}]}])
    return user


def revoke_device(admin: BrokerAdmin, dataset_id: int, device_id: str) -> None:
    """Remove a device's broker account (the broker disconnects it at once); absent accounts are fine."""
    user = device_username(dataset_id, device_id)
    run_commands(admin, [{"command": "deleteClient", "username": user},
                         {"command": "deleteRole", "rolename": user}], tolerate=("not found",))


def bootstrap(admin: BrokerAdmin, bridge_username: str, bridge_password: str) -> None:
    """The fixed policy: anonymous devices publish under the key-in-topic roots; the bridge subscribes."""
    tolerate = ("already exists",)
    commands: list[dict] = [
        {"command": "createRole", "rolename": ANONYMOUS_GROUP},
        *({"command": "addRoleACL", "rolename": ANONYMOUS_GROUP, "acltype": "publishClientSend",
           "topic": f"{root}/#", "allow": True} for root in KEY_IN_TOPIC_ROOTS),
        {"command": "createGroup", "groupname": ANONYMOUS_GROUP, "roles": [{"rolename": ANONYMOUS_GROUP}]},
        {"command": "setAnonymousGroup", "groupname": ANONYMOUS_GROUP},
        {"command": "createRole", "rolename": BRIDGE_ROLE},
        *({"command": "addRoleACL", "rolename": BRIDGE_ROLE, "acltype": "subscribePattern",
           "topic": f"{root}/#", "allow": True} for root in INGEST_ROOTS),
        *({"command": "addRoleACL", "rolename": BRIDGE_ROLE, "acltype": "subscribePattern",
           "topic": f"$share/+/{root}/#", "allow": True} for root in INGEST_ROOTS),
        {"command": "createClient", "username": bridge_username, "password": bridge_password,
         "roles": [{"rolename": BRIDGE_ROLE}]},
    ]
    run_commands(admin, commands, tolerate=tolerate)
    run_commands(admin, [{"command": "setClientPassword", "username": bridge_username,
                          "password": bridge_password}])


def run_commands(admin: BrokerAdmin, commands: list[dict], tolerate: tuple[str, ...] = ()) -> list[dict]:
    """Send `commands` in one control message and wait for the broker's answers; raise on a refusal."""
    correlation = uuid.uuid4().hex
    commands = [{**command, "correlationData": correlation} for command in commands]
    answered = threading.Event()
    responses: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(admin.username, admin.password)

    def on_message(_client, _userdata, message: mqtt.MQTTMessage) -> None:
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
        error = response.get("error")
        if error and not any(phrase in error.lower() for phrase in tolerate):
            raise BrokerAccountError(f"{response.get('command')}: {error}")
    return responses
