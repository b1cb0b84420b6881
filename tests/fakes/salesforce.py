"""A stateful fake of the Salesforce REST API (several sObjects), served through `responses`.

What it answers, with the request and response shapes of the Salesforce documentation and the
URLs and payloads simple-salesforce 1.12.10 sends and parses:

* logins: the OAuth 2.0 token endpoint (JWT bearer, username-password, client credentials) on
  login.salesforce.com, test.salesforce.com or the My Domain host, and the SOAP partner
  `login()` that simple-salesforce sends for username + password + security token;
* REST, `/services/data/vXX.X/` on the instance, for every known sObject (Account, Task,
  AR_Invoice__c and User by default; `add_object` adds more): sObject Describe
  (`GET sobjects/{SObject}/describe`), SOQL query and queryAll on any of them with query
  locators (`nextRecordsUrl`), the single-record create (`POST sobjects/{SObject}/`) and
  update (`PATCH sobjects/{SObject}/{id}`), sObject Collections create
  (`POST composite/sobjects`), update (`PATCH composite/sobjects`) and upsert by external id
  (`PATCH composite/sobjects/{SObject}/{ExternalIdField}`), Bulk API 2.0 ingest jobs (insert,
  update and upsert, CSV) and `limits/`. A path naming an unknown sObject answers 404
  NOT_FOUND, as Salesforce does.

Every REST call must carry a current token (`Authorization: Bearer ...`), counts against the
daily allocation and is answered with `Sforce-Limit-Info: api-usage=USED/MAX`. Faults are
queued per endpoint kind (`fail_next`), rows can be locked (`lock_records`), sessions expired
(`expire_session`, or at a given call with `Fault.session_expired`), Bulk jobs failed
(`fail_bulk_job`), and an answer lost after the org committed the work (`Fault.answer_lost`).
Every request is kept in `calls`; every save of a record (when its triggers and flows would
run) is counted in `saves`.

    fake = FakeSalesforce()
    ids = fake.seed_accounts(3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        sf = Salesforce(instance_url=fake.instance_url, session_id=fake.issue_token())
        sf.query("SELECT Id, Name FROM Account")

Writes are checked as Salesforce checks them: field access (createable on create, updateable
on update), type, length, restricted picklists, required fields, references (an id of the
wrong object fails with FIELD_INTEGRITY_EXCEPTION, one that names no record with
INVALID_CROSS_REFERENCE_KEY, a deleted one with ENTITY_IS_DELETED), unique fields
(DUPLICATE_VALUE), row locks, then validation rules. Creates fill in what Salesforce fills in:
Id, CreatedDate, LastModifiedDate, OwnerId (the integration user), picklist defaults, false
checkboxes, a custom object's Name (its Id); Task.IsClosed follows Status.

Deliberate fidelity, so that a client built against the fake is built for the real thing:
failed Collections results carry no `id` (as in the documentation's example: match answers
by position), Bulk result files come back in a shuffled order (the documentation does not
promise input order: key outcomes on the Id column), string comparisons in SOQL ignore case,
and so does external id matching unless the field is case sensitive.
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
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any, Final, NoReturn
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
        "sobject_create",
        "sobject_update",
        "composite",
        "composite_create",
        "composite_upsert",
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
_BULK_OPERATIONS: Final = frozenset({"insert", "update", "upsert"})
_FINAL_JOB_STATES: Final = frozenset({"JobComplete", "Failed", "Aborted"})
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_JWT_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Answer = tuple[int, dict[str, str], str]
#: A validation rule: (record id, the record as it would be saved) -> None to accept, or
#: (statusCode, message) / (statusCode, message, fields) to reject the record. Rules in
#: `validation_rules` see Accounts; `validation_rules_for(sobject)` holds any object's.
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
    """Describe metadata of one field of an sObject; attribute names are the describe keys.

    `type` is a describe type: id, reference, string, textarea, email, phone, url, picklist,
    multipicklist, combobox, encryptedstring, double, currency, percent, int, boolean, date,
    datetime. `picklistValues` takes plain strings (active values) or `PicklistValue`s; a
    `PicklistValue(defaultValue=True)` is what a create without the field stores.
    `createable` None means "as updateable" (most fields); `defaultedOnCreate` None means
    "a checkbox, or a picklist with a default value".
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
    createable: bool | None = None
    defaultedOnCreate: bool | None = None  # noqa: N815 - the describe key

    def __post_init__(self) -> None:
        if self.type not in _FIELD_TYPES:
            raise ValueError(f"unsupported field type {self.type!r} for {self.name}")

    @property
    def is_createable(self) -> bool:
        """Whether a create may set the field (`createable`, or `updateable` when unset)."""
        return self.updateable if self.createable is None else self.createable

    @property
    def default_value(self) -> str | None:
        """The picklist value a create without the field stores, if any."""
        return next((p.value for p in self.picklist() if p.defaultValue and p.active), None)

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
            "createable": self.is_createable,
            "custom": self.name.endswith("__c"),
            "defaultValue": self.default_value,
            "defaultedOnCreate": (
                self.defaultedOnCreate
                if self.defaultedOnCreate is not None
                else self.type == "boolean" or self.default_value is not None
            ),
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
            "relationshipName": self._relationship_name(),
            "restrictedPicklist": self.restrictedPicklist,
            "scale": self.scale or 0,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": True,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }

    def _relationship_name(self) -> str | None:
        """`Owner` for OwnerId, `Account__r` for Account__c: how SOQL would traverse it."""
        if self.type != "reference":
            return None
        if self.name.endswith("__c"):
            return self.name.removesuffix("__c") + "__r"
        return self.name.removesuffix("Id")


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


TASK_STATUSES: Final = (
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
)
#: Task statuses whose `IsClosed` is true (the TaskStatus picklist's closed values).
CLOSED_TASK_STATUSES: Final = frozenset({"Completed"})
INVOICE_STATUSES: Final = ("Open", "Paid", "Void", "Removed")


def _system_fields() -> list[FieldSpec]:
    """Id, CreatedDate and LastModifiedDate: set by the org, never by a write."""
    return [
        FieldSpec(
            "Id",
            "id",
            length=18,
            updateable=False,
            nillable=False,
            idLookup=True,
            label="Id",
            defaultedOnCreate=True,
        ),
        FieldSpec(
            "CreatedDate",
            "datetime",
            updateable=False,
            nillable=False,
            label="Created Date",
            defaultedOnCreate=True,
        ),
        FieldSpec(
            "LastModifiedDate",
            "datetime",
            updateable=False,
            nillable=False,
            label="Last Modified Date",
            defaultedOnCreate=True,
        ),
    ]


def _by_name(specs: Iterable[FieldSpec]) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in specs}


