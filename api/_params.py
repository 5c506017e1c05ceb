"""What the API's routes share: documented common answers, the shapes of ids and free text, pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from api._deps import AppSettings
from vigie.settings import Settings

# every care route answers these besides its own (documented so that the OpenAPI document is complete)
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, unknown, revoked or expired bearer token"},
    403: {"description": "the caller's role may not do this"},
}

# what ids of the registry look like (the vigie_id domain); a query or path id of another shape is 422, not a 500
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# free text stored in the database: PostgreSQL text cannot hold NUL characters
TEXT_PATTERN = r"^[^\x00]*$"
# required free text: at least one character that is not a space (request bodies are stripped of spaces)
REQUIRED_TEXT_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the object is not in a state that allows this action"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such object in the caller's clinic"}}


# The largest page the OpenAPI document promises: the default of ``api_page_max``. A deployment may lower the
# maximum (a larger limit is then 422 too); it cannot raise it above what the document says.
PAGE_CEILING: int = Settings.model_fields["api_page_max"].default


@dataclass(frozen=True, slots=True)
class Paging:
    """``limit`` (1 … ``api_page_max``) and ``offset`` of a list request."""

    limit: int
    offset: int


def paging(
    settings: AppSettings,
    limit: Annotated[
        int, Query(ge=1, le=PAGE_CEILING, description="page size (at most the server's api_page_max)")
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Paging:
    """The page a list request asks for (422 on ``limit`` above the server's maximum)."""
    if limit > settings.api_page_max:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "limit"),
                    "msg": f"Input should be less than or equal to {settings.api_page_max}",
                    "input": limit,
                    "ctx": {"le": settings.api_page_max},
                }
            ]
        )
    return Paging(limit, offset)


Page = Annotated[Paging, Depends(paging)]
