"""What every list of the REST API shares: bounded pages and date filters that stay in range.

Whatever a client puts in a query string is answered with a page or a 400 that
names the parameter; nothing it sends reaches the database as a value the
database cannot hold.
"""

import re
from datetime import UTC, datetime, timedelta

import django_filters
from django import forms
from django.db import models
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 200

# One day inside what Python's datetime holds, so a moment can still be shown
# in any time zone (offsets stay within a day) without overflowing.
EARLIEST_MOMENT = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_MOMENT = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)

_DIGITS = re.compile(r"[0-9]+")
MAX_OFFSET = 10**18 - 1  # inside a signed 64-bit integer, which every database takes


def _digits(name: str, raw: str, *, minimum: int) -> str:
    """The significant digits of a query parameter that must be a whole number >= minimum."""
    text = raw.strip()
    significant = text.lstrip("0")
    if not _DIGITS.fullmatch(text) or (minimum > 0 and not significant):
        raise ValidationError({name: [f"{name} must be a whole number of at least {minimum}, not {raw[:40]!r}"]})
    return significant or "0"


class ApiPagination(LimitOffsetPagination):
    """limit/offset pages; a limit above MAX_PAGE_SIZE is lowered to it, a malformed one is a 400."""

    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or raw == "":
            return self.default_limit
        digits = _digits(self.limit_query_param, raw, minimum=1)
        # Lengths first: a number of thousands of digits is never converted.
        return self.max_limit if len(digits) > len(str(self.max_limit)) else min(int(digits), self.max_limit)

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None or raw == "":
            return 0
        digits = _digits(self.offset_query_param, raw, minimum=0)
        if len(digits) > len(str(MAX_OFFSET)):
            raise ValidationError({self.offset_query_param: [f"offset must be at most {MAX_OFFSET}"]})
        # An offset past the last row is an empty page: the count comes first, so
        # the database never sees it.
        return int(digits)

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.default_limit}); above {self.max_limit} "
                f"counts as {self.max_limit}.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": "Index of the first result; past the end gives an empty page.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            },
        ]


def moment_in_range(moment: datetime) -> datetime:
    """The moment in UTC if the API can store and show it; ValueError (saying why) if not.

    UTC also because PostgreSQL takes offsets only up to 15:59 and Python up to 23:59.
    """
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_MOMENT <= utc <= LATEST_MOMENT:
        raise ValueError(
            f"{moment.isoformat()} is out of range: moments run from {EARLIEST_MOMENT.isoformat()} "
            f"to {LATEST_MOMENT.isoformat()}"
        )
    return utc


class BoundedIsoDateTimeField(IsoDateTimeField):
    def strptime(self, value, format):
        try:
            return super().strptime(value, format)
        except OverflowError:
            # Shifting a moment at the edge of the calendar into the current time zone.
            raise forms.ValidationError(f"{value!r} is out of range", code="out_of_range") from None

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment_in_range(moment)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="out_of_range") from None


class MomentFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter that refuses moments the database or a time zone cannot hold."""

    field_class = BoundedIsoDateTimeField


class ApiFilterSet(django_filters.FilterSet):
    """Base of every API filter set: date-time fields of the model filter through MomentFilter."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.DateTimeField: {"filter_class": MomentFilter},
    }


# DRF's validation errors: {field: [messages]} for a form, nested like the body for
# nested fields and lists of objects, a bare list for errors of the body as a whole.
_FIELD_ERRORS = {
    "description": "What is wrong, by parameter or field name (`detail` when it is the request as a whole).",
    "anyOf": [
        {
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "string"}, {"type": "object"}]},
        },
        {"type": "array", "items": {"type": "string"}},
    ],
}
_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
_ERRORS = {
    "400": ("A parameter or field is out of range or malformed.", "ValidationErrors"),
    "401": ("No credentials, or wrong ones.", "ErrorDetail"),
    "403": ("The user's roles do not allow this.", "ErrorDetail"),
    "404": ("No such object.", "ErrorDetail"),
}


def document_error_responses(result, generator, request, public):
    """Post-processing hook for drf-spectacular: the error answers every operation may give,
    so that clients (and schema-driven tests) know their shape."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ValidationErrors", _FIELD_ERRORS)
    components.setdefault("ErrorDetail", _DETAIL)
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            has_input = method != "get" or any(
                p.get("in") == "query" for p in operation.get("parameters", []) + path_item.get("parameters", [])
            )
            has_path = any(p.get("in") == "path" for p in operation.get("parameters", []))
            # No authentication at all (the driver's endpoints): said outright, and
            # never answered with 401 or 403.
            public = not operation.get("security")
            if public:
                operation["security"] = []
            for code, (description, schema) in _ERRORS.items():
                if (code == "400" and not has_input) or (code == "404" and not has_path):
                    continue
                if public and code in {"401", "403"}:
                    continue
                operation.setdefault("responses", {}).setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                    },
                )
    return result
