"""Dashboard pages for datasets: the list, create, view, edit, keys, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from starlette.responses import Response

from services.api.dashboard import forms
from services.api.dashboard.chartview import chart_context
from services.api.dashboard.csrf import FormDep
from services.api.dashboard.deps import LoggedInDep, OwnDatasetDep, PageUserDep, ViewableDatasetDep
from services.api.dashboard.health import RECENT, failed_job_counts, rejected_counts
from services.api.dashboard.render import NO_STORE, PageRoute, notify, page, redirect
from services.api.dashboard.snippets import dataset_snippets, device_snippets, server_of
from services.api.deps import AccountsDep, AnnounceDep, RedisDep, SessionDep, SettingsDep
from services.api.query.times import EARLIEST, LATEST
from services.api.readings import latest_per_variable
from shared.config import Settings
from shared.datasets import add_variable, create_dataset, delete_dataset, regenerate_key, update_dataset
from shared.dead_letters import failed_by_dataset
from shared.devices import list_devices
from shared.errors import OwnstreamError
from shared.models import Dataset, RejectedRecord

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)

RECENT_REJECTED = 20


@router.get("")
def index(request: Request, session: SessionDep, user: LoggedInDep, redis: RedisDep, settings: SettingsDep) -> Response:
    datasets = list(session.scalars(select(Dataset).where(Dataset.owner_id == user.id).order_by(Dataset.id)))
    since = datetime.now(UTC) - RECENT
    ids = [d.id for d in datasets]
    return page(
        request,
        "index.html",
        datasets=datasets,
        rejected=rejected_counts(session, ids, since),
        failed=failed_job_counts(redis, settings, ids, since),
    )


@router.get("/datasets/new")
def new_form(request: Request, user: LoggedInDep) -> Response:
    return page(request, "dataset_new.html", form={}, variables=[])


@router.post("/datasets/new")
def new(request: Request, session: SessionDep, user: LoggedInDep, form: FormDep) -> Response:
    public = forms.checkbox(form, "public")
    values = {"name": form.get("name", ""), "description": form.get("description", ""), "public": public}
    rows = list(zip(form.getlist("var_tag"), form.getlist("var_name"), form.getlist("var_unit"), strict=False))
    try:
        dataset, keys = create_dataset(
            session,
            user,
            forms.text(form, "name", 200, required=True),
            forms.variables(form),
            description=forms.text(form, "description", 10_000),
            public=public,
        )
    except OwnstreamError as error:
        return page(
            request, "dataset_new.html", status_code=error.status_code, error=error.detail, form=values, variables=rows
        )
    snippets = dataset_snippets(dataset, server_of(request), keys.write_key, keys.read_key)
    session.commit()
    return page(
        request,
        "keys.html",
        headers=NO_STORE,
        dataset=dataset,
        keys={"read": keys.read_key, "write": keys.write_key},
        snippets=snippets,
    )


@router.get("/datasets/{dataset_id}")
def show(
    request: Request,
    session: SessionDep,
    user: PageUserDep,
    dataset: ViewableDatasetDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> Response:
    owner = user is not None and user.id == dataset.owner_id
    latest = {
        tag: values[-1]
        for tag, values in latest_per_variable(session, dataset.id, EARLIEST, LATEST, 1).items()
        if values
    }
    context = {"dataset": dataset, "owner": owner, "latest": latest, **chart_context(request, session, dataset)}
    if owner:
        server = server_of(request)
        context["devices"] = list_devices(session, user, dataset.id)
        context["rejected"] = list(
            session.scalars(
                select(RejectedRecord)
                .where(RejectedRecord.dataset_id == dataset.id)
                .order_by(RejectedRecord.id.desc())
                .limit(RECENT_REJECTED)
            )
        )
        context["snippets"] = dataset_snippets(dataset, server)
        context["device_snippets"] = device_snippets(dataset, server, "DEVICE_ID")
        context["failed_jobs"] = failed_jobs_of(redis, settings, dataset.id)
    return page(request, "dataset.html", **context)


def failed_jobs_of(redis: Redis, settings: Settings, dataset_id: int) -> int | None:
    """Failed jobs carrying this dataset's messages (None when Redis cannot say: the page still shows)."""
    try:
        return failed_by_dataset(redis, settings)[dataset_id]
    except RedisError:
        return None


@router.post("/datasets/{dataset_id}/keys/{kind}")
def regenerate(
    request: Request,
    kind: Literal["read", "write"],
    session: SessionDep,
    dataset: OwnDatasetDep,
    form: FormDep,
    announce: AnnounceDep,
) -> Response:
    key = regenerate_key(session, dataset, kind)
    snippets = dataset_snippets(dataset, server_of(request), key) if kind == "write" else []
    session.commit()
    announce()
    return page(
        request, "keys.html", headers=NO_STORE, dataset=dataset, keys={kind: key}, regenerated=True, snippets=snippets
    )


@router.get("/datasets/{dataset_id}/edit")
def edit_form(request: Request, dataset: OwnDatasetDep) -> Response:
    return page(request, "dataset_edit.html", dataset=dataset)


@router.post("/datasets/{dataset_id}/edit")
def edit(
    request: Request, session: SessionDep, dataset: OwnDatasetDep, form: FormDep, announce: AnnounceDep
) -> Response:
    accepting = forms.checkbox(form, "accept_new_variables")
    changed_rule = accepting != dataset.accept_new_variables
    try:
        with session.begin_nested():  # all of the edit or none of it
            update_dataset(
                session,
                dataset,
                name=forms.text(form, "name", 200, required=True),
                description=forms.text(form, "description", 10_000),
                public=forms.checkbox(form, "public"),
                accept_new_variables=accepting,
            )
            added = [add_variable(session, dataset, spec) for spec in forms.variables(form)]
    except OwnstreamError as error:
        return page(request, "dataset_edit.html", status_code=error.status_code, error=error.detail, dataset=dataset)
    session.commit()
    if added or changed_rule:  # receivers cache each dataset's variables and this rule
        announce()
    notify(request, "Dataset saved." + (f" Added {len(added)} variable(s)." if added else ""))
    return redirect(f"/dashboard/datasets/{dataset.id}")


@router.get("/datasets/{dataset_id}/delete")
def delete_form(request: Request, dataset: OwnDatasetDep) -> Response:
    return page(request, "dataset_delete.html", dataset=dataset)


@router.post("/datasets/{dataset_id}/delete")
def delete(
    request: Request,
    session: SessionDep,
    dataset: OwnDatasetDep,
    form: FormDep,
    announce: AnnounceDep,
    accounts: AccountsDep,
) -> Response:
    name, dataset_id = dataset.name, dataset.id
    devices = delete_dataset(session, dataset)
    session.commit()
    announce()
    for device_id in devices:  # a broker that misses this is repaired by `ownstream mqtt sync-accounts`
        accounts.revoke(dataset_id, device_id)
    notify(request, f"Dataset {name!r} is deleted.")
    return redirect("/dashboard")
