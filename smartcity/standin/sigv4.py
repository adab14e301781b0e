"""SigV4 verification of incoming requests, with botocore's own signer computing the expected signature.

The request is rebuilt from what arrived (method, path, query, the headers the client says it signed, body)
and signed again with the stack's secret key; the signatures must match. Failures are answered with the
error codes AWS gives for them, so clients react as they would against AWS.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from smartcity.standin.errors import AwsError

#: AWS refuses requests whose X-Amz-Date is further than this from its clock.
MAX_CLOCK_SKEW = timedelta(minutes=15)

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Caller:
    """Who signed the request, from the credential scope."""

    access_key: str
    region: str
    service: str


@dataclass(frozen=True)
class SignedRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class _Verifier(SigV4Auth):
    """botocore's signer, signing exactly the headers the client listed (no more, no fewer)."""

    def __init__(self, credentials: Credentials, service: str, region: str, signed: Sequence[str]) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest):
        from botocore.compat import HTTPHeaders

        selected = HTTPHeaders()
        for name in self._signed:
            selected[name] = request.headers.get(name, "")
        return selected


class SigV4Checker:
    """Checks requests against one access key / secret key pair (the stack's generated credentials)."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self._credentials = Credentials(access_key, secret_key)

    def verify(self, request: SignedRequest, *, expected_service: str, query_protocol: bool = False) -> Caller:
        """Return the caller if the signature is valid, else raise the AWS error for what is wrong."""
        auth = request.headers.get("authorization")
        if not auth:
            raise _missing(query_protocol)
        match = _AUTH_RE.match(auth.strip())
        if not match:
            raise _incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
        scope = match["credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise _incomplete(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term."
            )
        access_key, date, region, service, _ = scope
        if access_key != self._credentials.access_key:
            raise _unknown_key(query_protocol)
        if service != expected_service:
            raise _bad_signature(
                f"Credential should be scoped to correct service: '{expected_service}'.", query_protocol
            )
        amz_date = request.headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise _incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            ) from None
        if amz_date[:8] != date:
            raise _bad_signature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
                query_protocol,
            )
        now = datetime.now(UTC)
        if abs(now - signed_at) > MAX_CLOCK_SKEW:
            raise _bad_signature(
                f"Signature expired: {amz_date} is now earlier than {(now - MAX_CLOCK_SKEW):%Y%m%dT%H%M%SZ}",
                query_protocol,
            )
        signed_headers = match["signed"].split(";")
        if "host" not in signed_headers:
            raise _bad_signature("'Host' must be a 'SignedHeader' in the AWS Authorization.", query_protocol)

        aws_request = AWSRequest(method=request.method, url=request.url, data=request.body)
        for name in signed_headers:
            aws_request.headers[name] = request.headers.get(name, "")
        aws_request.context["timestamp"] = amz_date
        signer = _Verifier(self._credentials, service, region, signed_headers)
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise _bad_signature(
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.",
                query_protocol,
            )
        return Caller(access_key=access_key, region=region, service=service)


def _missing(query_protocol: bool) -> AwsError:
    if query_protocol:
        return AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    return AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)


def _incomplete(message: str) -> AwsError:
    return AwsError("IncompleteSignatureException", message, 400)


def _unknown_key(query_protocol: bool) -> AwsError:
    if query_protocol:
        return AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    return AwsError("UnrecognizedClientException", "The security token included in the request is invalid.", 400)


def _bad_signature(message: str, query_protocol: bool) -> AwsError:
    if query_protocol:
        return AwsError("SignatureDoesNotMatch", message, 403)
    return AwsError("InvalidSignatureException", message, 400)