def task_fields() -> dict[str, FieldSpec]:
    """The Task fields a collections worklist writes and reads back."""
    return _by_name(
        [
            *_system_fields(),
            FieldSpec("Subject", "string", length=255, label="Subject"),
            FieldSpec("ActivityDate", "date", label="Due Date Only"),
            FieldSpec(
                "Status",
                "picklist",
                picklistValues=tuple(
                    PicklistValue(status, defaultValue=status == "Not Started")
                    for status in TASK_STATUSES
                ),
                length=40,
                nillable=False,
                restrictedPicklist=True,
                label="Status",
            ),
            FieldSpec(
                "IsClosed",
                "boolean",
                updateable=False,
                createable=False,
                nillable=False,
                label="Closed",
                defaultedOnCreate=True,
            ),
            FieldSpec(
                "Priority",
                "picklist",
                picklistValues=(
                    PicklistValue("High"),
                    PicklistValue("Normal", defaultValue=True),
                    PicklistValue("Low"),
                ),
                length=40,
                nillable=False,
                restrictedPicklist=True,
                label="Priority",
            ),
            FieldSpec(
                "OwnerId",
                "reference",
                length=18,
                nillable=False,
                referenceTo=("User",),
                label="Assigned To ID",
                defaultedOnCreate=True,
            ),
            FieldSpec(
                "WhatId", "reference", length=18, referenceTo=("Account",), label="Related To ID"
            ),
            FieldSpec("Description", "textarea", length=32_000, label="Description"),
            FieldSpec("AR_Sync_Task__c", "boolean", label="AR Sync Task"),
        ]
    )


def invoice_fields() -> dict[str, FieldSpec]:
    """AR_Invoice__c: one open or closed ERP invoice, keyed by its ERP id."""
    return _by_name(
        [
            *_system_fields(),
            FieldSpec(
                "Name",
                "string",
                length=80,
                nillable=False,
                idLookup=True,
                label="Invoice Number",
                defaultedOnCreate=True,
            ),
            FieldSpec(
                "ERP_Invoice_Id__c",
                "string",
                length=64,
                externalId=True,
                idLookup=True,
                unique=True,
                label="ERP Invoice Id",
            ),
            FieldSpec(
                "Account__c", "reference", length=18, referenceTo=("Account",), label="Account"
            ),
            FieldSpec("Issue_Date__c", "date", label="Issue Date"),
            FieldSpec("Due_Date__c", "date", label="Due Date"),
            FieldSpec("Currency__c", "string", length=3, label="Currency"),
            FieldSpec("Total_Amount__c", "currency", precision=16, scale=2, label="Total Amount"),
            FieldSpec("Open_Amount__c", "currency", precision=16, scale=2, label="Open Amount"),
            FieldSpec("Days_Overdue__c", "double", precision=6, scale=0, label="Days Overdue"),
            FieldSpec("Disputed__c", "boolean", label="Disputed"),
            FieldSpec("Dispute_Reason__c", "string", length=255, label="Dispute Reason"),
            FieldSpec(
                "Status__c",
                "picklist",
                length=255,
                restrictedPicklist=True,
                picklistValues=INVOICE_STATUSES,
                label="Status",
            ),
        ]
    )


def user_fields() -> dict[str, FieldSpec]:
    """Just enough of User for OwnerId references to name someone."""
    return _by_name(
        [
            *_system_fields(),
            FieldSpec(
                "Username",
                "string",
                length=80,
                nillable=False,
                idLookup=True,
                unique=True,
                label="Username",
            ),
            FieldSpec("Name", "string", length=121, label="Full Name"),
            FieldSpec("IsActive", "boolean", label="Active"),
        ]
    )


Computed = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class SObjectType:
    """What the fake knows of one sObject besides its fields.

    `key_prefix` starts every Id of the object (and tells a reference of the wrong object
    apart); `computed` maps a read-only field to how the org derives it from the row.
    """

    name: str
    key_prefix: str
    label: str
    label_plural: str
    computed: Mapping[str, Computed] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")


def _task_is_closed(row: Mapping[str, Any]) -> bool:
    return row.get("Status") in CLOSED_TASK_STATUSES


def default_objects() -> list[tuple[SObjectType, dict[str, FieldSpec]]]:
    """The objects besides Account a fresh fake serves, with their fields."""
    return [
        (
            SObjectType("Task", "00T", "Task", "Tasks", {"IsClosed": _task_is_closed}),
            task_fields(),
        ),
        (SObjectType("AR_Invoice__c", "a0B", "AR Invoice", "AR Invoices"), invoice_fields()),
        (SObjectType("User", "005", "User", "Users"), user_fields()),
    ]


# -- faults and observations ----------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What an endpoint answers instead of doing its work: an HTTP error or a dropped line."""

    status: int = 503
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    connection_error: bool = False
    timeout: bool = False
    expires_session: bool = False
    after_commit: bool = False

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
    def session_expired(cls) -> Fault:
        """Every token issued so far stops working at this request, which answers 401
        INVALID_SESSION_ID: a client that can log in again gets a new token and resends."""
        return replace(cls.invalid_session(), expires_session=True)

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
    def answer_lost(cls, *, timeout: bool = False) -> Fault:
        """The org does the work and commits it, then the answer is lost on the way back: the
        request raises `requests.ConnectionError` (or `requests.ReadTimeout`)."""
        return cls(0, connection_error=not timeout, timeout=timeout, after_commit=True)

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
    external_id_field: str | None = None

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
        if self.external_id_field is not None:
            body["externalIdFieldName"] = self.external_id_field
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
    """A record the write refuses: its Id when known (never for a create), and its errors."""

    def __init__(self, record_id: str | None, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["statusCode"])
        self.record_id = record_id
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


@dataclass
class _WriteBatch:
    """One request's (or Bulk job's) writes: the Ids it named, value indexes built once."""

    seen: set[str] = field(default_factory=set)
    indexes: dict[tuple[str, str], dict[Any, set[str]]] = field(default_factory=dict)


@dataclass
class _Outcome:
    """What became of one Collections record before anything is stored."""

    sobject: str | None
    record_id: str | None
    created: bool = False
    stored: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


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


def _lose_answer(kind: str, fault: Fault) -> NoReturn:
    if fault.timeout:
        raise requests.ReadTimeout(f"fake Salesforce: read timed out after the commit ({kind})")
    raise requests.ConnectionError(f"fake Salesforce: connection reset after the commit ({kind})")


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


_JSON_WRITES: Final = frozenset(
    {"sobject_create", "sobject_update", "composite", "composite_create", "composite_upsert"}
)


def _record_type(record: Mapping[str, Any]) -> str | None:
    """`attributes.type` of a Collections record, if it names one."""
    attributes = record.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    return str(sobject) if sobject else None


def _cell_key(spec: FieldSpec, cell: str) -> Any:
    """A Bulk CSV cell as SOQL compares it, or None when it holds no value (or a bad one)."""
    if cell in ("", BULK_NULL):
        return None
    try:
        return _key(spec, _parse_value(spec, cell, from_csv=True))
    except (_BadValueError, InvalidOperation):
        return None


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
    sobject: str = "Account"


#: An sObject name as written in FROM -> (its name as the org spells it, lower-cased field
#: name -> metadata), or None for an object the org does not have.
ObjectResolver = Callable[[str], tuple[str, Mapping[str, FieldSpec]] | None]
_RELATIVE_DAYS: Final = {"YESTERDAY": -1, "TODAY": 0, "TOMORROW": 1}


