"""Reading the dashboard's form fields: bounded text, checkboxes, variable rows."""

from __future__ import annotations

from starlette.datastructures import FormData

from shared.datasets import VariableSpec
from shared.errors import BadRequest


def text(form: FormData, name: str, max_length: int, *, label: str | None = None, required: bool = False) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f"{label or name} must be text")
    if required and not value.strip():
        raise BadRequest(f"{label or name} is required")
    if len(value) > max_length:
        raise BadRequest(f"{label or name} is at most {max_length} characters")
    return value


def checkbox(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def variables(form: FormData) -> list[VariableSpec]:
    """The rows of `var_tag`/`var_name`/`var_unit` fields; rows without a tag are skipped."""
    tags, names, units = (form.getlist(f"var_{field}") for field in ("tag", "name", "unit"))
    if not len(tags) == len(names) == len(units):
        raise BadRequest("each variable row needs a tag, a name and a unit field")
    if len(tags) > 1000:
        raise BadRequest("at most 1000 variables")
    specs = []
    for tag, name, unit in zip(tags, names, units, strict=True):
        if not (isinstance(tag, str) and isinstance(name, str) and isinstance(unit, str)):
            raise BadRequest("variable fields must be text")
        if not tag.strip():
            if name.strip() or unit.strip():
                raise BadRequest(f"variable {name.strip() or unit.strip()!r} needs a tag")
            continue
        if len(name) > 200 or len(unit) > 50:
            raise BadRequest(f"variable {tag.strip()!r}: name at most 200 characters, unit at most 50")
        specs.append(VariableSpec(tag.strip(), name.strip(), unit.strip() or None))
    return specs
