"""Marshmallow fields that every service's schemas share."""

from __future__ import annotations

from marshmallow import fields, validate


class EmailAddress(fields.Email):
    """An e-mail address as the identity key: trimmed and lower-cased before it is validated."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=320))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)