class _SoqlParser:
    """`SELECT f, ... FROM SObject [WHERE ...] [ORDER BY ...] [LIMIT n]`, one known object.

    WHERE takes `field op literal` (= != <> < > <= >=), `field [NOT] IN (literals)`,
    `field LIKE 'pattern'`, NOT, parentheses, and AND or OR (not mixed without parentheses,
    as in SOQL). Literals: 'strings' with the SOQL escapes, numbers, true, false, null,
    dates (2024-05-31) and datetimes, and YESTERDAY, TODAY, TOMORROW on date fields (UTC).
    """

    def __init__(self, soql: str, resolve: ObjectResolver, sink: list[str]) -> None:
        self.soql = soql
        self.resolve = resolve
        self.sobject = "Account"
        self.fields: Mapping[str, FieldSpec] = {}
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
                f"No such column '{token.text}' on entity '{self.sobject}'. If you are "
                "attempting to "
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
        self._resolve_object()
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
            self.soql,
            tuple(selected),
            where,
            tuple(order),
            limit,
            tuple(self.literals),
            self.sobject,
        )

    def _resolve_object(self) -> None:
        """Find the FROM object first: the selected fields are its fields, as in SOQL."""
        for position, token in enumerate(self.tokens[:-1]):
            if token.kind != "ident" or token.text.upper() != "FROM":
                continue
            name = self.tokens[position + 1]
            if name.kind != "ident":
                return  # the grammar reports the unexpected token
            resolved = self.resolve(name.text)
            if resolved is None:
                raise self._error(
                    "INVALID_TYPE",
                    name.pos,
                    f"sObject type '{name.text}' is not supported. If you are attempting to use "
                    "a custom object, be sure to append the '__c' after the entity name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                )
            self.sobject, self.fields = resolved
            return

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
        relative = _RELATIVE_DAYS.get(token.text.upper()) if token.kind == "ident" else None
        if relative is not None:
            if spec.type != "date":
                raise self._malformed(
                    token.pos, f"the fake supports {token.text} on date fields only"
                )
            return (datetime.now(UTC).date() + timedelta(days=relative)).isoformat()
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
    """A Salesforce org reachable through `responses`: Account, Task, AR_Invoice__c, User.

    Account keeps its own names, as when it was the only object: `accounts` (18-character
    Id -> stored values, Id included), `fields` (describe metadata), `validation_rules`,
    `add_field`, `add_account`, `seed_accounts`, `delete_account`, `account`,
    `written_fields()`. Every object, Account included, is reached through `records(sobject)`,
    `object_fields(sobject)`, `add_record`, `add_object_field`, `delete_record`, `record`,
    `validation_rules_for(sobject)` and `written_fields_of(sobject)`; `sobjects` names them
    (`add_object` adds one). `user_id` is the integration user; `add_user()` makes more and
    `users` lists them all, so that OwnerId references can name someone. Also public:
    `deleted` (Ids of deleted records), `jobs` (Bulk API 2.0 ingest jobs), `daily_used`.
    Observation: `calls`, `count(kind)`, `calls_of(kind)`, `saves` (per record, how many
    times it was saved, creation included), `queries` (every SOQL statement),
    `soql_literals` (every string literal as decoded), `api_calls_used`, `serving_seconds`
    (wall time spent answering requests, the fake's own cost).
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
        self.sobjects: dict[str, SObjectType] = {
            "Account": SObjectType("Account", "001", "Account", "Accounts")
        }
        self._object_fields: dict[str, dict[str, FieldSpec]] = {}
        self._stores: dict[str, dict[str, dict[str, Any]]] = {}
        self._object_rules: dict[str, list[ValidationRule]] = {}
        self.jobs: dict[str, IngestJob] = {}
        self.calls: list[Call] = []
        self.saves: Counter[tuple[str, str]] = Counter()  # (object, Id) -> times saved
        self.queries: list[str] = []
        self.soql_literals: list[str] = []
        # Objects the integration user may not read: Salesforce answers a query FROM one
        # 400 INVALID_TYPE ("sObject type 'User' is not supported"), as for an unknown one.
        self.unreadable: set[str] = set()
        self.serving_seconds = 0.0

        self._tokens: set[str] = set()
        self._faults: dict[str, deque[Fault]] = {}
        self._locks: dict[str, int] = {}
        self._job_failures: deque[str] = deque()
        self._written: dict[str, set[str]] = {}
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._sequence = 0
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        sobject = r"(?P<sobject>[A-Za-z][A-Za-z0-9_]*)"
        self._routes: list[tuple[re.Pattern[str], dict[str, tuple[str, Handler]]]] = [
            (
                re.compile(rf"sobjects/{sobject}/describe/?"),
                {"GET": ("describe", self._describe)},
            ),
            (re.compile(r"(?:query|queryAll)/?"), {"GET": ("query", self._query)}),
            (
                re.compile(r"(?:query|queryAll)/(?P<locator>[A-Za-z0-9]+)-(?P<offset>\d+)/?"),
                {"GET": ("query", self._query_more)},
            ),
            (
                re.compile(rf"sobjects/{sobject}/?"),
                {"POST": ("sobject_create", self._sobject_create)},
            ),
            (
                re.compile(rf"sobjects/{sobject}/(?P<record>[^/]+)/?"),
                {"PATCH": ("sobject_update", self._sobject_update)},
            ),
            (
                re.compile(r"composite/sobjects/?"),
                {
                    "PATCH": ("composite", self._composite),
                    "POST": ("composite_create", self._composite_create),
                },
            ),
            (
                re.compile(rf"composite/sobjects/{sobject}/(?P<field>[A-Za-z][A-Za-z0-9_]*)/?"),
                {"PATCH": ("composite_upsert", self._composite_upsert)},
            ),
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
        for sobject_type, fields in default_objects():
            self.add_object(sobject_type, fields.values())
        self.add_record(
            "User",
            Id=self.user_id,
            Username=username,
            Name="Integration User",
            IsActive=True,
        )

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
        self.add_object_field("Account", spec)

    def add_object_field(self, sobject: str, spec: FieldSpec) -> None:
        """Add a field to any known object (or replace the field of that name)."""
        with self._lock:
            fields = self.object_fields(sobject)
            for name in [n for n in fields if n.lower() == spec.name.lower()]:
                del fields[name]
            fields[spec.name] = spec

    def add_object(self, sobject: SObjectType, fields: Iterable[FieldSpec] = ()) -> None:
        """Serve another sObject (or replace one, records dropped; Account stays as it is).

        Id, CreatedDate and LastModifiedDate are added unless `fields` has them.
        """
        with self._lock:
            if sobject.name.lower() == "account":
                raise ValueError("Account is built in: add_field() to it instead")
            if any(
                o.key_prefix == sobject.key_prefix
                for o in self.sobjects.values()
                if o.name != sobject.name
            ):
                raise ValueError(f"key prefix {sobject.key_prefix!r} is taken")
            specs = _by_name(fields)
            system = {spec.name: spec for spec in _system_fields() if spec.name not in specs}
            replaced = self._find_sobject(sobject.name)
            if replaced is not None:  # the same object, perhaps spelt in another case
                for table in (self.sobjects, self._object_fields, self._stores):
                    table.pop(replaced, None)
            self.sobjects[sobject.name] = sobject
            self._object_fields[sobject.name] = {**system, **specs}
            self._stores[sobject.name] = {}

    def sobject_name(self, sobject: str) -> str:
        """The object's name as the org spells it (names ignore case); KeyError if unknown."""
        found = self._find_sobject(sobject)
        if found is None:
            raise KeyError(f"unknown sObject {sobject!r}; one of {sorted(self.sobjects)}")
        return found

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        """The stored rows of an object: 18-character Id -> values (Id included), live."""
        name = self.sobject_name(sobject)
        return self.accounts if name == "Account" else self._stores[name]

    def object_fields(self, sobject: str) -> dict[str, FieldSpec]:
        """The describe metadata of an object's fields, by name, live (Account's is `fields`)."""
        name = self.sobject_name(sobject)
        return self.fields if name == "Account" else self._object_fields[name]

    def validation_rules_for(self, sobject: str) -> list[ValidationRule]:
        """The rules every write of this object passes (Account's is `validation_rules`)."""
        name = self.sobject_name(sobject)
        if name == "Account":
            return self.validation_rules
        return self._object_rules.setdefault(name, [])

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        """The stored values of one record (15 or 18-character Id)."""
        return self.records(sobject)[canonical_id(record_id) or record_id]

    def add_record(self, sobject: str, **values: Any) -> str:
        """Store a record as given (no validation) and return its 18-character Id.

        For Account this is `add_account`. Otherwise field names must exist (any case); `Id`
        may be given (15 or 18 characters, the object's key prefix). What a create fills in
        is filled in: CreatedDate, LastModifiedDate, OwnerId (the integration user), picklist
        defaults, false checkboxes, a custom object's Name (its Id), computed fields.
        """
        with self._lock:
            name = self.sobject_name(sobject)
            if name == "Account":
                return self.add_account(**values)
            fields = self._field_map(name)
            record: dict[str, Any] = {}
            for key, value in values.items():
                spec = fields.get(key.lower())
                if spec is None:
                    raise KeyError(f"{name} has no field {key!r}; add_object_field() it first")
                record[spec.name] = value
            prefix = self.sobjects[name].key_prefix
            raw_id = record.pop("Id", None)
            if raw_id is None:
                record_id = self._new_id(prefix)
            else:
                checked = canonical_id(str(raw_id))
                if checked is None or not checked.startswith(prefix):
                    raise ValueError(f"not a {name} id: {raw_id!r}")
                record_id = checked
            for key, value in self._create_defaults(name, record_id).items():
                record.setdefault(key, value)
            now = _sf_datetime(datetime.now(UTC))
            for stamp in ("CreatedDate", "LastModifiedDate"):
                if stamp in self.object_fields(name):
                    record.setdefault(stamp, now)
            row = {"Id": record_id, **record}
            self._apply_computed(name, row)
            self.records(name)[record_id] = row
            self.deleted.discard(record_id)
            return record_id

    def add_user(self, **values: Any) -> str:
        """Another active User (a valid OwnerId); its Id."""
        number = len(self.records("User")) + 1
        values.setdefault("Username", f"user{number}@acme.example")
        values.setdefault("Name", f"User {number}")
        values.setdefault("IsActive", True)
        return self.add_record("User", **values)

    @property
    def users(self) -> set[str]:
        """The Ids of every User, the integration user (`user_id`) included."""
        return set(self.records("User"))

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
        self.delete_record("Account", account_id)

    def delete_record(self, sobject: str, record_id: str) -> None:
        """Delete a record: queries skip it, writes to it or references to it are refused."""
        with self._lock:
            checked = canonical_id(record_id) or record_id
            self.records(sobject).pop(checked, None)
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
        """Every Account field name (as sent) in any write body or Bulk CSV header, Id aside."""
        return self.written_fields_of("Account")

    def written_fields_of(self, sobject: str) -> set[str]:
        """Every field name (as sent) of this object in any write body or Bulk CSV header."""
        return set(self._written.get(self._find_sobject(sobject) or sobject, set()))

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
        request.groups["version"] = match.group("version")
        for pattern, methods in self._routes:
            found = pattern.fullmatch(match.group("rest"))
            if found is not None:
                request.groups.update(found.groupdict())
                return self._route_methods(request, methods)
        return "unknown", self._not_found

    def _route_methods(
        self, request: _Request, methods: Mapping[str, tuple[str, Handler]]
    ) -> tuple[str, Handler]:
        """The kind and handler of a matched path: a path naming an unknown sObject is none."""
        if "sobject" in request.groups:
            sobject = self._find_sobject(request.groups["sobject"])
            if sobject is None:
                return "unknown", self._not_found  # as Salesforce: no such resource
            request.groups["sobject"] = sobject
        if request.method not in methods:
            allowed = ", ".join(methods)
            return "unknown", self._method_not_allowed(request.method, allowed)
        kind, handler = methods[request.method]
        if kind == "bulk_close" and '"Aborted"' in (request.body or ""):
            kind = "bulk_abort"
        return kind, handler

    def _dispatch(self, kind: str, handler: Handler, request: _Request) -> Answer:
        self._note_written(kind, request)
        fault = self._faults.get(kind)
        if fault and not fault[0].after_commit:
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
        status, headers, body = self._handle(handler, request)
        if fault:  # the work is done and kept; only its answer goes missing
            _lose_answer(kind, fault.popleft())
        return status, {**headers, **self._usage_header()}, body

    @staticmethod
    def _handle(handler: Handler, request: _Request) -> Answer:
        try:
            return handler(request)
        except _ApiError as error:
            return _json_answer(error.status, error.body())

    def _fault_answer(self, kind: str, fault: Fault) -> Answer:
        if fault.expires_session:
            self._tokens.clear()
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
        if kind in _JSON_WRITES:
            try:
                body = json.loads(request.body or "")
            except json.JSONDecodeError:
                return
            records: Any = [body]
            if kind.startswith("composite"):
                records = body.get("records") if isinstance(body, dict) else None
            for record in records if isinstance(records, list) else []:
                if not isinstance(record, dict):
                    continue
                sobject = request.groups.get("sobject") or _record_type(record)
                if sobject is None:
                    continue
                name = self._find_sobject(sobject) or sobject
                self._written.setdefault(name, set()).update(
                    k for k in record if k != "attributes" and k.lower() != "id"
                )
        elif kind == "bulk_upload" and request.body:
            job = self.jobs.get(request.groups.get("job", ""))
            delimiter = _DELIMITERS.get(job.column_delimiter if job else "COMMA", ",")
            header = next(csv.reader(io.StringIO(request.body), delimiter=delimiter), [])
            written = self._written.setdefault(job.object if job else "Account", set())
            written.update(h for h in header if h.lower() != "id")

    def _find_sobject(self, name: str) -> str | None:
        """The object's name as the org spells it, or None: names ignore case."""
        if name in self.sobjects:
            return name
        lowered = name.lower()
        return next((known for known in self.sobjects if known.lower() == lowered), None)

    def _field_map(self, sobject: str = "Account") -> dict[str, FieldSpec]:
        return {name.lower(): spec for name, spec in self.object_fields(sobject).items()}

    def _resolve(self, sobject: str) -> tuple[str, Mapping[str, FieldSpec]] | None:
        name = self._find_sobject(sobject)
        if name is None or name in self.unreadable:
            return None  # a query FROM it answers INVALID_TYPE, as for an unknown object
        return (name, self._field_map(name))

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

    def describe_body(self, sobject: str = "Account") -> dict[str, Any]:
        """The sObject Describe answer for one object (Account unless named)."""
        name = self.sobject_name(sobject)
        meta = self.sobjects[name]
        base = f"/services/data/v{self.api_version}/sobjects/{name}"
        return {
            "name": name,
            "label": meta.label,
            "labelPlural": meta.label_plural,
            "keyPrefix": meta.key_prefix,
            "custom": meta.custom,
            "createable": True,
            "updateable": True,
            "queryable": True,
            "fields": [spec.describe() for spec in self.object_fields(name).values()],
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def _describe(self, request: _Request) -> Answer:
        return _json_answer(200, self.describe_body(request.groups["sobject"]))

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
        return _SoqlParser(soql, self._resolve, []).parse()

    def _query(self, request: _Request) -> Answer:
        soql = (request.query.get("q") or [""])[0]
        if not soql.strip():
            raise _ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        self.queries.append(soql)
        parsed = _SoqlParser(soql, self._resolve, self.soql_literals).parse()
        rows = [
            record
            for record_id, record in self.records(parsed.sobject).items()
            if record_id not in self.deleted and (parsed.where is None or parsed.where(record))
        ]
        for spec, descending, nulls_last in reversed(parsed.order):
            present = [r for r in rows if r.get(spec.name) is not None]
            absent = [r for r in rows if r.get(spec.name) is None]
            present.sort(key=_sort_key(spec), reverse=descending)
            rows = present + absent if nulls_last else absent + present
        if parsed.limit is not None:
            rows = rows[: parsed.limit]
        version = request.groups["version"]
        records = [self._render(record, parsed.fields, version, parsed.sobject) for record in rows]
        return _json_answer(200, self._page(records, 0, self._page_size(request), version))

    def _page_size(self, request: _Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        found = re.search(r"batchSize\s*=\s*(\d+)", options)
        if found:
            return max(200, min(2000, int(found.group(1))))
        return self.query_page_size

    @staticmethod
    def _render(
        record: Row, fields: Sequence[FieldSpec], version: str, sobject: str
    ) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}",
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

    def _create_defaults(self, sobject: str, record_id: str) -> dict[str, Any]:
        """What a create stores in the fields it leaves out, as the org fills them in."""
        defaults: dict[str, Any] = {}
        custom = self.sobjects[sobject].custom
        for spec in self.object_fields(sobject).values():
            if spec.name == "OwnerId" and spec.type == "reference":
                defaults[spec.name] = self.user_id
            elif spec.default_value is not None:
                defaults[spec.name] = spec.default_value
            elif spec.type == "boolean":
                defaults[spec.name] = False
            elif custom and spec.name == "Name":
                defaults[spec.name] = record_id  # a custom object's unnamed record
        return defaults

    def _apply_computed(self, sobject: str, row: dict[str, Any]) -> None:
        for name, derive in self.sobjects[sobject].computed.items():
            row[name] = derive(row)

    def _index(self, batch: _WriteBatch, sobject: str, spec: FieldSpec) -> dict[Any, set[str]]:
        """Comparable value -> Ids of one field, built once a request (unique checks, upserts)."""
        key = (sobject, spec.name)
        index = batch.indexes.get(key)
        if index is None:
            index = {}
            for record_id, row in self.records(sobject).items():
                value = _key(spec, row.get(spec.name))
                if value is not None:
                    index.setdefault(value, set()).add(record_id)
            batch.indexes[key] = index
        return index

    def _reindex(
        self,
        batch: _WriteBatch,
        sobject: str,
        record_id: str,
        before: Mapping[str, Any],
        stored: Mapping[str, Any],
    ) -> None:
        """Keep the request's indexes true once a record is accepted (stored, or to be)."""
        fields = self.object_fields(sobject)
        for (indexed, name), index in batch.indexes.items():
            spec = fields.get(name)
            if indexed != sobject or name not in stored or spec is None:
                continue
            old = _key(spec, before.get(name))
            if old is not None:
                index.get(old, set()).discard(record_id)
            new = _key(spec, stored[name])
            if new is not None:
                index.setdefault(new, set()).add(record_id)

    def _reference_errors(self, spec: FieldSpec, value: str) -> list[dict[str, Any]]:
        """A reference to another object's record, a missing or a deleted one is refused."""
        targets = [t for t in map(self._find_sobject, spec.referenceTo) if t is not None]
        if not targets:
            return []  # an object the fake does not serve: only the id's form is checked
        label = spec.display_label
        if not any(value.startswith(self.sobjects[t].key_prefix) for t in targets):
            message = f"{label}: id value of incorrect type: {value}"
            return [_record_error("FIELD_INTEGRITY_EXCEPTION", message, [spec.name])]
        if value in self.deleted:
            return [_record_error("ENTITY_IS_DELETED", "entity is deleted", [spec.name])]
        if not any(value in self.records(t) for t in targets):
            message = "invalid cross reference id"
            return [_record_error("INVALID_CROSS_REFERENCE_KEY", message, [spec.name])]
        return []

    def _unique_errors(
        self, sobject: str, record_id: str, stored: Mapping[str, Any], batch: _WriteBatch
    ) -> list[dict[str, Any]]:
        """A unique field may not take a value another record holds (as SOQL compares)."""
        fields = self.object_fields(sobject)
        for name, value in stored.items():
            spec = fields[name]
            if not spec.unique or value is None:
                continue
            others = self._index(batch, sobject, spec).get(_key(spec, value), set()) - {record_id}
            if others:
                message = (
                    f"duplicate value found: {spec.name} duplicates value on record with id: "
                    f"{min(others)}"
                )
                return [_record_error("DUPLICATE_VALUE", message, [])]
        return []

    def _field_values(
        self, sobject: str, changes: Mapping[str, Any], *, creating: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Each value as stored, and the errors of the fields that refuse theirs."""
        fields = self.object_fields(sobject)
        errors: list[dict[str, Any]] = []
        stored: dict[str, Any] = {}
        for name, value in changes.items():
            spec = fields[name]
            if not (spec.is_createable if creating else spec.updateable):
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
            if not problems and spec.type == "reference" and stored[name] is not None:
                problems = self._reference_errors(spec, stored[name])
            errors.extend(problems)
        return stored, errors

    def _fill_on_create(
        self, sobject: str, record_id: str, changes: Mapping[str, Any], stored: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Put the org's defaults into `stored`; the error of required fields still empty."""
        for name, value in self._create_defaults(sobject, record_id).items():
            if name not in changes:
                stored[name] = value
        missing = [
            spec.name
            for spec in self.object_fields(sobject).values()
            if spec.is_createable
            and not spec.nillable
            and spec.name not in changes
            and stored.get(spec.name) is None
        ]
        if not missing:
            return []
        message = f"Required fields are missing: [{', '.join(missing)}]"
        return [_record_error("REQUIRED_FIELD_MISSING", message, missing)]

    def _checked_changes(
        self,
        sobject: str,
        record_id: str,
        current: Mapping[str, Any] | None,
        changes: Mapping[str, Any],
        batch: _WriteBatch,
    ) -> dict[str, Any]:
        """The values to store of one valid create (`current` None) or update.

        The checks in Salesforce's order: each field (createable or updateable, type, length,
        picklist, required, reference), the required fields a create leaves out, unique
        values, the row lock, then the validation rules. Raises `_RecordFailureError`.
        """
        creating = current is None
        stored, errors = self._field_values(sobject, changes, creating=creating)
        if creating:
            errors.extend(self._fill_on_create(sobject, record_id, changes, stored))
        if not errors:
            errors.extend(self._unique_errors(sobject, record_id, stored, batch))
        if not errors and not creating and self._locks.get(record_id, 0) > 0:
            self._locks[record_id] -= 1
            message = f"unable to obtain exclusive access to this record or 1 records: {record_id}"
            errors.append(_record_error("UNABLE_TO_LOCK_ROW", message))
        if not errors:
            merged = {**(current if current is not None else {"Id": record_id}), **stored}
            self._apply_computed(sobject, merged)
            for rule in self.validation_rules_for(sobject):
                verdict = rule(record_id, merged)
                if verdict is not None:
                    code, message, *rest = verdict
                    errors.append(_record_error(code, message, rest[0] if rest else ()))
        if errors:
            raise _RecordFailureError(None if creating else record_id, errors)
        self._reindex(batch, sobject, record_id, current or {}, stored)
        return stored

    def _record_for_update(self, sobject: str, raw_id: Any, batch: _WriteBatch) -> str:
        """The 18-character Id a record update names; raises `_RecordFailureError`."""

        def refuse(
            record_id: str | None, code: str, message: str, fields: Sequence[str] = ()
        ) -> _RecordFailureError:
            return _RecordFailureError(record_id, [_record_error(code, message, fields)])

        if raw_id is None or raw_id == "":
            raise refuse(None, "MISSING_ARGUMENT", "Id not specified in an update call")
        record_id = canonical_id(str(raw_id))
        meta = self.sobjects[sobject]
        if record_id is None or not record_id.startswith(meta.key_prefix):
            message = f"{meta.label} ID: id value of incorrect type: {raw_id}"
            raise refuse(None, "MALFORMED_ID", message, ["Id"])
        if record_id in self.deleted:
            raise refuse(record_id, "ENTITY_IS_DELETED", "entity is deleted")
        if record_id not in self.records(sobject):
            raise refuse(record_id, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record_id in batch.seen:
            raise refuse(record_id, "DUPLICATE_VALUE", f"Duplicate id in list: {record_id}")
        batch.seen.add(record_id)
        return record_id

    def _update_one(
        self, sobject: str, raw_id: Any, changes: Mapping[str, Any], batch: _WriteBatch
    ) -> tuple[str, dict[str, Any]]:
        """(Id, values to store) of one valid record update; raises `_RecordFailureError`."""
        record_id = self._record_for_update(sobject, raw_id, batch)
        current = self.records(sobject)[record_id]
        return record_id, self._checked_changes(sobject, record_id, current, changes, batch)

    def _create_one(
        self, sobject: str, changes: Mapping[str, Any], batch: _WriteBatch
    ) -> tuple[str, dict[str, Any]]:
        """(new Id, values to store) of one valid create; raises `_RecordFailureError`."""
        record_id = self._new_id(self.sobjects[sobject].key_prefix)
        return record_id, self._checked_changes(sobject, record_id, None, changes, batch)

    def _upsert_one(
        self,
        sobject: str,
        key: FieldSpec,
        raw_id: Any,
        changes: Mapping[str, Any],
        *,
        batch: _WriteBatch,
        repeated: set[Any],
    ) -> tuple[str, dict[str, Any], bool]:
        """(Id, values to store, created) of one valid upsert matched on `key`.

        On Id: no Id creates, an Id updates. On an external id: no value fails the record,
        one match updates it, none creates, several fail (DUPLICATE_EXTERNAL_ID), and so does
        a value the request repeats (`repeated`). Raises `_RecordFailureError`.
        """

        def refuse(code: str, message: str, fields: Sequence[str]) -> _RecordFailureError:
            return _RecordFailureError(None, [_record_error(code, message, fields)])

        if key.name == "Id" and raw_id in (None, ""):
            record_id, stored = self._create_one(sobject, changes, batch)
            return record_id, stored, True
        if key.name == "Id":
            record_id, stored = self._update_one(sobject, raw_id, changes, batch)
            return record_id, stored, False
        if raw_id not in (None, ""):
            message = f"cannot specify Id in an upsert call on {key.name}"
            raise refuse("INVALID_FIELD_FOR_INSERT_UPDATE", message, ["Id"])
        value = changes.get(key.name)
        if value is None or value == "":
            raise refuse("MISSING_ARGUMENT", f"{key.name} not specified", [key.name])
        wanted = _key(key, value)
        if wanted in repeated:
            message = f"Duplicate external id specified: {value}"
            raise refuse("DUPLICATE_EXTERNAL_ID", message, [key.name])
        matches = self._index(batch, sobject, key).get(wanted, set())
        if len(matches) > 1:
            message = (
                f"{key.display_label}: more than one record found for external id field: "
                f"[{', '.join(sorted(matches))}]"
            )
            raise refuse("DUPLICATE_EXTERNAL_ID", message, [key.name])
        if matches:
            record_id, stored = self._update_one(sobject, next(iter(matches)), changes, batch)
            return record_id, stored, False
        record_id, stored = self._create_one(sobject, changes, batch)
        return record_id, stored, True

    def _upsert_key(self, sobject: str, field_name: str, *, bulk: bool = False) -> FieldSpec:
        """The field an upsert matches on: Id, an external id or an idLookup field."""
        spec = self._field_map(sobject).get(field_name.lower())
        if spec is not None and (spec.externalId or spec.idLookup):
            return spec
        if bulk:
            message = (
                f"InvalidJob : Field name provided, {field_name} does not match an External ID, "
                f"Salesforce Id, or indexed field for {sobject}"
            )
            raise _ApiError(400, "INVALIDJOB", message)
        if spec is None:
            message = (
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
            raise _ApiError(404, "NOT_FOUND", message)
        message = (
            f"Field name provided, {spec.name} is not an External ID or indexed field for {sobject}"
        )
        raise _ApiError(400, "INVALID_FIELD", message)

    def _store(
        self, sobject: str, record_id: str, values: Mapping[str, Any], *, creating: bool = False
    ) -> None:
        now = _sf_datetime(datetime.now(UTC))
        store = self.records(sobject)
        if creating:
            row = {"Id": record_id, **values}
            if "CreatedDate" in self.object_fields(sobject):
                row["CreatedDate"] = now
            store[record_id] = row
        else:
            row = store[record_id]
            row.update(values)
        row["LastModifiedDate"] = now
        self.saves[(sobject, record_id)] += 1
        self._apply_computed(sobject, row)

    def _body_changes(self, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        """The typed field values of a single-record body; unknown fields fail the request."""
        attributes = body.pop("attributes", None)
        declared = attributes.get("type") if isinstance(attributes, dict) else sobject
        if str(declared).lower() != sobject.lower():
            raise _ApiError(400, "INVALID_TYPE", f"sObject type '{declared}' does not match")
        fields = self._field_map(sobject)
        changes: dict[str, Any] = {}
        for key, raw in body.items():
            spec = fields.get(key.lower())
            if spec is None:
                message = f"No such column '{key}' on sobject of type {sobject}"
                raise _ApiError(400, "INVALID_FIELD", message)
            changes[spec.name] = _json_value(spec, raw)
        return changes

    def _sobject_update(self, request: _Request) -> Answer:
        """sObject Rows update: HTTP 204 and no body, or the record's errors as a REST error.

        The record is checked as one record of a Collections update (fields, lock, validation
        rules); its errors come back as `[{"message", "errorCode", "fields"}]` with HTTP 400,
        or 404 when the Id names no record of the object (NOT_FOUND) or a deleted one
        (ENTITY_IS_DELETED). An unknown field or a value of the wrong JSON type is a 400 as in
        Collections. The body holds field values only: an `Id` in it is refused as a field
        that cannot be updated.
        """
        sobject = request.groups["sobject"]
        body = request.json()
        if not isinstance(body, dict):
            raise _ApiError(400, "JSON_PARSER_ERROR", "the body must be a JSON object of fields")
        record_id = canonical_id(request.groups["record"])
        if record_id is None or not record_id.startswith(self.sobjects[sobject].key_prefix):
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if record_id in self.deleted:
            raise _ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        if record_id not in self.records(sobject):
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        changes = self._body_changes(sobject, body)
        try:
            checked_id, stored = self._update_one(sobject, record_id, changes, _WriteBatch())
        except _RecordFailureError as failure:
            first = failure.errors[0]
            raise _ApiError(400, first["statusCode"], first["message"], first["fields"]) from None
        self._store(sobject, checked_id, stored)
        return 204, {}, ""

    def _sobject_create(self, request: _Request) -> Answer:
        """sObject Rows create: HTTP 201 and `{"id", "success", "errors"}`, or HTTP 400 and the
        record's errors as `[{"message", "errorCode", "fields"}]`."""
        sobject = request.groups["sobject"]
        body = request.json()
        if not isinstance(body, dict):
            raise _ApiError(400, "JSON_PARSER_ERROR", "the body must be a JSON object of fields")
        changes = self._body_changes(sobject, body)
        if changes.pop("Id", None) is not None:
            message = "cannot specify Id in an insert call"
            raise _ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", message, ["Id"])
        try:
            record_id, stored = self._create_one(sobject, changes, _WriteBatch())
        except _RecordFailureError as failure:
            errors = [
                {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                for e in failure.errors
            ]
            return _json_answer(400, errors)
        self._store(sobject, record_id, stored, creating=True)
        return _json_answer(201, {"id": record_id, "success": True, "errors": []})

    @staticmethod
    def _collection_body(request: _Request) -> tuple[list[dict[str, Any]], bool]:
        """The records of a Collections body (at most 200) and its allOrNone."""
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
        return records, body.get("allOrNone", False) is True

    def _collection_results(
        self, outcomes: Sequence[_Outcome], all_or_none: bool, *, upsert: bool
    ) -> list[dict[str, Any]]:
        """Store what may be stored; one SaveResult (UpsertResult) per record, in order.

        A failed record has no `id`; with allOrNone every other record fails with
        ALL_OR_NONE_OPERATION_ROLLED_BACK (keeping the `id` of an existing record).
        """
        any_failed = any(outcome.errors for outcome in outcomes)
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if outcome.errors:
                result: dict[str, Any] = {"success": False, "errors": outcome.errors}
            elif all_or_none and any_failed:
                rolled_back = _record_error("ALL_OR_NONE_OPERATION_ROLLED_BACK", _ROLLED_BACK)
                result = {"success": False, "errors": [rolled_back]}
                if not outcome.created:
                    result = {"id": outcome.record_id, **result}
            else:
                assert outcome.sobject is not None
                assert outcome.record_id is not None
                self._store(
                    outcome.sobject, outcome.record_id, outcome.stored, creating=outcome.created
                )
                result = {"id": outcome.record_id, "success": True, "errors": []}
            if upsert:
                result["created"] = outcome.created and result["success"]
            results.append(result)
        return results

    def _composite(self, request: _Request) -> Answer:
        """sObject Collections update: HTTP 200 and one SaveResult per record, in order."""
        records, all_or_none = self._collection_body(request)
        parsed = [self._collection_record(record) for record in records]
        batch = _WriteBatch()
        outcomes: list[_Outcome] = []
        for sobject, raw_id, changes, early_errors in parsed:
            try:
                if early_errors or sobject is None:
                    raise _RecordFailureError(None, early_errors)
                record_id, stored = self._update_one(sobject, raw_id, changes, batch)
                outcomes.append(_Outcome(sobject, record_id, stored=stored))
            except _RecordFailureError as failure:
                outcomes.append(_Outcome(sobject, failure.record_id, errors=failure.errors))
        return _json_answer(200, self._collection_results(outcomes, all_or_none, upsert=False))

    def _composite_create(self, request: _Request) -> Answer:
        """sObject Collections create: HTTP 200 and one SaveResult per record, in order.

        Records may be of several objects; a record that carries an Id fails, as documented.
        """
        records, all_or_none = self._collection_body(request)
        parsed = [self._collection_record(record) for record in records]
        batch = _WriteBatch()
        outcomes: list[_Outcome] = []
        for sobject, raw_id, changes, early_errors in parsed:
            try:
                if early_errors or sobject is None:
                    raise _RecordFailureError(None, early_errors)
                if raw_id not in (None, ""):
                    message = "cannot specify Id in an insert call"
                    error = _record_error("INVALID_FIELD_FOR_INSERT_UPDATE", message, ["Id"])
                    raise _RecordFailureError(None, [error])
                record_id, stored = self._create_one(sobject, changes, batch)
                outcomes.append(_Outcome(sobject, record_id, created=True, stored=stored))
            except _RecordFailureError as failure:
                outcomes.append(_Outcome(sobject, None, errors=failure.errors))
        return _json_answer(200, self._collection_results(outcomes, all_or_none, upsert=False))

    def _composite_upsert(self, request: _Request) -> Answer:
        """sObject Collections upsert on an external id: HTTP 200 and one UpsertResult
        (`{"id", "success", "errors", "created"}`) per record, in order."""
        sobject = request.groups["sobject"]
        key = self._upsert_key(sobject, request.groups["field"])
        records, all_or_none = self._collection_body(request)
        parsed = [self._collection_record(record, expected=sobject) for record in records]
        repeated: set[Any] = set()
        if key.name != "Id":  # repeated Ids fail as in an update: DUPLICATE_VALUE
            counts = Counter(
                _key(key, changes[key.name])
                for found, _, changes, early in parsed
                if not early and found and changes.get(key.name) not in (None, "")
            )
            repeated = {value for value, times in counts.items() if times > 1}
        batch = _WriteBatch()
        outcomes: list[_Outcome] = []
        for found, raw_id, changes, early_errors in parsed:
            try:
                if early_errors or found is None:
                    raise _RecordFailureError(None, early_errors)
                record_id, stored, created = self._upsert_one(
                    found, key, raw_id, changes, batch=batch, repeated=repeated
                )
                outcomes.append(_Outcome(found, record_id, created=created, stored=stored))
            except _RecordFailureError as failure:
                outcomes.append(_Outcome(found, failure.record_id, errors=failure.errors))
        return _json_answer(200, self._collection_results(outcomes, all_or_none, upsert=True))

    def _collection_record(
        self, record: Mapping[str, Any], expected: str | None = None
    ) -> tuple[str | None, Any, dict[str, Any], list[dict[str, Any]]]:
        """(object, raw id, typed changes by field name, errors found before the write).

        `expected` is the object an upsert URL names: records of another type fail.
        """
        raw_id: Any = next((v for k, v in record.items() if k.lower() == "id"), None)
        declared = _record_type(record)
        sobject = None if declared is None else self._find_sobject(declared)
        if declared is None:
            problem = "Must send a concrete entity type."
        elif sobject is None:
            problem = f"sObject type '{declared}' is not supported."
        elif expected is not None and sobject != expected:
            problem = f"sObject type '{declared}' does not match the request's {expected}."
        else:
            problem = None
        if problem is not None or sobject is None:
            return None, raw_id, {}, [_record_error("INVALID_TYPE", problem or "")]
        fields = self._field_map(sobject)
        changes: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, raw in record.items():
            if key == "attributes" or key.lower() == "id":
                continue
            spec = fields.get(key.lower())
            if spec is None:
                message = f"No such column '{key}' on sobject of type {sobject}"
                if self.unknown_field_fails_request:
                    raise _ApiError(400, "INVALID_FIELD", message)
                errors.append(_record_error("INVALID_FIELD", message, [key]))
                continue
            changes[spec.name] = _json_value(spec, raw)
        return sobject, raw_id, changes, errors

    # -- Bulk API 2.0 ingest ----------------------------------------------------------------

    def _job(self, request: _Request) -> IngestJob:
        job = self.jobs.get(request.groups.get("job", ""))
        if job is None:
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _bulk_create(self, request: _Request) -> Answer:
        """Create Job: insert, update or upsert (with `externalIdFieldName`) of any object."""
        body = request.json()
        if not isinstance(body, dict):
            raise _ApiError(400, "JSON_PARSER_ERROR", "the job must be a JSON object")
        sobject = body.get("object")
        operation = body.get("operation")
        line_ending = body.get("lineEnding", "LF")
        delimiter = body.get("columnDelimiter", "COMMA")
        if not sobject or not operation:
            raise _ApiError(400, "INVALIDJOB", "object and operation are required")
        name = self._find_sobject(str(sobject))
        if name is None:
            raise _ApiError(
                400, "INVALIDENTITY", f"InvalidEntity : Entity '{sobject}' is not supported"
            )
        if operation not in _BULK_OPERATIONS:
            raise _ApiError(
                400,
                "FEATURENOTENABLED",
                f"the fake supports the insert, update and upsert operations only: {operation}",
            )
        external_id = body.get("externalIdFieldName")
        if operation == "upsert" and not external_id:
            raise _ApiError(
                400,
                "INVALIDJOB",
                f"InvalidJob : External ID was blank for {name}. An External ID must be "
                "specified for upsert.",
            )
        key = None
        if operation == "upsert":
            key = self._upsert_key(name, str(external_id), bulk=True).name
        if body.get("contentType", "CSV") != "CSV" or line_ending not in ("LF", "CRLF"):
            raise _ApiError(400, "INVALIDJOB", "contentType must be CSV, lineEnding LF or CRLF")
        if delimiter not in _DELIMITERS:
            raise _ApiError(400, "INVALIDJOB", f"invalid columnDelimiter: {delimiter}")
        job = IngestJob(
            id=self._new_id("750"),
            object=name,
            operation=operation,
            line_ending=line_ending,
            column_delimiter=delimiter,
            api_version=request.groups["version"],
            created=_sf_datetime(datetime.now(UTC)),
            external_id_field=key,
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
        fields = self._field_map(job.object)
        specs: list[FieldSpec] = []
        for column in job.header:
            spec = fields.get(column.strip().lower())
            if spec is None:
                self._fail_job(job, f"InvalidBatch : Field name not found : {column}")
                return
            specs.append(spec)
        names = [spec.name for spec in specs]
        if job.operation == "update" and "Id" not in names:
            self._fail_job(job, "InvalidBatch : Field name not found : Id")
            return
        id_column = names.index("Id") if "Id" in names else None
        key = fields[job.external_id_field.lower()] if job.external_id_field else None
        rows = list(self._data_rows(job))
        repeated: set[Any] = set()
        if key is not None and key.name != "Id" and key.name in names:
            counts = Counter(
                value
                for row in rows
                if (value := _cell_key(key, row[names.index(key.name)])) is not None
            )
            repeated = {value for value, times in counts.items() if times > 1}
        batch = _WriteBatch()
        for row in rows:
            batch.seen.clear()  # an Id may come back in a later row of a job
            self._process_row(
                job, row, specs, id_column=id_column, batch=batch, key=key, repeated=repeated
            )
        job.state, job.processed = "JobComplete", True

    def _process_row(
        self,
        job: IngestJob,
        row: list[str],
        specs: Sequence[FieldSpec],
        *,
        id_column: int | None,
        batch: _WriteBatch,
        key: FieldSpec | None,
        repeated: set[Any],
    ) -> None:
        """One CSV row: an empty cell leaves its field alone, `#N/A` sets it to null."""
        changes: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for column, (spec, cell) in enumerate(zip(specs, row, strict=False)):
            if column == id_column or cell == "":
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
        raw_id = row[id_column] if id_column is not None and id_column < len(row) else ""
        created = job.operation == "insert"
        try:
            if errors:
                raise _RecordFailureError(canonical_id(raw_id), errors)
            if job.operation == "update":
                record_id, stored = self._update_one(job.object, raw_id, changes, batch)
            elif job.operation == "insert":
                if raw_id:
                    message = "cannot specify Id in an insert call"
                    error = _record_error("INVALID_FIELD_FOR_INSERT_UPDATE", message, ["Id"])
                    raise _RecordFailureError(None, [error])
                record_id, stored = self._create_one(job.object, changes, batch)
            else:
                assert key is not None
                record_id, stored, created = self._upsert_one(
                    job.object, key, raw_id, changes, batch=batch, repeated=repeated
                )
        except _RecordFailureError as failure:
            first = failure.errors[0]
            text = f"{first['statusCode']}:{first['message']}:{','.join(first['fields'])} --"
            known = failure.record_id if failure.record_id in self.records(job.object) else None
            job.failed.append([known or "", text, *row])
            return
        self._store(job.object, record_id, stored, creating=created)
        job.successful.append([record_id, "true" if created else "false", *row])
