"""Registered devices' broker accounts, kept in step with the registry (OWNSTREAM_MQTT_DYNSEC) and reconciled.

Creating a device or refreshing its token changes the broker *before* the database commit: the token exists
only in that request, and the broker keeps only its own hash of it, so an account that missed a token can
never be made afterwards. If the broker is away the request fails with 503 and nothing is committed. If the
commit fails after the broker took the token, the account is left with a token nobody holds (stale, or of a
device that does not exist): the bridge refuses what such an account publishes, since it checks the registry
too, and `ownstream mqtt sync-accounts` removes it. Revoking commits first and then removes the account; a
broker that is away then is repaired by the same reconcile, and until then the bridge refuses the device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from shared.broker_accounts import (
    BrokerAccountError,
    BrokerAdmin,
    device_accounts,
    device_username,
    provision_device,
    revoke_device,
    token_fingerprint,
)
from shared.config import Settings
from shared.devices import list_devices
from shared.errors import BrokerUnavailable
from shared.models import Device

log = logging.getLogger(__name__)


class DeviceAccounts:
    """Registry changes as broker account changes; does nothing unless OWNSTREAM_MQTT_DYNSEC is on."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.mqtt_dynsec
        self.admin = BrokerAdmin.from_settings(settings)

    def provision(self, device: Device, token: str) -> None:
        """Give the (not yet committed) device its account with `token`; 503 if the broker cannot."""
        if not self.enabled:
            return
        try:
            provision_device(self.admin, device.dataset_id, device.device_id, token)
        except BrokerAccountError as error:
            raise BrokerUnavailable(
                f"the MQTT broker could not take the device's account ({error}); nothing was changed, try again"
            ) from None

    def revoke(self, dataset_id: int, device_id: str) -> bool:
        """Remove a (committed) revoked device's account; False if the broker could not, for sync-accounts."""
        if not self.enabled:
            return True
        try:
            revoke_device(self.admin, dataset_id, device_id)
        except BrokerAccountError as error:
            log.warning(
                "device %s revoked, but its broker account is still there (%s): run `ownstream mqtt sync-accounts`",
                device_username(dataset_id, device_id),
                error,
            )
            return False
        return True


@dataclass
class SyncReport:
    """What a reconcile did (removed accounts) and found (devices without one); account user names."""

    removed: list[str] = field(default_factory=list)  # accounts of no registered device
    stale: list[str] = field(default_factory=list)  # accounts of an older token, removed
    missing: list[str] = field(default_factory=list)  # registered devices with no account: refresh their tokens


def sync_accounts(session: Session, admin: BrokerAdmin) -> SyncReport:
    """Make the broker's device accounts match the registry, as far as hashes allow: remove what it must not have."""
    registry = {
        (d.dataset_id, d.device_id): token_fingerprint(d.token_hash)
        for d in list_devices(session)
        if d.token_hash is not None
    }
    report = SyncReport()
    for key, fingerprint in sorted(device_accounts(admin).items()):
        if key in registry and fingerprint == registry[key]:
            continue
        revoke_device(admin, *key)
        (report.stale if key in registry else report.removed).append(device_username(*key))
    accounts = device_accounts(admin)
    report.missing = [device_username(*key) for key in sorted(registry) if key not in accounts]
    return report
