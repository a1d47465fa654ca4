"""The device registry (seed influxdb-iot-starter): register, list, refresh, revoke, and a device's data."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from services.api.deps import (
    AccountsDep,
    AnnounceDep,
    BearerDep,
    OptionalUserDep,
    SessionDep,
    UserDep,
)
from services.api.query.params import MAX_LIMIT, time_param, vars_param
from services.api.query.times import EARLIEST, LATEST
from services.api.readings import read_range
from shared.devices import (
    create_device,
    describe_device,
    device_for_token,
    find_device,
    list_devices,
    refresh_token,
    revoke_device,
)
from shared.errors import BadRequest, NotFound, Unauthorized
from shared.http import JSON
from shared.models import Device

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/devices")

DatasetChoice = Annotated[int | None, Query(alias="datasetId", description="the dataset, if the id is in several")]


def dataset_choice(
    dataset_id: Annotated[int | None, Query(description="the dataset, if the id is in several")] = None,
    camel: DatasetChoice = None,
) -> int | None:
    """`dataset_id`, or its camelCase alias `datasetId`."""
    return dataset_id if dataset_id is not None else camel


DatasetParam = Annotated[int | None, Depends(dataset_choice)]


class DeviceIn(BaseModel):
    """`device_id` and `dataset_id` (or their camelCase aliases `deviceId` and `datasetId`)."""

    model_config = ConfigDict(populate_by_name=True)

    device_id: str = Field(validation_alias=AliasChoices("device_id", "deviceId"), min_length=1, max_length=200)
    dataset_id: int = Field(validation_alias=AliasChoices("dataset_id", "datasetId"), ge=1)


@router.post("/create", status_code=201)
def create(body: DeviceIn, session: SessionDep, user: UserDep, announce: AnnounceDep, accounts: AccountsDep) -> dict:
    """Register a device in one of the caller's datasets; the token is in this answer only."""
    device, token = create_device(session, user, body.dataset_id, body.device_id)
    accounts.provision(device, token)  # before the commit: a broker that is away fails this with nothing changed
    session.commit()
    announce()  # a receiver may have cached this token as unknown
    return {**describe_device(device), "token": token}


@router.get("")
def devices(session: SessionDep, user: UserDep, dataset_id: DatasetParam = None) -> list[dict]:
    """The caller's devices, without tokens."""
    return [describe_device(d) for d in list_devices(session, user, dataset_id)]


def owned_device(device_id: str, session: SessionDep, user: UserDep, dataset_id: DatasetParam = None) -> Device:
    """The caller's device of that id (404 when it has none, or another user has it)."""
    return find_device(session, user, device_id, dataset_id)


OwnedDeviceDep = Annotated[Device, Depends(owned_device)]


@router.get("/{device_id}")
def device(found: OwnedDeviceDep) -> dict:
    return describe_device(found)


@router.post("/{device_id}/token")
def refresh(found: OwnedDeviceDep, session: SessionDep, announce: AnnounceDep, accounts: AccountsDep) -> dict:
    """A new token for the device; the old one is refused by every receiver within a second."""
    token = refresh_token(session, found)
    accounts.provision(found, token)  # before the commit, as for a new device
    session.commit()
    announce()
    return {**describe_device(found), "token": token}


@router.delete("/{device_id}", status_code=204)
def revoke(found: OwnedDeviceDep, session: SessionDep, announce: AnnounceDep, accounts: AccountsDep) -> Response:
    """Unregister the device: its token is refused from now on; its data stays."""
    key = (found.dataset_id, found.device_id)
    revoke_device(session, found)
    session.commit()
    announce()  # first: the bridge refuses the device from now on, account or not
    accounts.revoke(*key)  # after the commit; a broker away is logged and left to `ownstream mqtt sync-accounts`
    return Response(status_code=204)


def readable_device(
    device_id: str, session: SessionDep, user: OptionalUserDep, bearer: BearerDep, dataset_id: DatasetParam = None
) -> Device:
    """The device if the caller owns it or is it (its own token)."""
    if user is not None:
        return find_device(session, user, device_id, dataset_id)
    if bearer is None:
        raise Unauthorized("log in, or send a personal API token or the device's token as Authorization: Bearer")
    own = device_for_token(session, bearer)
    if own is None:
        raise Unauthorized("invalid token")
    if own.device_id != device_id or (dataset_id is not None and dataset_id != own.dataset_id):
        raise NotFound(f"no device {device_id!r}")  # as for one that does not exist: other devices are private
    return own


@router.get("/{device_id}/measurements")
def measurements(
    found: Annotated[Device, Depends(readable_device)],
    session: SessionDep,
    start: str | None = None,
    end: str | None = None,
    vars: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10_000,
) -> JSON:
    """The device's readings in [start, end), oldest first; `vars` is a comma-separated list of variables."""
    begin, finish = time_param(start, "start", EARLIEST), time_param(end, "end", LATEST)
    if finish <= begin:
        raise BadRequest("end must be after start")
    rows = read_range(session, found.dataset_id, begin, finish, vars_param(vars), limit + 1, found.device_id)
    truncated = len(rows) > limit
    return JSON(
        {
            "device_id": found.device_id,
            "dataset_id": found.dataset_id,
            "deviceId": found.device_id,  # camelCase aliases, as the device API first answered
            "datasetId": found.dataset_id,
            "count": min(len(rows), limit),
            "truncated": truncated,
            "next_start": rows[limit]["time"] if truncated else None,
            "rows": rows[:limit],
        }
    )
