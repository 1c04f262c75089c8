"""What Steward's export/import documents share: prompts (agents/prompt_admin/transfer.py) and traces
(traces/inspection/export.py).

A document is one JSON object: a versioned `format`, `exported_at`, `source` (the exporting
Steward's STEWARD_BASE_URL) and its body. Each module describes its own body (a pydantic model
built on `StrictModel`) and checks what a schema cannot say; the rest is here: the envelope, the
download, reading the JSON, the values a database refuses, and the 422 error list that names
everything wrong at once (`DocumentFormat.validate`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, ValidationError

from console.kernel.errors import Invalid

__all__ = [
    "INT32",
    "MAX_DEPTH",
    "MAX_ERRORS",
    "DocumentFormat",
    "Moment",
    "StrictModel",
    "capped_errors",
    "download",
    "envelope",
    "error",
    "parse_json",
    "unstorable_errors",
    "username",
]

# The largest value of a Postgres integer column.
INT32 = 2_147_483_647
# Errors listed in one 422 answer; the rest are counted.
MAX_ERRORS = 50
# How deeply a JSON value (an input, an output, metadata) may nest: span values are capped at
# about 20 levels when they are recorded (console/kernel/serialize.py), so this only stops abuse.
MAX_DEPTH = 64


# --- export -------------------------------------------------------------------------------------


def username(user: Any) -> str | None:
    # Users are named, not numbered: ids mean nothing in another Steward.
    return user.get_username() if user is not None else None


def envelope(format: str) -> dict[str, Any]:
    """The keys every document starts with; the caller adds its body."""
    return {"format": format, "exported_at": timezone.now().isoformat(), "source": settings.STEWARD_BASE_URL}


def download(data: dict[str, Any], filename: str) -> HttpResponse:
    """The document as a JSON file download."""
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
    disposition = content_disposition_header(True, filename)
    assert disposition is not None  # an attachment always has the header
    response["Content-Disposition"] = disposition
    return response


# --- the shape an import must have ---------------------------------------------------------------


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


# Every time: with its offset, and one the database can store (in UTC).
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class StrictModel(BaseModel):
    # The formats are versioned: a key a version does not know is a mistake, not an extension.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --- errors -------------------------------------------------------------------------------------


def error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    """One entry of a 422 answer, located in the request body."""
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def _text_error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return error([str(p) for p in loc], msg, kind)


def _bad_text(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate, which cannot be stored"
    return None


def unstorable_errors(data: Any) -> list[dict[str, Any]]:
    """Values JSON allows but the database refuses: NUL characters, unpaired surrogates, NaN and
    infinities; and nesting deeper than MAX_DEPTH."""
    errors: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[Any]]] = [(data, [])]
    while stack and len(errors) <= MAX_ERRORS:
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            errors.append(_text_error(loc, f"nested more than {MAX_DEPTH} levels deep", "too_deep"))
        elif isinstance(value, str):
            problem = _bad_text(value)
            if problem:
                errors.append(_text_error(loc, problem, "unstorable_text"))
        elif isinstance(value, float):
            if not math.isfinite(value):
                errors.append(_text_error(loc, "NaN and infinite numbers are not JSON", "not_finite"))
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    errors.append(_text_error(loc, "object keys must be strings", "bad_key"))
                elif _bad_text(key):
                    errors.append(_text_error([*loc, key], f"the key {_bad_text(key)}", "unstorable_text"))
                stack.append((item, [*loc, key]))
        elif isinstance(value, list):
            stack.extend((item, [*loc, i]) for i, item in enumerate(value))
        elif value is not None and not isinstance(value, (bool, int)):
            errors.append(_text_error(loc, f"not a JSON value ({type(value).__name__})", "not_json"))
    return sorted(errors, key=lambda e: [str(p) for p in e["loc"]])


def capped_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(errors) <= MAX_ERRORS:
        return errors
    more = len(errors) - MAX_ERRORS
    return [*errors[:MAX_ERRORS], error([], f"... and {more} more errors", "more_errors")]


# --- reading and checking a document ----------------------------------------------------------


def parse_json(raw: bytes | str) -> Any:
    """The JSON in an upload or a request body.

    Raises:
        Invalid: (422) the text is not JSON, or not UTF-8.
    """
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        return json.loads(text, parse_constant=no_constants)
    except UnicodeDecodeError:
        raise Invalid([error([], "the file is not UTF-8 text", "not_utf8")]) from None
    except RecursionError:
        raise Invalid([error([], f"nested more than {MAX_DEPTH} levels deep", "too_deep")]) from None
    except ValueError as exc:
        raise Invalid([error([], f"not valid JSON: {exc}", "json_invalid")]) from None


Document = TypeVar("Document", bound=StrictModel)


@dataclass(frozen=True)
class DocumentFormat(Generic[Document]):
    """One versioned document format and how an import checks it."""

    name: str  # the `format` value, e.g. "steward.trace.v1"
    noun: str  # what an error calls the document: "a Steward <noun> export"
    schema: type[Document]
    # Every part of an error's loc a string: the trace import has always answered so, while the
    # prompt import keeps list indexes as numbers.
    text_locs: bool = False

    def error(self, loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
        return _text_error(loc, msg, kind) if self.text_locs else error(loc, msg, kind)

    def validate(
        self,
        data: Any,
        *,
        before: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None,
        after: Callable[[Document], list[dict[str, Any]]] | None = None,
    ) -> Document:
        """The document as a checked `schema`. `before` checks the raw data (its errors are said
        even when the schema fails too), `after` what the schema cannot say.

        Raises:
            Invalid: (422) a list of {"loc", "msg", "type"} naming everything that is wrong.
        """
        if not isinstance(data, dict):
            raise Invalid([self.error([], f"a Steward {self.noun} export must be a JSON object", "not_an_object")])
        if data.get("format") != self.name:
            got = repr(data.get("format"))[:80]
            raise Invalid(
                [self.error(["format"], f"expected {self.name!r}, got {got}: not a Steward {self.noun} export", "format")]
            )
        errors = unstorable_errors(data)
        if before is not None:
            errors += before(data)
        try:
            document = self.schema.model_validate(data)
        except ValidationError as exc:
            errors += [self.error(list(e["loc"]), e["msg"], e["type"]) for e in exc.errors(include_url=False)]
            raise Invalid(capped_errors(errors)) from None
        if after is not None:
            errors += after(document)
        if errors:
            raise Invalid(capped_errors(errors))
        return document
