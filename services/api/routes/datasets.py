"""Dataset management for the logged-in owner: list, create, describe, keys, variables."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.api.deps import OwnedDatasetDep, ReadableDatasetDep, RedisDep, SessionDep, SettingsDep, UserDep
from shared.datasets import (
    MAX_RETENTION_DAYS,
    VariableSpec,
    add_variable,
    create_dataset,
    regenerate_key,
    update_dataset,
)
from shared.errors import BadRequest
from shared.keys import announce_key_change
from shared.models import Dataset

router = APIRouter(prefix="/api/v1/datasets")


class VariableIn(BaseModel):
    tag: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    unit: str | None = Field(default=None, max_length=50)


class DatasetIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    public: bool = False
    retention_days: int | None = Field(default=None, gt=0, le=MAX_RETENTION_DAYS)
    variables: list[VariableIn] = Field(default_factory=list, max_length=1000)
    # None: on for a dataset made without variables, off for one that declares them
    accept_new_variables: bool | None = None


class DatasetChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    public: bool | None = None
    accept_new_variables: bool | None = None


def describe(dataset: Dataset) -> dict:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "public": dataset.public,
        "entry_count": dataset.entry_count,
        "last_entry_at": dataset.last_entry_at,
        "retention_days": dataset.retention_days,
        "accept_new_variables": dataset.accept_new_variables,
        "created_at": dataset.created_at,
        "variables": [
            {"tag": v.tag, "name": v.name, "unit": v.unit, "declared": v.declared} for v in dataset.variables
        ],
    }


@router.get("")
def list_datasets(session: SessionDep, user: UserDep) -> list[dict]:
    datasets = session.scalars(select(Dataset).where(Dataset.owner_id == user.id).order_by(Dataset.id))
    return [describe(d) for d in datasets]


@router.post("", status_code=201)
def new_dataset(body: DatasetIn, session: SessionDep, user: UserDep) -> dict:
    dataset, keys = create_dataset(
        session,
        user,
        body.name,
        [VariableSpec(v.tag, v.name, v.unit) for v in body.variables],
        description=body.description,
        public=body.public,
        retention_days=body.retention_days,
        accept_new_variables=body.accept_new_variables,
    )
    return {**describe(dataset), "read_key": keys.read_key, "write_key": keys.write_key}


@router.get("/{dataset_id}")
def get_dataset(dataset: ReadableDatasetDep) -> dict:
    return describe(dataset)


@router.patch("/{dataset_id}")
def edit_dataset(
    body: DatasetChanges, dataset: OwnedDatasetDep, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> dict:
    """Change the name, description, public flag or the accept-new-variables rule; the rest stays."""
    given = {name: value for name, value in body.model_dump(exclude_unset=True).items() if value is not None}
    if not given:
        raise BadRequest("nothing to change: send name, description, public or accept_new_variables")
    update_dataset(
        session,
        dataset,
        name=given.get("name", dataset.name),
        description=given.get("description", dataset.description),
        public=given.get("public", dataset.public),
        accept_new_variables=given.get("accept_new_variables"),
    )
    changed = describe(dataset)  # before the commit, which ends the request's transaction
    session.commit()
    announce_key_change(redis, settings.redis_namespace)  # receivers cache the rule with the dataset's variables
    return changed


@router.post("/{dataset_id}/keys/{kind}/regenerate")
def regenerate(
    kind: Literal["read", "write"],
    dataset: OwnedDatasetDep,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> dict:
    key = regenerate_key(session, dataset, kind)
    session.commit()
    announce_key_change(redis, settings.redis_namespace)
    return {"dataset": dataset.id, "kind": kind, "key": key}


@router.post("/{dataset_id}/variables", status_code=201)
def new_variable(
    body: VariableIn, dataset: OwnedDatasetDep, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> dict:
    variable = add_variable(session, dataset, VariableSpec(body.tag, body.name, body.unit))
    session.commit()
    announce_key_change(redis, settings.redis_namespace)
    return {"tag": variable.tag, "name": variable.name, "unit": variable.unit}
