"""One Salesforce connection: login, retries, the API budget, and the few calls arsync makes.

simple-salesforce retries nothing but an expired session (and only when it logged in itself):
5xx answers, connection errors, lock errors and concurrency limits are retried here, with
tenacity, a bounded number of times. Every call first checks the API budget.

When simple-salesforce logs in again it rebuilds its `headers` and resends the call without
the call's own `headers=`: so `Sforce-Call-Options` lives on the requests session, and a
call's own headers (a Bulk CSV upload's `Content-Type`) are set by a request hook that the
resend keeps.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
import requests
import structlog
from requests.auth import AuthBase
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from arsync.errors import FatalError, RetriableError
from arsync.redact import redact, register_secret
from connector.crm.salesforce.readback import AnswerLostError
from connector.crm.salesforce.settings import (
    JwtAuth,
    PasswordAuth,
    SalesforceSettings,
    TokenAuth,
)
from connector.crm.salesforce.soql import check_name
from connector.secrets import resolve_secret

log = structlog.get_logger(__name__)
T = TypeVar("T")
_TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})
_PURPOSE = "to log in to Salesforce"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_MAX_REASON = 300


class BudgetExhaustedError(FatalError):
    """The org's daily API use reached the share arsync may take: stop, resume tomorrow."""


class SessionExpiredError(FatalError):
    """A given access token expired; there is nothing to log in again with."""


@dataclass
class ApiBudget:
    """The org's daily API use as Salesforce last reported it, against the share we may reach."""

    max_share: float
    used: int | None = None
    limit: int | None = None
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def observe(self, used: int, limit: int) -> None:
        self.used, self.limit = used, limit

    def observe_header(self, header: str | None) -> None:
        """Read `Sforce-Limit-Info: api-usage=USED/MAX` from any REST answer."""
        match = _USAGE.search(header or "")
        if match:
            self.observe(int(match.group(1)), int(match.group(2)))

    def headroom(self) -> int | None:
        """Calls left before the share is reached; None while the usage is unknown."""
        if self.used is None or self.limit is None:
            return None
        return int(self.limit * self.max_share) - self.used

    def check(self, calls_needed: int = 1) -> None:
        left = self.headroom()
        if left is not None and left < calls_needed:
            raise BudgetExhaustedError(
                f"the org has used {self.used:,} of {self.limit:,} daily API calls; arsync stops "
                f"at {self.max_share:.0%} and needs {calls_needed:,} more"
            )


def is_transient(error: BaseException) -> bool:
    """Worth another try: the server or the network, never the data."""
    if isinstance(error, requests.ConnectionError | requests.Timeout | RetriableError):
        return True
    if isinstance(error, SalesforceGeneralError):
        return error.status >= 500
    if isinstance(error, SalesforceRefusedRequest | SalesforceMalformedRequest):
        codes = {e.get("errorCode") for e in _errors(error)}
        refused_for_the_day = any("TotalRequests" in str(e.get("message")) for e in _errors(error))
        return bool(codes & _TRANSIENT_CODES) and not refused_for_the_day
    return False


def answer_may_be_lost(error: BaseException) -> bool:
    """The request may have reached Salesforce and been acted on: only a connect timeout
    says for sure that it never left."""
    return isinstance(error, requests.ConnectionError | requests.Timeout) and not isinstance(
        error, requests.ConnectTimeout
    )


def _nothing_was_done(error: BaseException) -> bool:
    """Refused before any work (a concurrency limit, a lock): safe to send again even when
    sending twice would not be."""
    if isinstance(error, SalesforceRefusedRequest | SalesforceMalformedRequest):
        return is_transient(error)
    return False


def _errors(error: SalesforceError) -> list[dict[str, Any]]:
    content = error.content
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return []


