"""Renaming and removing a dataset's variables (adding is shared.datasets.add_variable). Callers commit."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from shared.datasets import check_tag
from shared.errors import BadRequest, Conflict, NotFound
from shared.models import Dataset, Series, Variable, readings, readings_packed


def find_variable(dataset: Dataset, tag: str) -> Variable:
    for variable in dataset.variables:
        if variable.tag == tag:
            return variable
    raise NotFound(f"dataset {dataset.id} has no variable {tag!r}")


def rename_variable(
    session: Session,
    dataset: Dataset,
    tag: str,
    *,
    new_tag: str | None = None,
    name: str | None = None,
    unit: str | None = None,
) -> Variable:
    """Change a variable's display name, unit, or tag; a new tag carries its stored readings along."""
    variable = find_variable(dataset, tag)
    if new_tag is None and name is None and unit is None:
        raise BadRequest("nothing to change: give a new tag, name or unit")
    if name is not None:
        if not name.strip() or len(name.strip()) > 200:
            raise BadRequest("a variable name is 1 to 200 characters")
        variable.name = name.strip()
    if unit is not None:
        if len(unit) > 50:
            raise BadRequest("a unit is at most 50 characters")
        variable.unit = unit or None
    if new_tag is not None and new_tag != tag:
        check_tag(new_tag)
        if any(v.tag == new_tag for v in dataset.variables):
            raise Conflict(f"variable {new_tag!r} exists")
        variable.tag = new_tag
        session.execute(
            update(Series).where(Series.dataset_id == dataset.id, Series.variable == tag).values(variable=new_tag)
        )
    session.flush()
    return variable


def remove_variable(session: Session, dataset: Dataset, tag: str) -> int:
    """Unregister a variable and delete its series and readings; returns the readings deleted."""
    variable = find_variable(dataset, tag)
    series_ids = select(Series.id).where(Series.dataset_id == dataset.id, Series.variable == tag).scalar_subquery()
    result = cast(CursorResult[Any], session.execute(delete(readings).where(readings.c.series_id.in_(series_ids))))
    deleted = result.rowcount
    session.execute(delete(readings_packed).where(readings_packed.c.series_id.in_(series_ids)))
    session.execute(delete(Series).where(Series.dataset_id == dataset.id, Series.variable == tag))
    dataset.variables.remove(variable)
    for position, remaining in enumerate(dataset.variables):
        remaining.position = position
    session.flush()
    return deleted or 0
