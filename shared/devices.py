"""The device registry (seed influxdb-iot-starter): devices of a dataset, each with its own token.

A token is shown once, when the device is created or its token refreshed; only its hash is stored.
Revoking clears the token and marks the row; the same id can then be registered again.
Functions take a Session and never commit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.datasets import owned_by
from shared.errors import BadRequest, Conflict, NotFound
from shared.keys import generate_key, hash_key
from shared.models import Dataset, Device, User

# A device id travels in URL paths and becomes the `device` of its series: no slashes, no spaces.
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-:@]{0,199}$")


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID_RE.match(device_id):
        raise BadRequest(f"device id {device_id!r} is not valid: 1-200 of letters, digits and _ . - : @")
    return device_id


def owned_dataset(session: Session, user: User, dataset_id: int) -> Dataset:
    """The dataset if `user` owns it: 404 if there is none or it is someone else's private one, else 403."""
    return owned_by(session, user, dataset_id)


def create_device(session: Session, user: User, dataset_id: int, device_id: str) -> tuple[Device, str]:
    """Register `device_id` in one of the user's datasets; returns the device and its clear token."""
    check_device_id(device_id)
    dataset = owned_dataset(session, user, dataset_id)
    device = session.scalar(
        select(Device).where(Device.dataset_id == dataset.id, Device.device_id == device_id).with_for_update()
    )
    if device is not None and device.revoked_at is None:
        raise Conflict(f"device {device_id!r} exists in dataset {dataset.id}")
    token = generate_key()
    now = datetime.now(UTC)
    if device is None:
        device = Device(dataset_id=dataset.id, device_id=device_id, token_hash=hash_key(token))
        try:
            with session.begin_nested():  # a concurrent registration of the same id wins the unique index
                session.add(device)
        except IntegrityError:
            raise Conflict(f"device {device_id!r} exists in dataset {dataset.id}") from None
    else:  # a revoked registration is registered afresh
        device.token_hash, device.revoked_at = hash_key(token), None
        device.created_at = device.updated_at = now
        device.last_seen_at = None
    session.flush()
    session.refresh(device)
    return device, token


def list_devices(session: Session, user: User | None = None, dataset_id: int | None = None) -> list[Device]:
    """Registered devices (of `user`'s datasets, of one dataset, or all), by dataset and id."""
    query = select(Device).where(Device.revoked_at.is_(None))
    if user is not None:
        query = query.join(Dataset, Dataset.id == Device.dataset_id).where(Dataset.owner_id == user.id)
    if dataset_id is not None:
        query = query.where(Device.dataset_id == dataset_id)
    return list(session.scalars(query.order_by(Device.dataset_id, Device.device_id)))


def find_device(session: Session, user: User, device_id: str, dataset_id: int | None = None) -> Device:
    """One of the user's devices by id; `dataset_id` chooses when the id is registered in several datasets."""
    if dataset_id is not None:
        owned_dataset(session, user, dataset_id)
    found = [d for d in list_devices(session, user, dataset_id) if d.device_id == device_id]
    if not found:
        raise NotFound(f"no device {device_id!r}" + (f" in dataset {dataset_id}" if dataset_id else ""))
    if len(found) > 1:
        choices = ", ".join(str(d.dataset_id) for d in found)
        raise Conflict(
            f"device {device_id!r} is registered in datasets {choices}: add ?dataset_id= (or ?datasetId=) to choose"
        )
    return found[0]


def device_for_token(session: Session, token: str) -> Device | None:
    """The registered device a token belongs to, or None."""
    return session.scalar(select(Device).where(Device.token_hash == hash_key(token), Device.revoked_at.is_(None)))


def refresh_token(session: Session, device: Device) -> str:
    """A new token for `device`; the old one stops working once receivers hear of the change."""
    session.refresh(device, with_for_update=True)  # concurrent refreshes take turns: the broker follows the last
    token = generate_key()
    device.token_hash = hash_key(token)
    device.updated_at = datetime.now(UTC)
    session.flush()
    return token


def revoke_device(session: Session, device: Device) -> None:
    now = datetime.now(UTC)
    device.token_hash, device.revoked_at, device.updated_at = None, now, now
    session.flush()


def describe_device(device: Device) -> dict:
    """A device as the API and CLI show it: never its token.

    Names are snake_case, as everywhere in the API; the camelCase names of the influxdb-iot-starter API that
    device clients already read (`deviceId`, `createdAt`, ...) are kept alongside as aliases.
    """
    described = {
        "device_id": device.device_id,
        "dataset_id": device.dataset_id,
        "created_at": device.created_at,
        "updated_at": device.updated_at,
        "last_seen_at": device.last_seen_at,
    }
    return described | {CAMEL_ALIASES[name]: value for name, value in described.items()}


CAMEL_ALIASES = {
    "device_id": "deviceId",
    "dataset_id": "datasetId",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "last_seen_at": "lastSeenAt",
}
