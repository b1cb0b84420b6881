"""A stateful fake of the Salesforce REST API (the Account object), served through `responses`.

What it answers, with the request and response shapes of the Salesforce documentation and the
URLs and payloads simple-salesforce 1.12.10 sends and parses:

* logins: the OAuth 2.0 token endpoint (JWT bearer, username-password, client credentials) on
  login.salesforce.com, test.salesforce.com or the My Domain host, and the SOAP partner
  `login()` that simple-salesforce sends for username + password + security token;
* REST, `/services/data/vXX.X/` on the instance: Account describe, SOQL query with query
  locators (`nextRecordsUrl`), the single-record update (`PATCH sobjects/Account/{id}`),
  sObject Collections update (`PATCH composite/sobjects`), Bulk API 2.0 ingest jobs (update,
  CSV) and `limits/`.

Every REST call must carry a current token (`Authorization: Bearer ...`), counts against the
daily allocation and is answered with `Sforce-Limit-Info: api-usage=USED/MAX`. Faults are
queued per endpoint kind (`fail_next`), rows can be locked (`lock_records`), sessions expired
(`expire_session`), Bulk jobs failed (`fail_bulk_job`). Every request is kept in `calls`.

    fake = FakeSalesforce()
    ids = fake.seed_accounts(3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        sf = Salesforce(instance_url=fake.instance_url, session_id=fake.issue_token())
        sf.query("SELECT Id, Name FROM Account")

Deliberate fidelity, so that a client built against the fake is built for the real thing:
failed Collections results carry no `id` (as in the documentation's example: match answers
by position), Bulk result files come back in a shuffled order (the documentation does not
promise input order: key outcomes on the Id column), string comparisons in SOQL ignore case.
"""

from __future__ import annotations

import base64
import csv
import hmac
import html
import io
import json
import random
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
import responses
from requests import PreparedRequest
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

DEFAULT_INSTANCE_URL: Final = "https://acme.my.salesforce.com"
DEFAULT_API_VERSION: Final = "59.0"

#: Endpoint kinds, as recorded in `Call.kind` and matched by `fail_next`.
KINDS: Final = frozenset(
    {
        "login",
        "describe",
        "query",
        "sobject_update",
        "composite",
        "bulk_create",
        "bulk_upload",
        "bulk_close",
        "bulk_abort",
        "bulk_status",
        "bulk_results",
        "bulk_delete",
        "limits",
        "unknown",
    }
)

MAX_COLLECTION_RECORDS: Final = 200
MAX_SOQL_CHARS: Final = 100_000
MAX_URI_AND_HEADER_BYTES: Final = 16_384
MAX_BULK_UPLOAD_BYTES: Final = 150 * 2**20
BULK_NULL: Final = "#N/A"

_JSON: Final = "application/json;charset=UTF-8"
_CSV: Final = "text/csv;charset=UTF-8"
_XML: Final = "text/xml;charset=UTF-8"
_SESSION_EXPIRED: Final = "Session expired or invalid"
_ROLLED_BACK: Final = (
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header"
)
_INVALID_LOGIN: Final = "Invalid username, password, security token; or user locked out."
_STRING_TYPES: Final = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
    }
)
_NUMBER_TYPES: Final = frozenset({"double", "currency", "percent", "int"})
_ID_TYPES: Final = frozenset({"id", "reference"})
_FIELD_TYPES: Final = _STRING_TYPES | _NUMBER_TYPES | _ID_TYPES | {"boolean", "date", "datetime"}
_SOAP_TYPES: Final = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_DELIMITERS: Final = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
_FINAL_JOB_STATES: Final = frozenset({"JobComplete", "Failed", "Aborted"})
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_JWT_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Answer = tuple[int, dict[str, str], str]
#: A validation rule: (account id, the record as it would be saved) -> None to accept, or
#: (statusCode, message) / (statusCode, message, fields) to reject the record.
ValidationRule = Callable[
    [str, Mapping[str, Any]], tuple[str, str] | tuple[str, str, Sequence[str]] | None
]


# -- ids ------------------------------------------------------------------------------------


def id18(id15: str) -> str:
    """The 18-character (case-insensitive) form of a 15-character Salesforce id."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def canonical_id(raw: str) -> str | None:
    """The 18-character id that `raw` (15 or 18 characters, any case if 18) names, or None."""
    if len(raw) not in (15, 18) or not raw.isascii() or not raw.isalnum():
        return None
    if len(raw) == 15:
        return id18(raw)
    chars = list(raw[:15].lower())
    for chunk in range(3):
        bits = _CHECKSUM.find(raw[15 + chunk].upper())
        if bits < 0:
            return None
        for position in range(5):
            if bits >> position & 1:
                index = chunk * 5 + position
                if not chars[index].isalpha():
                    return None
                chars[index] = chars[index].upper()
    return id18("".join(chars))


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return digits.rjust(width, "0")


def _sf_datetime(moment: datetime) -> str:
    """Salesforce's JSON datetime: `2024-01-02T03:04:05.000+0000`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


_ORG_ID: Final = id18("00DHs0000000001")
_USER_ID: Final = id18("005Hs0000000001")


# -- metadata -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PicklistValue:
    """One entry of a describe `picklistValues` list."""

    value: str
    label: str | None = None
    active: bool = True
    defaultValue: bool = False  # noqa: N815 - the describe key

    def describe(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "defaultValue": self.defaultValue,
            "label": self.label or self.value,
            "validFor": None,
            "value": self.value,
        }


