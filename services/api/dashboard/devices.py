"""Dashboard pages for a dataset's devices: register (token shown once, with snippets), new token, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from services.api.dashboard import forms
from services.api.dashboard.csrf import FormDep
from services.api.dashboard.deps import LoggedInDep, OwnDatasetDep
from services.api.dashboard.render import NO_STORE, PageRoute, notify, page, redirect
from services.api.dashboard.snippets import Snippet, device_snippets, server_of
from services.api.deps import AccountsDep, AnnounceDep, DeviceChangeDep, SessionDep
from shared.devices import create_device, find_device, refresh_token, revoke_device
from shared.errors import OwnstreamError
from shared.models import Dataset, Device

router = APIRouter(prefix="/dashboard/datasets/{dataset_id}/devices", route_class=PageRoute, include_in_schema=False)


def _back(dataset: Dataset) -> Response:
    return redirect(f"/dashboard/datasets/{dataset.id}#devices-heading")


def _token_page(
    request: Request, dataset: Dataset, device: Device, token: str, created: bool, snippets: list[Snippet]
) -> Response:
    return page(
        request,
        "device_token.html",
        headers=NO_STORE,
        dataset=dataset,
        device=device,
        token=token,
        created=created,
        snippets=snippets,
    )


@router.post("")
def register(
    request: Request,
    session: SessionDep,
    user: LoggedInDep,
    dataset: OwnDatasetDep,
    form: FormDep,
    announce: AnnounceDep,
    accounts: AccountsDep,
) -> Response:
    try:  # a refused id or a duplicate changes nothing, so the dataset page can say why
        device, token = create_device(session, user, dataset.id, forms.text(form, "device_id", 200).strip())
    except OwnstreamError as error:
        notify(request, f"The device was not registered: {error.detail}", error=True)
        return _back(dataset)
    accounts.provision(device, token)  # before the commit: a broker that is away fails this with nothing changed
    snippets = device_snippets(dataset, server_of(request), device.device_id, token)
    session.commit()
    announce()  # a receiver may have cached this token as unknown
    return _token_page(request, dataset, device, token, True, snippets)


def own_device(device_id: str, session: SessionDep, user: LoggedInDep, dataset: OwnDatasetDep) -> Device:
    """The logged-in user's device of that id in this dataset (404 otherwise)."""
    return find_device(session, user, device_id, dataset.id)


# After the dataset and the form (its CSRF check), as when the device was looked up in the route.
OwnDeviceDep = Annotated[Device, Depends(own_device)]


@router.post("/{device_id}/token")
def new_token(
    request: Request, dataset: OwnDatasetDep, form: FormDep, device: OwnDeviceDep, change: DeviceChangeDep
) -> Response:
    token = refresh_token(change.session, device)
    change.accounts.provision(device, token)
    snippets = device_snippets(dataset, server_of(request), device.device_id, token)
    change.session.commit()
    change.announce()
    return _token_page(request, dataset, device, token, False, snippets)


@router.post("/{device_id}/revoke")
def revoke(
    request: Request, dataset: OwnDatasetDep, form: FormDep, device: OwnDeviceDep, change: DeviceChangeDep
) -> Response:
    device_id = device.device_id
    revoke_device(change.session, device)
    change.session.commit()
    change.announce()  # first: the bridge refuses the device from now on, account or not
    change.accounts.revoke(dataset.id, device_id)  # a broker away is left to `ownstream mqtt sync-accounts`
    notify(request, f"Device {device_id!r} is revoked: its token is refused from now on; its data stays.")
    return _back(dataset)
