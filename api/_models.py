"""Base classes of the API's request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """A request body: unknown fields, NaN and ±Infinity are refused (422 with the field's path)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(from_attributes=True)