@dataclass(frozen=True)
class FieldSpec:
    """Describe metadata of one Account field; attribute names are the describe keys.

    `type` is a describe type: id, reference, string, textarea, email, phone, url, picklist,
    multipicklist, combobox, encryptedstring, double, currency, percent, int, boolean, date,
    datetime. `picklistValues` takes plain strings (active values) or `PicklistValue`s.
    """

    name: str
    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    updateable: bool = True
    nillable: bool = True
    externalId: bool = False  # noqa: N815 - the describe key
    idLookup: bool = False  # noqa: N815 - the describe key
    restrictedPicklist: bool = False  # noqa: N815 - the describe key
    picklistValues: tuple[str | PicklistValue, ...] = ()  # noqa: N815 - the describe key
    label: str | None = None
    unique: bool = False
    caseSensitive: bool = False  # noqa: N815 - the describe key
    referenceTo: tuple[str, ...] = ()  # noqa: N815 - the describe key

    def __post_init__(self) -> None:
        if self.type not in _FIELD_TYPES:
            raise ValueError(f"unsupported field type {self.type!r} for {self.name}")

    @property
    def display_label(self) -> str:
        return self.label or self.name.removesuffix("__c").replace("_", " ")

    def picklist(self) -> tuple[PicklistValue, ...]:
        return tuple(
            p if isinstance(p, PicklistValue) else PicklistValue(p) for p in self.picklistValues
        )

    def describe(self) -> dict[str, Any]:
        """The field's entry in `fields` of an sObject Describe answer."""
        text = self.type in _STRING_TYPES or self.type in _ID_TYPES
        length = self.length if self.length is not None else (18 if self.type in _ID_TYPES else 0)
        return {
            "aggregatable": True,
            "autoNumber": False,
            "byteLength": length * 3 if text else 0,
            "calculated": False,
            "caseSensitive": self.caseSensitive,
            "createable": self.updateable,
            "custom": self.name.endswith("__c"),
            "defaultValue": None,
            "defaultedOnCreate": self.type == "boolean",
            "dependentPicklist": False,
            "digits": (self.precision or 9) if self.type == "int" else 0,
            "externalId": self.externalId,
            "filterable": True,
            "groupable": self.type not in _NUMBER_TYPES,
            "htmlFormatted": False,
            "idLookup": self.idLookup,
            "label": self.display_label,
            "length": length if text else 0,
            "name": self.name,
            "nameField": self.name == "Name",
            "nillable": self.nillable,
            "picklistValues": [p.describe() for p in self.picklist()],
            "precision": self.precision or 0,
            "referenceTo": list(self.referenceTo),
            "relationshipName": (
                self.name.removesuffix("Id") if self.type == "reference" else None
            ),
            "restrictedPicklist": self.restrictedPicklist,
            "scale": self.scale or 0,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": True,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }


def default_fields() -> dict[str, FieldSpec]:
    """Id, Name, ERP_Customer_Id__c (external id), OwnerId and LastModifiedDate."""
    specs = [
        FieldSpec(
            "Id", "id", length=18, updateable=False, nillable=False, idLookup=True, label="Id"
        ),
        FieldSpec("Name", "string", length=255, nillable=False, idLookup=True, label="Name"),
        FieldSpec(
            "ERP_Customer_Id__c",
            "string",
            length=64,
            externalId=True,
            idLookup=True,
            unique=True,
            label="ERP Customer Id",
        ),
        FieldSpec(
            "OwnerId", "reference", length=18, nillable=False, referenceTo=("User",), label="Owner"
        ),
        FieldSpec(
            "LastModifiedDate",
            "datetime",
            updateable=False,
            nillable=False,
            label="Last Modified Date",
        ),
    ]
    return {spec.name: spec for spec in specs}


# -- faults and observations ----------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What an endpoint answers instead of doing its work: an HTTP error or a dropped line."""

    status: int = 503
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    connection_error: bool = False
    timeout: bool = False

    @classmethod
    def http(cls, status: int, error_code: str, message: str) -> Fault:
        """An answer in the REST error shape `[{"message", "errorCode"}]`."""
        return cls(status, [{"message": message, "errorCode": error_code}])

    @classmethod
    def server_unavailable(cls) -> Fault:
        return cls.http(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable.")

    @classmethod
    def internal_error(cls) -> Fault:
        return cls.http(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: "
            "1234567890-12345 (-1234567890)",
        )

    @classmethod
    def invalid_session(cls) -> Fault:
        return cls.http(401, "INVALID_SESSION_ID", _SESSION_EXPIRED)

    @classmethod
    def request_limit_exceeded(cls) -> Fault:
        """Too many concurrent long-running requests (worth a retry after a pause)."""
        return cls.http(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")

    @classmethod
    def daily_limit_exceeded(cls) -> Fault:
        """The org's daily API allocation is used up (not worth a retry today)."""
        return cls.http(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    @classmethod
    def oauth_error(cls, error: str, description: str, status: int = 400) -> Fault:
        """An OAuth token endpoint error `{"error", "error_description"}`."""
        return cls(status, {"error": error, "error_description": description})

    @classmethod
    def connection_reset(cls) -> Fault:
        """The request raises `requests.ConnectionError`; nothing reaches the org."""
        return cls(0, connection_error=True)

    @classmethod
    def read_timeout(cls) -> Fault:
        """The request raises `requests.ReadTimeout` (the org may or may not have acted)."""
        return cls(0, timeout=True)


@dataclass(frozen=True)
class Call:
    """One request the fake received, in order: `status` is 0 for a dropped connection."""

    kind: str
    method: str
    url: str
    body: str | None
    headers: Mapping[str, str]
    status: int

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class IngestJob:
    """A Bulk API 2.0 ingest job and what processing it produced."""

    id: str
    object: str
    operation: str
    line_ending: str
    column_delimiter: str
    api_version: str
    created: str
    state: str = "Open"
    batches: list[str] = field(default_factory=list)
    header: list[str] | None = None
    polls_left: int = 0
    error_message: str | None = None
    processed: bool = False
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    def info(self, *, detail: bool) -> dict[str, Any]:
        """The job info JSON of Create Job / Close or Abort (detail False) and Get Job Info."""
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": _USER_ID,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if detail:
            body |= {
                "jobType": "V2Ingest",
                "numberRecordsProcessed": len(self.successful) + len(self.failed),
                "numberRecordsFailed": len(self.failed),
                "retries": 0,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            }
            if self.error_message:
                body["errorMessage"] = self.error_message
        return body


# -- internals ------------------------------------------------------------------------------


class _ApiError(Exception):
    """A REST error answer: `[{"message", "errorCode", "fields"?}]`."""

    def __init__(
        self, status: int, code: str, message: str, fields: Sequence[str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = None if fields is None else list(fields)

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = self.fields
        return [error]


class _OAuthError(Exception):
    """A refused token request: OAuth `error` and `error_description`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class _RecordFailureError(Exception):
    """A record the write refuses: its Id when known, and its errors."""

    def __init__(self, account_id: str | None, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["statusCode"])
        self.account_id = account_id
        self.errors = errors


class _BadValueError(Exception):
    """A value that cannot be read as the field's type."""


def _record_error(code: str, message: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": list(fields)}


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: str | None
    size: int  # bytes of request URI plus headers
    groups: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            raise _ApiError(400, "JSON_PARSER_ERROR", "The request body is empty")
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as error:
            raise _ApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Unexpected character at [line:{error.lineno}, column:{error.colno}]",
            ) from None


Handler = Callable[[_Request], Answer]


class _SalesforceRoute(responses.CallbackResponse):
    """One registration for every method: overlapping `responses` matches pop each other."""

    def matches(self, request: PreparedRequest) -> tuple[bool, str]:
        if not self._url_matches(self.url, str(request.url)):
            return False, "URL does not match"
        return True, ""


class _DirectAdapter(BaseAdapter):
    """A `requests` transport that hands every request straight to the fake, no `responses`."""

    def __init__(
        self, pattern: re.Pattern[str], callback: Callable[[PreparedRequest], Answer]
    ) -> None:
        super().__init__()
        self.pattern = pattern
        self.callback = callback

    def send(  # noqa: PLR0917 - the signature of BaseAdapter.send
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = str(request.url)
        if not self.pattern.match(url):
            raise requests.ConnectionError(f"fake Salesforce: nothing serves {url}")
        status, headers, body = self.callback(request)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = body.encode()
        response.encoding = "utf-8"
        response.url = url
        response.request = request
        try:
            response.reason = HTTPStatus(status).phrase
        except ValueError:
            response.reason = ""
        return response

    def close(self) -> None:
        """Nothing to release: no connections."""


def _json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return status, {"Content-Type": _JSON, **(headers or {})}, json.dumps(body)


def _body_text(body: bytes | str | Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    return None  # a stream: nothing this fake's clients send


def _plain_number(value: Decimal | float) -> str:
    text = format(Decimal(str(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _parse_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _BadValueError(str(raw))
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise _BadValueError(str(raw)) from None
    if not number.is_finite():
        raise _BadValueError(str(raw))
    return number


def _parse_date(raw: Any) -> str:
    if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise _BadValueError(str(raw))
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise _BadValueError(raw) from None


def _parse_datetime(raw: Any) -> str:
    if not isinstance(raw, str) or "T" not in raw:
        raise _BadValueError(str(raw))
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _BadValueError(raw) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _sf_datetime(moment)


def _parse_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return _plain_number(raw)
    if isinstance(raw, str):
        return raw
    raise _BadValueError(json.dumps(raw))


def _parse_number(raw: Any, *, integral: bool) -> Decimal:
    number = _parse_decimal(raw)
    if integral and number != number.to_integral_value():
        raise _BadValueError(str(raw))
    return number


def _parse_boolean(raw: Any, *, from_csv: bool) -> bool:
    if isinstance(raw, bool) and not from_csv:
        return raw
    truth = {"true": True, "false": False}
    if from_csv:
        truth |= {"1": True, "0": False}
    text = str(raw).strip().lower()
    if text not in truth:
        raise _BadValueError(str(raw))
    return truth[text]


def _json_value(spec: FieldSpec, raw: Any) -> Any:
    """A JSON body's value read as the field's type; a wrong type fails the whole request."""
    try:
        return _parse_value(spec, raw, from_csv=False)
    except _BadValueError as problem:
        soap = _SOAP_TYPES.get(spec.type, "xsd:string").split(":")[1]
        raise _ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {soap} from VALUE_STRING value {problem} "
            "or request may be missing a required field",
        ) from None


def _parse_value(spec: FieldSpec, raw: Any, *, from_csv: bool) -> Any:
    """`raw` (a JSON value, or a non-empty CSV cell) read as the field's type."""
    kind = spec.type
    if raw is None:
        return None
    if kind in _STRING_TYPES or kind in _ID_TYPES:
        return _parse_text(raw)
    if kind in _NUMBER_TYPES:
        return _parse_number(raw, integral=kind == "int")
    if kind == "boolean":
        return _parse_boolean(raw, from_csv=from_csv)
    return _parse_date(raw) if kind == "date" else _parse_datetime(raw)


class _FieldProblemError(Exception):
    """A value its field refuses: (statusCode, message) of a record error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _stored_number(spec: FieldSpec, number: Decimal) -> int | float:
    scale = 0 if spec.type == "int" else (spec.scale or 0)
    rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    whole = abs(int(rounded))
    if spec.precision and (len(str(whole)) if whole else 0) > spec.precision - scale:
        raise _FieldProblemError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{spec.display_label}: value outside of valid range on numeric field: {number}",
        )
    return int(rounded) if spec.type == "int" else float(rounded)


def _check_text(spec: FieldSpec, value: str) -> None:
    label = spec.display_label
    if spec.length and len(value) > spec.length:
        raise _FieldProblemError(
            "STRING_TOO_LONG", f"{label}: data value too large: {value} (max length={spec.length})"
        )
    if spec.type in ("picklist", "multipicklist") and spec.restrictedPicklist:
        allowed = {p.value for p in spec.picklist() if p.active}
        chosen = value.split(";") if spec.type == "multipicklist" else [value]
        bad = [v for v in chosen if v not in allowed]
        if bad:
            raise _FieldProblemError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {bad[0]}",
            )


def _stored_value(spec: FieldSpec, value: Any) -> Any:
    """The value as stored; raises `_FieldProblemError` when the field refuses it."""
    kind = spec.type
    if value is None:
        if kind == "boolean":
            return False  # a checkbox is never null
        if not spec.nillable:
            raise _FieldProblemError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]"
            )
        return None
    if kind in _NUMBER_TYPES:
        return _stored_number(spec, value)
    if kind in _ID_TYPES:
        reference = canonical_id(value)
        if reference is None:
            raise _FieldProblemError(
                "MALFORMED_ID", f"{spec.display_label}: id value of incorrect type: {value}"
            )
        return reference
    if kind in _STRING_TYPES:
        _check_text(spec, value)
    return value


def _checked_value(spec: FieldSpec, value: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The value as stored, and the record errors its constraints raise."""
    try:
        return _stored_value(spec, value), []
    except _FieldProblemError as problem:
        return None, [_record_error(problem.code, problem.message, [spec.name])]


def _line_ending_problem(line_ending: str, data: str) -> str | None:
    crlf, lf = data.count("\r\n"), data.count("\n")
    if (line_ending == "LF" and crlf) or (line_ending == "CRLF" and lf > crlf):
        return (
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
            f"is {line_ending}"
        )
    return None


def _csv_text(rows: Iterable[Sequence[str]], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerows(rows)
    return buffer.getvalue()


# -- SOQL -----------------------------------------------------------------------------------

_SOQL_ESCAPES: Final = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
}
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?")
_DATE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))?"
)
_OPERATOR: Final = re.compile(r"<=|>=|!=|<>|=|<|>")
Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string, number, op, punct, end
    text: str  # an identifier, an operator, or a string literal's decoded value
    pos: int
    like: str | None = None  # for strings: the LIKE pattern as a regular expression
    like_escape: bool = False  # the literal used \_ or \%, allowed only in LIKE


@dataclass(frozen=True)
class ParsedQuery:
    """What the fake understood of one SOQL statement."""

    soql: str
    fields: tuple[FieldSpec, ...]
    where: Predicate | None
    order: tuple[tuple[FieldSpec, bool, bool], ...]  # (field, descending, nulls last)
    limit: int | None
    literals: tuple[str, ...]


class _SoqlParser:
    """`SELECT f, ... FROM Account [WHERE ...] [ORDER BY ...] [LIMIT n]`.

    WHERE takes `field op literal` (= != <> < > <= >=), `field [NOT] IN (literals)`,
    `field LIKE 'pattern'`, NOT, parentheses, and AND or OR (not mixed without parentheses,
    as in SOQL). Literals: 'strings' with the SOQL escapes, numbers, true, false, null.
    """

    def __init__(self, soql: str, fields: Mapping[str, FieldSpec], sink: list[str]) -> None:
        self.soql = soql
        self.fields = fields
        self.sink = sink
        self.literals: list[str] = []
        self.tokens: list[_Token] = []
        self.index = 0

    # errors
    def _error(self, code: str, pos: int, reason: str) -> _ApiError:
        message = f"\n{self.soql}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{reason}"
        return _ApiError(400, code, message)

    def _malformed(self, pos: int, reason: str) -> _ApiError:
        return self._error("MALFORMED_QUERY", pos, reason)

    # lexing
    def _lex(self) -> list[_Token]:
        text, pos, tokens = self.soql, 0, []
        while pos < len(text):
            char = text[pos]
            if char.isspace():
                pos += 1
            elif char == "'":
                token, pos = self._lex_string(pos)
                tokens.append(token)
            elif char in "(),":
                tokens.append(_Token("punct", char, pos))
                pos += 1
            elif match := _OPERATOR.match(text, pos):
                tokens.append(_Token("op", match.group(), pos))
                pos = match.end()
            elif match := _DATE.match(text, pos):
                tokens.append(_Token("date", match.group(), pos))
                pos = match.end()
            elif match := _NUMBER.match(text, pos):
                tokens.append(_Token("number", match.group(), pos))
                pos = match.end()
            elif match := _IDENT.match(text, pos):
                tokens.append(_Token("ident", match.group(), pos))
                pos = match.end()
            else:
                raise self._malformed(
                    pos, f"line 1:{pos} no viable alternative at character '{char}'"
                )
        tokens.append(_Token("end", "", len(text)))
        return tokens

    def _lex_string(self, start: int) -> tuple[_Token, int]:
        text, pos = self.soql, start + 1
        value: list[str] = []
        pattern: list[str] = []
        like_escape = False
        while True:
            if pos >= len(text):
                raise self._malformed(
                    start, f"line 1:{start} mismatched character '<EOF>' expecting '''"
                )
            char = text[pos]
            if char == "'":
                pos += 1
                break
            if char != "\\":
                value.append(char)
                pattern.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
                pos += 1
                continue
            escape = text[pos + 1] if pos + 1 < len(text) else ""
            if escape in _SOQL_ESCAPES:
                decoded, pos = _SOQL_ESCAPES[escape], pos + 2
            elif escape == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[pos + 2 : pos + 6]):
                decoded, pos = chr(int(text[pos + 2 : pos + 6], 16)), pos + 6
            elif escape in ("_", "%"):
                decoded, pos, like_escape = escape, pos + 2, True
            else:
                raise self._malformed(
                    pos,
                    f"Invalid string literal '{text[start + 1 : pos + 2]}'. Illegal character "
                    f"sequence '\\{escape}' in string literal.",
                )
            value.append(decoded)
            pattern.append(re.escape(decoded))
        decoded_value = "".join(value)
        self.sink.append(decoded_value)
        self.literals.append(decoded_value)
        token = _Token("string", decoded_value, start, "".join(pattern), like_escape)
        return token, pos

    # token helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _is_word(self, *words: str) -> bool:
        return self.token.kind == "ident" and self.token.text.upper() in words

    def _expect_word(self, word: str) -> None:
        if not self._is_word(word):
            raise self._unexpected()
        self.index += 1

    def _expect_punct(self, char: str) -> None:
        if self.token.kind != "punct" or self.token.text != char:
            raise self._unexpected()
        self.index += 1

    def _unexpected(self) -> _ApiError:
        token = self.token
        shown = "<EOF>" if token.kind == "end" else token.text
        return self._malformed(token.pos, f"unexpected token: '{shown}'")

    def _field(self) -> FieldSpec:
        token = self._next()
        if token.kind != "ident":
            self.index -= 1
            raise self._unexpected()
        spec = self.fields.get(token.text.lower())
        if spec is None:
            raise self._error(
                "INVALID_FIELD",
                token.pos,
                f"No such column '{token.text}' on entity 'Account'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        return spec

    # grammar
    def parse(self) -> ParsedQuery:
        if len(self.soql) > MAX_SOQL_CHARS:
            raise _ApiError(
                400,
                "MALFORMED_QUERY",
                f"SOQL statements cannot be longer than {MAX_SOQL_CHARS} characters",
            )
        self.tokens = self._lex()
        self.index = 0
        self._expect_word("SELECT")
        selected: list[FieldSpec] = []
        selected.append(self._select_item(selected))
        while self.token.kind == "punct" and self.token.text == ",":
            self.index += 1
            selected.append(self._select_item(selected))
        self._expect_word("FROM")
        sobject = self._next()
        if sobject.kind != "ident":
            self.index -= 1
            raise self._unexpected()
        if sobject.text.lower() != "account":
            raise _ApiError(
                400,
                "INVALID_TYPE",
                f"\n{self.soql}\n{' ' * sobject.pos}^\nERROR at Row:1:Column:{sobject.pos + 1}\n"
                f"sObject type '{sobject.text}' is not supported. (this fake serves Account only)",
            )
        where = None
        if self._is_word("WHERE"):
            self.index += 1
            where = self._expression()
        order: list[tuple[FieldSpec, bool, bool]] = []
        if self._is_word("ORDER"):
            self.index += 1
            self._expect_word("BY")
            order.append(self._order_item())
            while self.token.kind == "punct" and self.token.text == ",":
                self.index += 1
                order.append(self._order_item())
        limit = None
        if self._is_word("LIMIT"):
            self.index += 1
            token = self._next()
            if token.kind != "number" or not token.text.isdigit():
                self.index -= 1
                raise self._unexpected()
            limit = int(token.text)
        if self.token.kind != "end":
            raise self._unexpected()
        return ParsedQuery(
            self.soql, tuple(selected), where, tuple(order), limit, tuple(self.literals)
        )

    def _select_item(self, selected: Sequence[FieldSpec]) -> FieldSpec:
        pos = self.token.pos
        spec = self._field()
        if spec in selected:
            raise self._error("INVALID_FIELD", pos, f"duplicate field selected: {spec.name}")
        return spec

    def _order_item(self) -> tuple[FieldSpec, bool, bool]:
        spec = self._field()
        descending = False
        if self._is_word("ASC", "DESC"):
            descending = self._next().text.upper() == "DESC"
        nulls_last = False
        if self._is_word("NULLS"):
            self.index += 1
            if not self._is_word("FIRST", "LAST"):
                raise self._unexpected()
            nulls_last = self._next().text.upper() == "LAST"
        return spec, descending, nulls_last

    def _expression(self) -> Predicate:
        parts = [self._factor()]
        joiner: str | None = None
        while self._is_word("AND", "OR"):
            word = self.token.text.upper()
            if joiner is not None and word != joiner:
                raise self._unexpected()
            joiner = word
            self.index += 1
            parts.append(self._factor())
        if len(parts) == 1:
            return parts[0]
        if joiner == "AND":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)

    def _factor(self) -> Predicate:
        if self._is_word("NOT"):
            self.index += 1
            inner = self._factor()
            return lambda row: not inner(row)
        if self.token.kind == "punct" and self.token.text == "(":
            self.index += 1
            inner = self._expression()
            self._expect_punct(")")
            return inner
        return self._condition()

    def _condition(self) -> Predicate:
        spec = self._field()
        negate = False
        if self._is_word("NOT"):
            self.index += 1
            negate = True
            if not self._is_word("IN"):
                raise self._unexpected()
        if self._is_word("IN"):
            self.index += 1
            self._expect_punct("(")
            values = [self._literal(spec)]
            while self.token.kind == "punct" and self.token.text == ",":
                self.index += 1
                values.append(self._literal(spec))
            self._expect_punct(")")
            member = _membership(spec, set(values))
            if negate:
                return lambda row: not member(row)
            return member
        if self._is_word("LIKE"):
            self.index += 1
            token = self._next()
            if token.kind != "string" or token.like is None:
                self.index -= 1
                raise self._unexpected()
            flags = 0 if spec.caseSensitive else re.IGNORECASE
            regex = re.compile(token.like, flags | re.DOTALL)
            return lambda row: regex.fullmatch(str(row.get(spec.name) or "")) is not None
        if self.token.kind != "op":
            raise self._unexpected()
        op = self._next().text
        value = self._literal(spec)
        return _comparison(spec, op, value)

    def _literal(self, spec: FieldSpec) -> Any:
        token = self._next()
        if token.kind == "ident" and token.text.lower() == "null":
            return None
        if token.kind == "string" and token.like_escape:
            raise self._malformed(
                token.pos, "Invalid string literal: \\_ and \\% are allowed only in LIKE"
            )
        if spec.type in ("date", "datetime"):
            return self._date_literal(spec, token)
        if spec.type in _STRING_TYPES or spec.type in _ID_TYPES:
            return self._text_literal(spec, token)
        if spec.type == "boolean":
            if token.kind != "ident" or token.text.lower() not in ("true", "false"):
                raise self._wrong_type(spec, token, "boolean")
            return token.text.lower() == "true"
        if token.kind != "number":
            raise self._wrong_type(spec, token, spec.type)
        return Decimal(token.text)

    def _wrong_type(self, spec: FieldSpec, token: _Token, kind: str) -> _ApiError:
        quotes = "be enclosed in quotes" if kind == "string" else "not be enclosed in quotes"
        return self._error(
            "INVALID_FIELD",
            token.pos,
            f"value of filter criterion for field '{spec.name}' must be of type {kind} and "
            f"should {quotes}",
        )

    def _date_literal(self, spec: FieldSpec, token: _Token) -> str:
        if token.kind != "date":
            raise self._wrong_type(spec, token, spec.type)
        if spec.type == "date":
            return token.text[:10]
        if "T" not in token.text:
            raise self._malformed(token.pos, f"invalid datetime: {token.text}")
        return _parse_datetime(token.text)

    def _text_literal(self, spec: FieldSpec, token: _Token) -> Any:
        if token.kind != "string":
            raise self._wrong_type(spec, token, "string")
        if spec.type not in _ID_TYPES:
            return _key(spec, token.text)
        reference = canonical_id(token.text)
        if reference is None:
            raise self._error(
                "INVALID_QUERY_FILTER_OPERATOR", token.pos, f"invalid ID field: {token.text}"
            )
        return reference


def _key(spec: FieldSpec, value: Any) -> Any:
    """A stored value in the form SOQL compares: strings ignore case unless caseSensitive."""
    if value is None:
        return None
    if spec.type in _ID_TYPES:
        return canonical_id(str(value)) or str(value)
    if spec.type in _NUMBER_TYPES:
        return Decimal(str(value))
    if spec.type in _STRING_TYPES and isinstance(value, str) and not spec.caseSensitive:
        return value.casefold()
    return value


def _membership(spec: FieldSpec, wanted: set[Any]) -> Predicate:
    """`_key(spec, row[field]) in wanted`, one call a row for the common text case (speed)."""
    name = spec.name
    if spec.type in _STRING_TYPES and not spec.caseSensitive:

        def text_member(row: Row) -> bool:
            value = row.get(name)
            return (value.casefold() if isinstance(value, str) else value) in wanted

        return text_member
    return lambda row: _key(spec, row.get(name)) in wanted


def _sort_key(spec: FieldSpec) -> Callable[[Row], Any]:
    return lambda row: _key(spec, row.get(spec.name))


def _comparison(spec: FieldSpec, op: str, value: Any) -> Predicate:
    def test(row: Row) -> bool:
        actual = _key(spec, row.get(spec.name))
        if op == "=":
            return bool(actual == value)
        if op in ("!=", "<>"):
            return bool(actual != value)
        if actual is None or value is None:
            return False
        checks: dict[str, Callable[[Any, Any], bool]] = {
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        return checks[op](actual, value)

    return test


# -- the fake -------------------------------------------------------------------------------


class FakeSalesforce:
    """A Salesforce org with one object, Account, reachable through `responses`.

    State is public: `accounts` (18-character Id -> stored values, Id included), `fields`
    (describe metadata), `validation_rules`, `jobs` (Bulk API 2.0 ingest jobs), `daily_used`.
    Observation: `calls`, `count(kind)`, `calls_of(kind)`, `written_fields()`, `queries` (every
    SOQL statement), `soql_literals` (every string literal as decoded), `api_calls_used`,
    `serving_seconds` (wall time spent answering requests, the fake's own cost).
    """

    def __init__(
        self,
        instance_url: str = DEFAULT_INSTANCE_URL,
        api_version: str = DEFAULT_API_VERSION,
        query_page_size: int = 2000,
        daily_max: int = 100_000,
        daily_used: int = 0,
        *,
        username: str = "integration@acme.example",
        password: str = "correct-horse-battery",  # noqa: S107 - a fake org's test password
        security_token: str = "SECTOKEN123",  # noqa: S107 - a fake org's test token
        consumer_key: str = "3MVG9fake.consumer.key",
        consumer_secret: str = "fake-consumer-secret",  # noqa: S107 - a fake org's test secret
        sandbox: bool = False,
        jwt_public_key: str | bytes | None = None,
        bulk_in_progress_polls: int = 1,
        shuffle_bulk_results: bool = True,
        unknown_field_fails_request: bool = True,
        max_uri_and_header_bytes: int = MAX_URI_AND_HEADER_BYTES,
        seed: int = 0,
    ) -> None:
        """A fresh org.

        `sandbox` decides which login host (test or login.salesforce.com) and which JWT
        audience it accepts (the My Domain host is always accepted). With `jwt_public_key`
        (PEM) JWT signatures are verified; without it the assertion is only decoded.
        `bulk_in_progress_polls` is how many job status reads answer InProgress before
        JobComplete. `unknown_field_fails_request` makes an unknown field in a Collections
        body fail the whole request (400 INVALID_FIELD, as deserialisation does) instead of
        failing only its record.
        """
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.query_page_size = query_page_size
        self.daily_max = daily_max
        self.daily_used = daily_used
        self.username = username
        self.password = password
        self.security_token = security_token
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.sandbox = sandbox
        self.jwt_public_key = jwt_public_key
        self.bulk_in_progress_polls = bulk_in_progress_polls
        self.shuffle_bulk_results = shuffle_bulk_results
        self.unknown_field_fails_request = unknown_field_fails_request
        self.max_uri_and_header_bytes = max_uri_and_header_bytes
        self.org_id = _ORG_ID
        self.user_id = _USER_ID

        self.accounts: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.fields: dict[str, FieldSpec] = default_fields()
        self.validation_rules: list[ValidationRule] = []
        self.jobs: dict[str, IngestJob] = {}
        self.calls: list[Call] = []
        self.queries: list[str] = []
        self.soql_literals: list[str] = []
        self.serving_seconds = 0.0

        self._tokens: set[str] = set()
        self._faults: dict[str, deque[Fault]] = {}
        self._locks: dict[str, int] = {}
        self._job_failures: deque[str] = deque()
        self._written: set[str] = set()
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._sequence = 0
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._routes: list[tuple[re.Pattern[str], dict[str, tuple[str, Handler]]]] = [
            (re.compile(r"sobjects/Account/describe/?"), {"GET": ("describe", self._describe)}),
            (re.compile(r"(?:query|queryAll)/?"), {"GET": ("query", self._query)}),
            (
                re.compile(r"(?:query|queryAll)/(?P<locator>[A-Za-z0-9]+)-(?P<offset>\d+)/?"),
                {"GET": ("query", self._query_more)},
            ),
            (
                re.compile(r"sobjects/Account/(?P<record>[^/]+)/?"),
                {"PATCH": ("sobject_update", self._sobject_update)},
            ),
            (re.compile(r"composite/sobjects/?"), {"PATCH": ("composite", self._composite)}),
            (re.compile(r"jobs/ingest/?"), {"POST": ("bulk_create", self._bulk_create)}),
            (
                re.compile(r"jobs/ingest/(?P<job>[A-Za-z0-9]+)/?"),
                {
                    "GET": ("bulk_status", self._bulk_status),
                    "PATCH": ("bulk_close", self._bulk_state),
                    "DELETE": ("bulk_delete", self._bulk_delete),
                },
            ),
            (
                re.compile(r"jobs/ingest/(?P<job>[A-Za-z0-9]+)/batches/?"),
                {"PUT": ("bulk_upload", self._bulk_upload)},
            ),
            (
                re.compile(
                    r"jobs/ingest/(?P<job>[A-Za-z0-9]+)/"
                    r"(?P<which>successfulResults|failedResults|unprocessedRecords)/?",
                    re.IGNORECASE,
                ),
                {"GET": ("bulk_results", self._bulk_results)},
            ),
            (re.compile(r"limits/?"), {"GET": ("limits", self._limits)}),
        ]

    # -- setup ------------------------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        """Serve every Salesforce host (and the instance) from this fake on `mock`.

        One registration covers every method and path; do not register other responses for
        *.salesforce.com on the same mock (overlapping matches make `responses` drop one).
        """
        mock.add(_SalesforceRoute("GET", self._url_pattern(), self._callback))

    def _url_pattern(self) -> re.Pattern[str]:
        hosts = r"https://[A-Za-z0-9.-]+\.salesforce\.com(?::\d+)?"
        return re.compile(rf"^(?:{hosts}|{re.escape(self.instance_url)})(?:[/?].*)?$")

    @contextmanager
    def running(self) -> Iterator[responses.RequestsMock]:
        """A `RequestsMock` with this fake installed (unfired registrations are fine)."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.install(mock)
            yield mock

    def session(self) -> requests.Session:
        """A `requests.Session` served by this fake directly, without `responses`.

        The answers, faults and observations are those of `install`; what it skips is the
        `responses` matching and the proxy lookups in the environment (`trust_env` off: no
        network is involved), which dominate tens of thousands of small calls (benchmarks).
        Pass it as `session=` to simple-salesforce. Any other URL raises
        `requests.ConnectionError`.
        """
        session = requests.Session()
        session.trust_env = False
        adapter = _DirectAdapter(self._url_pattern(), self._callback)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def issue_token(self) -> str:
        """A new valid access token, as a login would issue (for `session_id=` clients)."""
        with self._lock:
            self._sequence += 1
            token = f"{self.org_id[:15]}!AQ{self._sequence:04d}.{secrets.token_urlsafe(48)}"
            self._tokens.add(token)
            return token

    def expire_session(self) -> None:
        """Every token issued so far stops working: REST calls answer 401 INVALID_SESSION_ID."""
        with self._lock:
            self._tokens.clear()

    def add_field(self, spec: FieldSpec) -> None:
        """Add a field to Account (or replace the field of that name)."""
        with self._lock:
            for name in [n for n in self.fields if n.lower() == spec.name.lower()]:
                del self.fields[name]
            self.fields[spec.name] = spec

    def add_account(self, **values: Any) -> str:
        """Store an Account as given (no validation) and return its 18-character Id.

        Field names must exist (any case); `Id` may be given (15 or 18 characters). Name
        defaults to "Account N", OwnerId to the integration user.
        """
        with self._lock:
            fields = self._field_map()
            record: dict[str, Any] = {}
            for name, value in values.items():
                spec = fields.get(name.lower())
                if spec is None:
                    raise KeyError(f"Account has no field {name!r}; add_field() it first")
                record[spec.name] = value
            raw_id = record.pop("Id", None)
            if raw_id is None:
                account_id = self._new_id("001")
            else:
                checked = canonical_id(str(raw_id))
                if checked is None or not checked.startswith("001"):
                    raise ValueError(f"not an Account id: {raw_id!r}")
                account_id = checked
            record.setdefault("Name", f"Account {len(self.accounts) + 1}")
            record.setdefault("OwnerId", self.user_id)
            record.setdefault("LastModifiedDate", _sf_datetime(datetime.now(UTC)))
            self.accounts[account_id] = {"Id": account_id, **record}
            self.deleted.discard(account_id)
            return account_id

    def seed_accounts(
        self, n: int, external_id_field: str = "ERP_Customer_Id__c", prefix: str = "C"
    ) -> list[str]:
        """`n` Accounts named "Customer 1".. with external ids "C00001".. ; their Ids in order."""
        return [
            self.add_account(**{"Name": f"Customer {i}", external_id_field: f"{prefix}{i:05d}"})
            for i in range(1, n + 1)
        ]

    def delete_account(self, account_id: str) -> None:
        """Delete an Account: queries skip it, updates fail with ENTITY_IS_DELETED."""
        with self._lock:
            checked = canonical_id(account_id) or account_id
            self.accounts.pop(checked, None)
            self.deleted.add(checked)

    def account(self, account_id: str) -> dict[str, Any]:
        """The stored values of one Account (15 or 18-character Id)."""
        return self.accounts[canonical_id(account_id) or account_id]

    # -- faults -----------------------------------------------------------------------------

    def fail_next(self, kind: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests of `kind` answer `fault` (queued behind earlier faults)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {sorted(KINDS)}")
        with self._lock:
            self._faults.setdefault(kind, deque()).extend([fault] * times)

    def lock_records(self, ids: Iterable[str], times: int = 1) -> None:
        """Each of these records fails its next `times` writes with UNABLE_TO_LOCK_ROW."""
        with self._lock:
            for raw in ids:
                account_id = canonical_id(raw) or raw
                self._locks[account_id] = self._locks.get(account_id, 0) + times

    def fail_bulk_job(
        self,
        message: str = "InternalServerError : Failed to process the job",
        times: int = 1,
    ) -> None:
        """The next `times` ingest jobs end Failed with this errorMessage, nothing processed."""
        with self._lock:
            self._job_failures.extend([message] * times)

    # -- observation ------------------------------------------------------------------------

    def count(self, kind: str) -> int:
        """How many requests of this kind arrived (faulted ones included)."""
        return sum(1 for call in self.calls if call.kind == kind)

    def calls_of(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.kind == kind]

    def written_fields(self) -> set[str]:
        """Every field name (as sent) in any update body or Bulk CSV header, Id aside."""
        return set(self._written)

    @property
    def api_calls_used(self) -> int:
        """The org's daily API use, as Sforce-Limit-Info reports it."""
        return self.daily_used

    # -- dispatch ---------------------------------------------------------------------------

    def _callback(self, prepared: PreparedRequest) -> Answer:
        with self._lock:
            started = time.perf_counter()
            try:
                return self._answer(prepared)
            finally:
                self.serving_seconds += time.perf_counter() - started

    def _answer(self, prepared: PreparedRequest) -> Answer:
        request = self._request(prepared)
        kind, handler = self._route(request)
        try:
            status, headers, body = self._dispatch(kind, handler, request)
        except requests.RequestException:
            self._record(kind, request, 0)
            raise
        self._record(kind, request, status)
        return status, headers, body

    @staticmethod
    def _request(prepared: PreparedRequest) -> _Request:
        url = prepared.url or ""
        parts = urlsplit(url)
        headers = {k.lower(): str(v) for k, v in prepared.headers.items()}
        uri = parts.path + (f"?{parts.query}" if parts.query else "")
        size = len(uri.encode()) + sum(len(k) + len(v) + 4 for k, v in headers.items())
        return _Request(
            method=(prepared.method or "GET").upper(),
            url=url,
            host=f"{parts.scheme}://{parts.netloc}".lower(),
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=_body_text(prepared.body),
            size=size,
        )

    def _route(self, request: _Request) -> tuple[str, Handler]:
        path = request.path
        if request.method == "POST" and path.rstrip("/") == "/services/oauth2/token":
            return "login", self._oauth_login
        if request.method == "POST" and re.fullmatch(r"/services/Soap/u/\d+\.\d+/?", path):
            return "login", self._soap_login
        match = re.fullmatch(r"/services/data/v(?P<version>\d+\.\d+)/(?P<rest>.*)", path)
        if request.host != self.instance_url.lower() or match is None:
            return "unknown", self._not_found
        rest = match.group("rest")
        for pattern, methods in self._routes:
            found = pattern.fullmatch(rest)
            if found is None:
                continue
            request.groups.update({"version": match.group("version"), **found.groupdict()})
            if request.method not in methods:
                allowed = ", ".join(methods)
                return "unknown", self._method_not_allowed(request.method, allowed)
            kind, handler = methods[request.method]
            if kind == "bulk_close" and '"Aborted"' in (request.body or ""):
                kind = "bulk_abort"
            return kind, handler
        request.groups["version"] = match.group("version")
        return "unknown", self._not_found

    def _dispatch(self, kind: str, handler: Handler, request: _Request) -> Answer:
        self._note_written(kind, request)
        fault = self._faults.get(kind)
        if fault:
            return self._fault_answer(kind, fault.popleft())
        if kind == "login":
            return handler(request)
        if request.size > self.max_uri_and_header_bytes:
            return 414, {"Content-Type": "text/html"}, "<h1>414 Request-URI Too Long</h1>"
        token = self._bearer(request)
        if token is None or token not in self._tokens:
            return _json_answer(401, Fault.invalid_session().body)
        if self.daily_used >= self.daily_max:
            return _json_answer(403, Fault.daily_limit_exceeded().body, self._usage_header())
        self.daily_used += 1
        try:
            status, headers, body = handler(request)
        except _ApiError as error:
            status, headers, body = _json_answer(error.status, error.body())
        return status, {**headers, **self._usage_header()}, body

    def _fault_answer(self, kind: str, fault: Fault) -> Answer:
        if fault.connection_error:
            raise requests.ConnectionError(f"fake Salesforce: connection reset ({kind})")
        if fault.timeout:
            raise requests.ReadTimeout(f"fake Salesforce: read timed out ({kind})")
        headers = dict(fault.headers)
        if kind != "login" and fault.status != 401:
            self.daily_used += 1
            headers |= self._usage_header()
        if fault.body is None:
            return fault.status, headers, ""
        if isinstance(fault.body, str):
            return fault.status, {"Content-Type": "text/plain", **headers}, fault.body
        return _json_answer(fault.status, fault.body, headers)

    def _usage_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.daily_used}/{self.daily_max}"}

    @staticmethod
    def _bearer(request: _Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() in ("bearer", "oauth") and token else None

    def _record(self, kind: str, request: _Request, status: int) -> None:
        self.calls.append(
            Call(kind, request.method, request.url, request.body, dict(request.headers), status)
        )

    def _note_written(self, kind: str, request: _Request) -> None:
        if kind in ("composite", "sobject_update"):
            try:
                body = json.loads(request.body or "")
            except json.JSONDecodeError:
                return
            records: Any = [body]
            if kind == "composite":
                records = body.get("records") if isinstance(body, dict) else None
            for record in records if isinstance(records, list) else []:
                if isinstance(record, dict):
                    self._written.update(
                        k for k in record if k != "attributes" and k.lower() != "id"
                    )
        elif kind == "bulk_upload" and request.body:
            job = self.jobs.get(request.groups.get("job", ""))
            delimiter = _DELIMITERS.get(job.column_delimiter if job else "COMMA", ",")
            header = next(csv.reader(io.StringIO(request.body), delimiter=delimiter), [])
            self._written.update(h for h in header if h.lower() != "id")

    def _field_map(self) -> dict[str, FieldSpec]:
        return {name.lower(): spec for name, spec in self.fields.items()}

    def _new_id(self, prefix: str) -> str:
        self._sequence += 1
        return id18(f"{prefix}Hs0{_base62(self._sequence * 7919, 9)}")

    @staticmethod
    def _not_found(request: _Request) -> Answer:
        raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    @staticmethod
    def _method_not_allowed(method: str, allowed: str) -> Handler:
        def answer(request: _Request) -> Answer:
            raise _ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
            )

        return answer

    # -- logins -----------------------------------------------------------------------------

    def _login_hosts(self) -> set[str]:
        standard = "https://test.salesforce.com" if self.sandbox else "https://login.salesforce.com"
        return {standard, self.instance_url.lower()}

    def _token_answer(self, request: _Request, *, scope: str | None = None) -> Answer:
        token = self.issue_token()
        issued_at = str(int(datetime.now(UTC).timestamp() * 1000))
        signature = base64.b64encode(
            hmac.new(
                self.consumer_secret.encode(), f"{self.instance_url}{issued_at}".encode(), "sha256"
            ).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.instance_url,
            "id": f"{request.host}/id/{self.org_id}/{self.user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        if scope:
            body["scope"] = scope
        return _json_answer(200, body)

    def _oauth_login(self, request: _Request) -> Answer:
        """The OAuth 2.0 token endpoint: a token answer, or `{"error", "error_description"}`."""
        try:
            return self._oauth_grant(request)
        except _OAuthError as error:
            return _json_answer(400, {"error": error.error, "error_description": error.description})

    def _oauth_grant(self, request: _Request) -> Answer:
        form = {k: v[0] for k, v in parse_qs(request.body or "", keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        if request.host not in self._login_hosts():
            raise _OAuthError("invalid_grant", "authentication failure")
        if grant == _JWT_GRANT:
            self._check_jwt(form.get("assertion", ""))
            return self._token_answer(request, scope="api")
        if grant == "password":
            if (form.get("client_id"), form.get("client_secret")) != (
                self.consumer_key,
                self.consumer_secret,
            ):
                raise _OAuthError("invalid_client", "invalid client credentials")
            if form.get("username") != self.username or form.get("password") not in (
                self.password,
                self.password + self.security_token,
            ):
                raise _OAuthError("invalid_grant", "authentication failure")
            return self._token_answer(request)
        if grant == "client_credentials":
            scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
            try:
                pair = base64.b64decode(encoded).decode() if scheme.lower() == "basic" else ""
            except ValueError:
                pair = ""
            if pair != f"{self.consumer_key}:{self.consumer_secret}":
                raise _OAuthError("invalid_client", "invalid client credentials")
            if request.host == "https://login.salesforce.com":
                raise _OAuthError("invalid_grant", "request not supported on this domain")
            return self._token_answer(request, scope="api")
        raise _OAuthError("unsupported_grant_type", "grant type not supported")

    def _check_jwt(self, assertion: str) -> None:
        """The JWT bearer flow: claims decoded (and the signature checked if a key is set)."""
        try:
            header = jwt.get_unverified_header(assertion)
            if self.jwt_public_key is not None:
                claims = jwt.decode(
                    assertion,
                    self.jwt_public_key,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
                )
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False})
            expires = float(claims.get("exp", ""))
        except (jwt.PyJWTError, TypeError, ValueError):
            raise _OAuthError("invalid_grant", "invalid assertion") from None
        if header.get("alg") != "RS256" or not all(claims.get(k) for k in ("iss", "sub", "aud")):
            raise _OAuthError("invalid_grant", "invalid assertion")
        if claims["iss"] != self.consumer_key:
            raise _OAuthError("invalid_client_id", "client identifier invalid")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not {str(a).rstrip("/").lower() for a in audiences} & self._login_hosts():
            raise _OAuthError("invalid_grant", "Audience validation failed")
        if expires < datetime.now(UTC).timestamp():
            raise _OAuthError("invalid_grant", "expired authorization code")
        if claims["sub"] != self.username:
            raise _OAuthError("invalid_grant", "user hasn't approved this consumer")

    def _soap_login(self, request: _Request) -> Answer:
        """The partner SOAP `login()`: a loginResponse, or a 500 LoginFault INVALID_LOGIN."""

        def element(name: str) -> str | None:
            found = re.search(
                rf"<(?:\w+:)?{name}>(.*?)</(?:\w+:)?{name}>", request.body or "", re.DOTALL
            )
            return html.unescape(found.group(1)) if found else None

        accepted = {self.password + self.security_token}
        if request.host not in self._login_hosts() or element("username") != self.username:
            accepted = set()
        if element("password") not in accepted:
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:sf="urn:fault.partner.soap.sforce.com" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
                "<soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode>"
                f"<faultstring>INVALID_LOGIN: {_INVALID_LOGIN}</faultstring><detail>"
                '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
                f"</sf:exceptionCode><sf:exceptionMessage>{_INVALID_LOGIN}"
                "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
                "</soapenv:Body></soapenv:Envelope>"
            )
            return 500, {"Content-Type": _XML}, fault
        version = request.path.rstrip("/").rsplit("/", 1)[-1]
        token = self.issue_token()
        sandbox = "true" if self.sandbox else "false"
        answer = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            "<loginResponse><result>"
            f"<metadataServerUrl>{self.instance_url}/services/Soap/m/{version}/{self.org_id}"
            "</metadataServerUrl><passwordExpired>false</passwordExpired>"
            f"<sandbox>{sandbox}</sandbox>"
            f"<serverUrl>{self.instance_url}/services/Soap/u/{version}/{self.org_id}</serverUrl>"
            f"<sessionId>{token}</sessionId><userId>{self.user_id}</userId>"
            f"<userInfo><organizationId>{self.org_id}</organizationId>"
            f"<userId>{self.user_id}</userId><userName>{html.escape(self.username)}</userName>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return 200, {"Content-Type": _XML}, answer

    # -- describe, limits -------------------------------------------------------------------

    def describe_body(self) -> dict[str, Any]:
        """The sObject Describe answer for Account."""
        version = self.api_version
        return {
            "name": "Account",
            "label": "Account",
            "labelPlural": "Accounts",
            "keyPrefix": "001",
            "custom": False,
            "createable": True,
            "updateable": True,
            "queryable": True,
            "fields": [spec.describe() for spec in self.fields.values()],
            "urls": {
                "sobject": f"/services/data/v{version}/sobjects/Account",
                "describe": f"/services/data/v{version}/sobjects/Account/describe",
                "rowTemplate": f"/services/data/v{version}/sobjects/Account/{{ID}}",
            },
        }

    def _describe(self, request: _Request) -> Answer:
        return _json_answer(200, self.describe_body())

    def _limits(self, request: _Request) -> Answer:
        def limit(maximum: int, used: int = 0) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(maximum - used, 0)}

        batches = sum(len(job.batches) for job in self.jobs.values())
        return _json_answer(
            200,
            {
                "ConcurrentAsyncGetReportInstances": limit(200),
                "DailyApiRequests": limit(self.daily_max, self.daily_used),
                "DailyBulkApiBatches": limit(15_000, batches),
                "DailyBulkV2QueryFileStorageMB": limit(976_562),
                "DailyBulkV2QueryJobs": limit(10_000),
                "DataStorageMB": limit(1_024, 12),
                "FileStorageMB": limit(1_024),
            },
        )

    # -- query ------------------------------------------------------------------------------

    def parse_soql(self, soql: str) -> ParsedQuery:
        """Parse as the query endpoint does (raises on what it would answer 400 to)."""
        return _SoqlParser(soql, self._field_map(), []).parse()

    def _query(self, request: _Request) -> Answer:
        soql = (request.query.get("q") or [""])[0]
        if not soql.strip():
            raise _ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        self.queries.append(soql)
        parsed = _SoqlParser(soql, self._field_map(), self.soql_literals).parse()
        rows = [
            record
            for account_id, record in self.accounts.items()
            if account_id not in self.deleted and (parsed.where is None or parsed.where(record))
        ]
        for spec, descending, nulls_last in reversed(parsed.order):
            present = [r for r in rows if r.get(spec.name) is not None]
            absent = [r for r in rows if r.get(spec.name) is None]
            present.sort(key=_sort_key(spec), reverse=descending)
            rows = present + absent if nulls_last else absent + present
        if parsed.limit is not None:
            rows = rows[: parsed.limit]
        version = request.groups["version"]
        records = [self._render(record, parsed.fields, version) for record in rows]
        return _json_answer(200, self._page(records, 0, self._page_size(request), version))

    def _page_size(self, request: _Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        found = re.search(r"batchSize\s*=\s*(\d+)", options)
        if found:
            return max(200, min(2000, int(found.group(1))))
        return self.query_page_size

    @staticmethod
    def _render(record: Row, fields: Sequence[FieldSpec], version: str) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v{version}/sobjects/Account/{record['Id']}",
            }
        }
        for spec in fields:
            rendered[spec.name] = record.get(spec.name)
        return rendered

    def _page(
        self, records: list[dict[str, Any]], offset: int, size: int, version: str, locator: str = ""
    ) -> dict[str, Any]:
        end = offset + size
        done = end >= len(records)
        body: dict[str, Any] = {"totalSize": len(records), "done": done}
        if not done:
            if not locator:
                locator = self._new_id("01g")
                self._cursors[locator] = (records, size)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        body["records"] = records[offset:end]
        return body

    def _query_more(self, request: _Request) -> Answer:
        locator = request.groups["locator"]
        cursor = self._cursors.get(locator)
        if cursor is None:
            raise _ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        records, size = cursor
        offset = int(request.groups["offset"])
        return _json_answer(
            200, self._page(records, offset, size, request.groups["version"], locator)
        )

    # -- writes -----------------------------------------------------------------------------

    def _account_for_update(self, raw_id: Any, seen: set[str]) -> str:
        """The 18-character Id a record update names; raises `_RecordFailureError`."""

        def refuse(
            account_id: str | None, code: str, message: str, fields: Sequence[str] = ()
        ) -> _RecordFailureError:
            return _RecordFailureError(account_id, [_record_error(code, message, fields)])

        if raw_id is None or raw_id == "":
            raise refuse(None, "MISSING_ARGUMENT", "Id not specified in an update call")
        account_id = canonical_id(str(raw_id))
        if account_id is None or not account_id.startswith("001"):
            message = f"Account ID: id value of incorrect type: {raw_id}"
            raise refuse(None, "MALFORMED_ID", message, ["Id"])
        if account_id in self.deleted:
            raise refuse(account_id, "ENTITY_IS_DELETED", "entity is deleted")
        if account_id not in self.accounts:
            raise refuse(account_id, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if account_id in seen:
            raise refuse(account_id, "DUPLICATE_VALUE", f"Duplicate id in list: {account_id}")
        seen.add(account_id)
        return account_id

    def _update_one(
        self, raw_id: Any, changes: Mapping[str, Any], seen: set[str]
    ) -> tuple[str, dict[str, Any]]:
        """(Id, values to store) of one valid record update; raises `_RecordFailureError`.

        The checks in Salesforce's order: the Id, each field (updateable, type, length,
        picklist, required), the row lock, then the validation rules.
        """
        account_id = self._account_for_update(raw_id, seen)
        errors: list[dict[str, Any]] = []
        stored: dict[str, Any] = {}
        for name, value in changes.items():
            spec = self.fields[name]
            if not spec.updateable:
                message = (
                    f"Unable to create/update fields: {spec.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set."
                )
                errors.append(
                    _record_error("INVALID_FIELD_FOR_INSERT_UPDATE", message, [spec.name])
                )
                continue
            stored[name], problems = _checked_value(spec, value)
            errors.extend(problems)
        if not errors and self._locks.get(account_id, 0) > 0:
            self._locks[account_id] -= 1
            message = f"unable to obtain exclusive access to this record or 1 records: {account_id}"
            errors.append(_record_error("UNABLE_TO_LOCK_ROW", message))
        if not errors:
            merged = {**self.accounts[account_id], **stored}
            for rule in self.validation_rules:
                verdict = rule(account_id, merged)
                if verdict is not None:
                    code, message, *rest = verdict
                    errors.append(_record_error(code, message, rest[0] if rest else ()))
        if errors:
            raise _RecordFailureError(account_id, errors)
        return account_id, stored

    def _store(self, account_id: str, values: Mapping[str, Any]) -> None:
        self.accounts[account_id].update(values)
        self.accounts[account_id]["LastModifiedDate"] = _sf_datetime(datetime.now(UTC))

    def _sobject_update(self, request: _Request) -> Answer:
        """sObject Rows update: HTTP 204 and no body, or the record's errors as a REST error.

        The record is checked as one record of a Collections update (fields, lock, validation
        rules); its errors come back as `[{"message", "errorCode", "fields"}]` with HTTP 400,
        or 404 when the Id names no Account (NOT_FOUND) or a deleted one (ENTITY_IS_DELETED).
        An unknown field or a value of the wrong JSON type is a 400 as in Collections. The body
        holds field values only: an `Id` in it is refused as a field that cannot be updated.
        """
        body = request.json()
        if not isinstance(body, dict):
            raise _ApiError(400, "JSON_PARSER_ERROR", "the body must be a JSON object of fields")
        raw_id = request.groups["record"]
        account_id = canonical_id(raw_id)
        if account_id is None or not account_id.startswith("001"):
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if account_id in self.deleted:
            raise _ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        if account_id not in self.accounts:
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        attributes = body.pop("attributes", None)
        sobject = attributes.get("type") if isinstance(attributes, dict) else "Account"
        if str(sobject).lower() != "account":
            raise _ApiError(400, "INVALID_TYPE", f"sObject type '{sobject}' does not match")
        fields = self._field_map()
        changes: dict[str, Any] = {}
        for key, raw in body.items():
            spec = fields.get(key.lower())
            if spec is None:
                message = f"No such column '{key}' on sobject of type Account"
                raise _ApiError(400, "INVALID_FIELD", message)
            changes[spec.name] = _json_value(spec, raw)
        try:
            checked_id, stored = self._update_one(account_id, changes, set())
        except _RecordFailureError as failure:
            first = failure.errors[0]
            raise _ApiError(400, first["statusCode"], first["message"], first["fields"]) from None
        self._store(checked_id, stored)
        return 204, {}, ""

    def _composite(self, request: _Request) -> Answer:
        """sObject Collections update: HTTP 200 and one SaveResult per record, in order."""
        body = request.json()
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _ApiError(400, "JSON_PARSER_ERROR", "records must be a list of sObjects")
        if len(records) > MAX_COLLECTION_RECORDS:
            raise _ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = body.get("allOrNone", False) is True
        fields = self._field_map()
        parsed: list[tuple[Any, dict[str, Any], list[dict[str, Any]]]] = []
        for record in records:
            parsed.append(self._collection_record(record, fields))
        seen: set[str] = set()
        outcomes: list[tuple[str | None, list[dict[str, Any]], dict[str, Any]]] = []
        for raw_id, changes, early_errors in parsed:
            try:
                if early_errors:
                    raise _RecordFailureError(None, early_errors)
                account_id, stored = self._update_one(raw_id, changes, seen)
                outcomes.append((account_id, [], stored))
            except _RecordFailureError as failure:
                outcomes.append((failure.account_id, failure.errors, {}))
        any_failed = any(errors for _, errors, _ in outcomes)
        results: list[dict[str, Any]] = []
        for outcome_id, errors, stored in outcomes:
            if errors:
                results.append({"success": False, "errors": errors})
            elif all_or_none and any_failed:
                rolled_back = _record_error("ALL_OR_NONE_OPERATION_ROLLED_BACK", _ROLLED_BACK)
                results.append({"id": outcome_id, "success": False, "errors": [rolled_back]})
            else:
                assert outcome_id is not None
                self._store(outcome_id, stored)
                results.append({"id": outcome_id, "success": True, "errors": []})
        return _json_answer(200, results)

    def _collection_record(
        self, record: Mapping[str, Any], fields: Mapping[str, FieldSpec]
    ) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
        """(raw id, typed changes by field name, errors found before the update itself)."""
        raw_id: Any = None
        changes: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        attributes = record.get("attributes")
        sobject = attributes.get("type") if isinstance(attributes, dict) else None
        if not sobject:
            errors.append(_record_error("INVALID_TYPE", "Must send a concrete entity type."))
        elif str(sobject).lower() != "account":
            message = f"sObject type '{sobject}' is not supported (this fake serves Account only)."
            errors.append(_record_error("INVALID_TYPE", message))
        for key, raw in record.items():
            if key == "attributes":
                continue
            if key.lower() == "id":
                raw_id = raw
                continue
            spec = fields.get(key.lower())
            if spec is None:
                message = f"No such column '{key}' on sobject of type Account"
                if self.unknown_field_fails_request:
                    raise _ApiError(400, "INVALID_FIELD", message)
                errors.append(_record_error("INVALID_FIELD", message, [key]))
                continue
            changes[spec.name] = _json_value(spec, raw)
        return raw_id, changes, errors

    # -- Bulk API 2.0 ingest ----------------------------------------------------------------

    def _job(self, request: _Request) -> IngestJob:
        job = self.jobs.get(request.groups.get("job", ""))
        if job is None:
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _bulk_create(self, request: _Request) -> Answer:
        body = request.json()
        if not isinstance(body, dict):
            raise _ApiError(400, "JSON_PARSER_ERROR", "the job must be a JSON object")
        sobject = body.get("object")
        operation = body.get("operation")
        line_ending = body.get("lineEnding", "LF")
        delimiter = body.get("columnDelimiter", "COMMA")
        if not sobject or not operation:
            raise _ApiError(400, "INVALIDJOB", "object and operation are required")
        if str(sobject).lower() != "account":
            raise _ApiError(
                400, "INVALIDENTITY", f"Entity '{sobject}' is not supported (fake: Account only)"
            )
        if operation != "update":
            raise _ApiError(
                400,
                "FEATURENOTENABLED",
                f"the fake supports the update operation only: {operation}",
            )
        if body.get("contentType", "CSV") != "CSV" or line_ending not in ("LF", "CRLF"):
            raise _ApiError(400, "INVALIDJOB", "contentType must be CSV, lineEnding LF or CRLF")
        if delimiter not in _DELIMITERS:
            raise _ApiError(400, "INVALIDJOB", f"invalid columnDelimiter: {delimiter}")
        job = IngestJob(
            id=self._new_id("750"),
            object="Account",
            operation=operation,
            line_ending=line_ending,
            column_delimiter=delimiter,
            api_version=request.groups["version"],
            created=_sf_datetime(datetime.now(UTC)),
        )
        self.jobs[job.id] = job
        return _json_answer(200, job.info(detail=False))

    def _bulk_upload(self, request: _Request) -> Answer:
        job = self._job(request)
        if job.state != "Open":
            raise _ApiError(
                400,
                "INVALIDJOBSTATE",
                f"Job state is {job.state}: data can be added to Open jobs only",
            )
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("text/csv"):
            raise _ApiError(
                400, "INVALIDCONTENTTYPE", f"Content-Type must be text/csv: {content_type}"
            )
        data = request.body or ""
        if not data.strip():
            raise _ApiError(400, "INVALIDBATCH", "the CSV data is empty")
        if len(data.encode()) * 4 / 3 > MAX_BULK_UPLOAD_BYTES:
            raise _ApiError(400, "INVALIDBATCH", "the data exceeds 150 MB once base64 encoded")
        delimiter = _DELIMITERS[job.column_delimiter]
        header = next(csv.reader(io.StringIO(data), delimiter=delimiter))
        if job.header is not None and header != job.header:
            raise _ApiError(400, "INVALIDBATCH", "every upload to a job needs the same header")
        job.header = header
        job.batches.append(data)
        return 201, {}, ""

    def _bulk_state(self, request: _Request) -> Answer:
        job = self._job(request)
        body = request.json()
        wanted = body.get("state") if isinstance(body, dict) else None
        if wanted == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
            job.polls_left = self.bulk_in_progress_polls
        elif wanted == "Aborted" and job.state not in _FINAL_JOB_STATES:
            job.state = "Aborted"
            self._mark_unprocessed(job)
        else:
            raise _ApiError(
                400,
                "INVALIDJOBSTATE",
                f"Changing the job state from {job.state} to {wanted} is not allowed",
            )
        return _json_answer(200, job.info(detail=False))

    def _bulk_status(self, request: _Request) -> Answer:
        job = self._job(request)
        if job.state in ("UploadComplete", "InProgress"):
            if job.polls_left > 0:
                job.polls_left -= 1
                job.state = "InProgress"
            else:
                self._process(job)
        return _json_answer(200, job.info(detail=True))

    def _bulk_delete(self, request: _Request) -> Answer:
        job = self._job(request)
        if job.state not in _FINAL_JOB_STATES:
            raise _ApiError(400, "INVALIDJOBSTATE", f"Cannot delete a job in state {job.state}")
        del self.jobs[job.id]
        return 204, {}, ""

    def _bulk_results(self, request: _Request) -> Answer:
        job = self._job(request)
        if job.state not in _FINAL_JOB_STATES:
            raise _ApiError(400, "INVALIDJOBSTATE", f"Job is not complete: {job.state}")
        which = request.groups["which"].lower()
        columns = job.header or ["Id"]
        if which == "successfulresults":
            rows = [["sf__Id", "sf__Created", *columns], *self._ordered(job.successful)]
        elif which == "failedresults":
            rows = [["sf__Id", "sf__Error", *columns], *self._ordered(job.failed)]
        else:
            rows = [columns, *self._ordered(job.unprocessed)]
        text = _csv_text(rows, _DELIMITERS[job.column_delimiter])
        return 200, {"Content-Type": _CSV}, text

    def _ordered(self, rows: list[list[str]]) -> list[list[str]]:
        rows = list(rows)
        if self.shuffle_bulk_results:
            self._rng.shuffle(rows)
        return rows

    def _data_rows(self, job: IngestJob) -> Iterator[list[str]]:
        width = len(job.header or [])
        for data in job.batches:
            reader = csv.reader(io.StringIO(data), delimiter=_DELIMITERS[job.column_delimiter])
            next(reader, None)
            for row in reader:
                if row:
                    yield (row + [""] * width)[: max(width, len(row))]

    def _mark_unprocessed(self, job: IngestJob) -> None:
        if not job.processed:
            job.unprocessed = list(self._data_rows(job))

    def _fail_job(self, job: IngestJob, message: str) -> None:
        job.state, job.error_message = "Failed", message
        self._mark_unprocessed(job)
        job.processed = True

    def _process(self, job: IngestJob) -> None:
        """Apply an ingest job's rows, as Salesforce does once the job leaves InProgress."""
        if self._job_failures:
            self._fail_job(job, self._job_failures.popleft())
            return
        if not job.batches or job.header is None:
            self._fail_job(job, "InvalidBatch : No data was uploaded for this job")
            return
        for data in job.batches:
            problem = _line_ending_problem(job.line_ending, data)
            if problem:
                self._fail_job(job, problem)
                return
        fields = self._field_map()
        specs: list[FieldSpec | None] = []
        for column in job.header:
            spec = fields.get(column.strip().lower())
            if spec is None:
                self._fail_job(job, f"InvalidBatch : Field name not found : {column}")
                return
            specs.append(None if spec.name == "Id" else spec)
        if "id" not in [c.strip().lower() for c in job.header]:
            self._fail_job(job, "InvalidBatch : Field name not found : Id")
            return
        id_column = [c.strip().lower() for c in job.header].index("id")
        for row in self._data_rows(job):
            self._process_row(job, row, id_column, specs)
        job.state, job.processed = "JobComplete", True

    def _process_row(
        self,
        job: IngestJob,
        row: list[str],
        id_column: int,
        specs: Sequence[FieldSpec | None],
    ) -> None:
        changes: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for column, (spec, cell) in enumerate(zip(specs, row, strict=False)):
            if spec is None or cell == "":
                continue  # the Id, or an empty cell: the field stays as it is
            if cell == BULK_NULL:
                changes[spec.name] = None
                continue
            try:
                changes[spec.name] = _parse_value(spec, cell, from_csv=True)
            except _BadValueError:
                soap = _SOAP_TYPES.get(spec.type, "xsd:string")
                message = (
                    f"Failed to deserialize field at col {column + 1}. Due to, '{cell}' is not "
                    f"a valid value for the type {soap}"
                )
                errors.append(_record_error("INVALID_FIELD", message, [spec.name]))
        try:
            if errors:
                raise _RecordFailureError(canonical_id(row[id_column]), errors)
            account_id, stored = self._update_one(row[id_column], changes, set())
        except _RecordFailureError as failure:
            first = failure.errors[0]
            text = f"{first['statusCode']}:{first['message']}:{','.join(first['fields'])} --"
            known = failure.account_id if failure.account_id in self.accounts else None
            job.failed.append([known or "", text, *row])
            return
        self._store(account_id, stored)
        job.successful.append([account_id, "false", *row])