class SalesforceClient:
    """The calls arsync makes, each retried when transient and counted against the budget."""

    def __init__(self, sf: Salesforce, settings: SalesforceSettings) -> None:
        self.sf = sf
        self.settings = settings
        self.budget = ApiBudget(settings.max_daily_api_share)
        # On the session, not sf.headers: simple-salesforce rebuilds those when it logs in again.
        sf.session.headers["Sforce-Call-Options"] = f"client={settings.client_name}"

    @classmethod
    def connect(
        cls,
        settings: SalesforceSettings,
        environ: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> SalesforceClient:
        """Log in as the settings say; a refused login is fatal, with Salesforce's reason."""
        auth = settings.auth
        common: dict[str, Any] = {"version": settings.api_version, "session": session}
        try:
            if isinstance(auth, TokenAuth):
                sf = Salesforce(
                    instance_url=auth.instance_url,
                    session_id=resolve_secret(auth.access_token, environ, _PURPOSE),
                    **common,
                )
            elif isinstance(auth, PasswordAuth):
                sf = Salesforce(
                    username=auth.username,
                    password=resolve_secret(auth.password, environ, _PURPOSE),
                    security_token=(
                        resolve_secret(auth.security_token, environ, _PURPOSE)
                        if auth.security_token
                        else ""
                    ),
                    domain=settings.domain,
                    **common,
                )
            else:
                sf = cls._jwt_login(auth, settings, environ, common)
        except SalesforceAuthenticationFailed as error:
            raise FatalError(f"Salesforce refused the login: {_login_reason(error)}") from None
        except requests.RequestException as error:
            raise FatalError(f"cannot reach Salesforce to log in: {type(error).__name__}") from None
        register_secret(sf.session_id)
        log.info(
            "salesforce.connected",
            instance=sf.sf_instance,
            mode=auth.mode,
            api_version=settings.api_version,
        )
        return cls(sf, settings)

    @staticmethod
    def _jwt_login(
        auth: JwtAuth,
        settings: SalesforceSettings,
        environ: Mapping[str, str] | None,
        common: dict[str, Any],
    ) -> Salesforce:
        if auth.private_key is None and auth.private_key_file is None:
            raise FatalError("JWT login needs private_key (an env reference) or private_key_file")
        where = auth.private_key or f"the file {auth.private_key_file}"
        try:
            return Salesforce(
                username=auth.username,
                consumer_key=resolve_secret(auth.consumer_key, environ, _PURPOSE),
                privatekey=resolve_secret(auth.private_key, environ, _PURPOSE)
                if auth.private_key
                else None,
                privatekey_file=str(auth.private_key_file) if auth.private_key_file else None,
                domain=settings.domain,
                **common,
            )
        except jwt.exceptions.PyJWTError as error:  # the key text is damaged or not a key
            raise FatalError(
                f"the JWT private key in {where} cannot be read as a PEM RSA private key "
                f"({type(error).__name__})"
            ) from None
        except OSError as error:
            raise FatalError(
                f"cannot read the JWT private key {where}: {error.strerror or error}"
            ) from None

    # -- the calls -------------------------------------------------------------------------

    def describe(self, sobject: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "describe", lambda: getattr(self.sf, sobject).describe()
        )
        return result

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """Every record of a query, following nextRecordsUrl page by page."""
        page: dict[str, Any] = self._call("query", lambda: self.sf.query(soql))
        while True:
            yield from page["records"]
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._call("query", functools.partial(self._query_more, str(next_url)))

    def _query_more(self, url: str) -> dict[str, Any]:
        page: dict[str, Any] = self.sf.query_more(url, identifier_is_url=True)
        return page

    def update_collection(
        self, sobject: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections update, allOrNone false: one answer per record, in order.

        Not resent when its answer is lost (`AnswerLostError`): saving a record twice runs
        its triggers and flows twice, so the caller reads back what was saved first.
        """
        body = self._collection_body(sobject, records)
        result = self._call(
            "composite",
            lambda: self.sf.restful("composite/sobjects", method="PATCH", json=body),
            resend_after_loss=False,
        )
        return list(result or [])

    def create_collection(
        self, sobject: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections create, allOrNone false: one answer per record, in order."""
        body = self._collection_body(sobject, records)
        result = self._call(
            "composite_create",
            lambda: self.sf.restful("composite/sobjects", method="POST", json=body),
            idempotent=False,
        )
        return list(result or [])

    def upsert_collection(
        self, sobject: str, external_id_field: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert on an external id: creates what it does not find, so a
        rerun never makes a second record. Not resent when its answer is lost
        (`AnswerLostError`), as an update: the caller reads back what was saved first."""
        path = f"composite/sobjects/{check_name(sobject)}/{check_name(external_id_field)}"
        body = self._collection_body(sobject, records)
        result = self._call(
            "composite_upsert",
            lambda: self.sf.restful(path, method="PATCH", json=body),
            resend_after_loss=False,
        )
        return list(result or [])

    @staticmethod
    def _collection_body(sobject: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **record} for record in records],
        }

    def limits(self) -> dict[str, Any]:
        answer = self._call("limits", lambda: self.sf.restful("limits/"))
        result: dict[str, Any] = answer if isinstance(answer, dict) else {}
        daily = result.get("DailyApiRequests", {})
        if "Max" in daily and "Remaining" in daily:
            self.budget.observe(daily["Max"] - daily["Remaining"], daily["Max"])
        return result

    def raw(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        resend_after_loss: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """A REST call whose body is not JSON (Bulk API 2.0 CSV), with the same care.

        Goes through simple-salesforce's own request method so that the session refresh and
        the usage header parsing apply here too. `headers` go by a request hook, so that the
        call simple-salesforce resends after logging in again still carries them. With
        `resend_after_loss` false a lost answer raises `AnswerLostError` instead of a resend.
        """
        url = f"{self.sf.base_url}{path}"
        if headers:
            kwargs["auth"] = _CallHeaders(headers)
        # simple-salesforce has no public call for a CSV body that keeps its session handling.
        response: requests.Response = self._call(
            kind,
            lambda: self.sf._call_salesforce(method, url, name=path, **kwargs),
            resend_after_loss=resend_after_loss,
        )
        self.budget.observe_header(response.headers.get("Sforce-Limit-Info"))
        return response

    def _call(
        self,
        kind: str,
        call: Callable[[], T],
        *,
        idempotent: bool = True,
        resend_after_loss: bool = True,
    ) -> T:
        """`call`, counted and budgeted; retried when transient, if sending it twice is safe.

        A create is not: when the connection drops, Salesforce may have made the records,
        and sending them again would make them twice. It fails instead, and the next run
        finds what was made (arsync reads before it creates). An update whose answer is lost
        (`resend_after_loss` false) raises `AnswerLostError`: its caller reads back the
        records and resends only what was not saved.
        """
        retry = self.settings.retry

        def worth_retrying(error: BaseException) -> bool:
            if not idempotent:
                return _nothing_was_done(error)
            return is_transient(error) and (resend_after_loss or not answer_may_be_lost(error))

        retrying = Retrying(
            retry=retry_if_exception(worth_retrying),
            stop=stop_after_attempt(retry.max_attempts),
            wait=wait_exponential_jitter(
                multiplier=retry.initial_wait_seconds, max=retry.max_wait_seconds
            ),
            before_sleep=_log_retry(kind),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.budget.check()
                    self.budget.calls[kind] = self.budget.calls.get(kind, 0) + 1
                    try:
                        result = call()
                    except SalesforceExpiredSession:
                        raise SessionExpiredError(
                            "the Salesforce session expired and this auth mode cannot log in again"
                        ) from None
                    self._observe_usage()
                    return result
        except (requests.RequestException, SalesforceError) as error:
            if idempotent and not resend_after_loss and answer_may_be_lost(error):
                raise AnswerLostError(kind) from error
            raise _fatal(kind, error, retry.max_attempts) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _observe_usage(self) -> None:
        usage = self.sf.api_usage.get("api-usage")
        if usage is not None:
            self.budget.observe(int(usage.used), int(usage.total))


class _CallHeaders(AuthBase):
    """Headers of one call, set on the prepared request (after the session's and
    simple-salesforce's own): its resend after a new login drops `headers=` but keeps `auth=`."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self.headers)
        return request


def _login_reason(error: SalesforceAuthenticationFailed) -> str:
    """Salesforce's own code and reason: `error.message` is simple-salesforce's template.
    A reason that is a whole page (a proxy's HTML) is cut short."""
    reason = redact(" ".join(str(error.auth_message or "").split())) or "no reason given"
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 1] + "…"
    code = str(error.code) if error.code is not None else ""
    if code and not reason.startswith(code):
        return f"{code}: {reason}"
    return reason


def _fatal(kind: str, error: Exception, attempts: int) -> FatalError:
    """What no retry fixed: Salesforce unreachable or refusing the call, said plainly."""
    if is_transient(error):
        return FatalError(
            f"Salesforce did not answer the {kind} call after {attempts} attempts "
            f"({type(error).__name__}{_status(error)})"
        )
    codes = (
        ", ".join(str(e.get("errorCode")) for e in _errors(error))
        if isinstance(error, SalesforceError)
        else ""
    )
    return FatalError(
        f"Salesforce refused the {kind} call ({type(error).__name__}{_status(error)}"
        f"{': ' + codes if codes else ''})"
    )


def _status(error: Exception) -> str:
    status = getattr(error, "status", None)
    return f", HTTP {status}" if status else ""


def _log_retry(kind: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "salesforce.call_retried",
            kind=kind,
            attempt=state.attempt_number,
            error=type(error).__name__,
            status=getattr(error, "status", None),
        )

    return before_sleep
