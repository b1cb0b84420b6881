"""Masking secrets in text that leaves the process: log events, stored run errors, messages.

The first line of defence is that no code puts a secret into a message. This is the second:
every value resolved from a `${VAR}` reference is registered here, and `redact` masks those
values and anything shaped like a credential (a PEM block, a bearer token, a JWT, a Salesforce
session id, `password=...` style pairs) wherever the text came from: an ERP's error body that
echoes the request, an exception message of a library, a traceback.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
# Shorter values would mask ordinary words and numbers all over the logs; no real secret is
# this short (passwords, tokens and keys are 8 characters and more).
MIN_SECRET_LENGTH = 4
# A line of a multi-line secret (a PEM body) is masked on its own when it is this long, so a
# key that reaches a message cut into lines is still masked.
MIN_LINE_LENGTH = 16

_SHAPES = (
    # A PEM block, or the start of one cut off before its END line.
    re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL),
    # A JSON Web Token: three base64url parts, the first the `{"` of its header.
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    # A Salesforce session id / access token: the org id, '!', the session part.
    re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"),
)
_PREFIXED = (
    # `Authorization: Bearer x`, `Bearer x`, `Basic x` (tokens are long; prose words are not).
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{16,}=*"),
    # An OAuth 1.0a header's or a body's credential pairs, quoted or not (verbose: spaces and
    # comments inside are not part of the pattern):
    # oauth_token="...", "access_token": "...", password=..., client_secret=...
    re.compile(
        r"""(?ix)
        (\b(?:access_token|refresh_token|id_token|client_secret|consumer_secret|token_secret
            |oauth_token|oauth_signature|oauth_consumer_key|consumer_key|private_key
            |password|passwd|pwd|security_token|session_?id|secret|api_?key|assertion)
        \\?["']?\s*[:=]\s*\\?["']?)   # quotes may come JSON-escaped: \"
        (?!\[REDACTED\])[^"'&\s,;}<>\\]+
        """
    ),
    # The same in XML, as in a SOAP login echoed back: <n1:password>...</n1:password>.
    re.compile(
        r"(?i)(<(?:\w+:)?(?:password|session_?id|security_?token|access_?token|refresh_?token"
        r"|client_?secret)>)[^<]+"
    ),
)


class SecretRegistry:
    """The secret values this process has resolved, each with the spellings it may take in
    text (JSON- and repr-escaped, URL-quoted, line by line)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        """Remember a secret value; too short or empty values are ignored (see above)."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        spellings = set(_spellings(value))
        with self._lock:
            if spellings <= self._values:
                return
            self._values |= spellings
            ordered = sorted(self._values, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        """Forget every value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


def _spellings(value: str) -> Iterable[str]:
    yield value
    yield json.dumps(value)[1:-1]
    yield value.encode("unicode_escape").decode("ascii")
    yield quote(value, safe="")
    yield quote_plus(value, safe="")
    for line in value.splitlines():
        if len(line.strip()) >= MIN_LINE_LENGTH:
            yield line.strip()


SECRETS = SecretRegistry()


def register_secret(value: str | None) -> None:
    """Mask this value in every log line, stored error and message from now on."""
    SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every credential-shaped string masked."""
    text = SECRETS.mask(text)
    for shape in _SHAPES:
        text = shape.sub(MASK, text)
    for prefixed in _PREFIXED:
        text = prefixed.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_value(value: object) -> object:
    """A log event's value with its text redacted, containers walked; numbers, booleans and
    None pass as they are, and any other object is replaced by its redacted text only when its
    text held something to mask (so dates and paths keep their type)."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    text = str(value)
    masked = redact(text)
    return value if masked == text else masked
