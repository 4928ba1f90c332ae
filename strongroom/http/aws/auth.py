"""AWS Signature Version 4, verified: the canonical request and the signature are
botocore's own (the rules are not written again here), computed with the access
key's secret and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from strongroom.domain.tokens import ApiToken
from strongroom.http.aws.errors import AwsError
from strongroom.services.tokens import TokenAPI

SERVICE = "secretsmanager"
MAX_SKEW = timedelta(minutes=5)
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Za-z0-9]{16,128})/(?P<date>[0-9]{8})/"
    r"(?P<region>[a-z0-9-]{1,32})/(?P<service>[a-z0-9-]{1,32})/aws4_request,\s*"
    r"SignedHeaders=(?P<headers>[a-z0-9;-]{1,1024}),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_UNSIGNED = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True, slots=True)
class Signed:
    """Who signed a request, and for which region (ARNs name it)."""

    token: ApiToken
    region: str


def verify(
    tokens: TokenAPI,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> Signed:
    """The key that signed this request; AwsError if it is unsigned, signed
    wrongly, too old or too new, or by a key that does not (or no longer) exist."""
    found = _AUTHORIZATION.fullmatch(headers.get("authorization", "").strip())
    if found is None:
        if "authorization" not in headers:
            raise AwsError(
                "MissingAuthenticationTokenException", "the request is not signed", 403
            )
        raise AwsError(
            "IncompleteSignatureException", "the Authorization header is not SigV4's"
        )
    if found["service"] != SERVICE:
        msg = f"the credential must be scoped to the {SERVICE} service"
        raise AwsError("InvalidSignatureException", msg)
    signed = found["headers"].split(";")
    stamp = headers.get("x-amz-date", "")
    if "host" not in signed or "x-amz-date" not in signed:
        msg = "the signature must cover the Host and X-Amz-Date headers"
        raise AwsError("InvalidSignatureException", msg)
    _check_moment(stamp, found["date"], now or datetime.now(UTC))
    _check_payload(headers, body)
    token = tokens.access_key(found["key"])
    if token is None or token.aws_secret is None:
        msg = "The security token included in the request is invalid."
        raise AwsError("UnrecognizedClientException", msg)
    request = AWSRequest(
        method=method,
        # Plain http: botocore then always hashes the payload, as clients sign it.
        url=f"http://{headers.get('host', '')}{path}" + (f"?{query}" if query else ""),
        data=body,
        headers={name: headers.get(name, "") for name in signed},
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(
        Credentials(found["key"], token.aws_secret), SERVICE, found["region"]
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, found["signature"]):
        msg = (
            "The request signature we calculated does not match the signature you"
            " provided. Check your AWS Secret Access Key and signing method."
        )
        raise AwsError("InvalidSignatureException", msg)
    return Signed(token, found["region"])


def _check_moment(stamp: str, date: str, now: datetime) -> None:
    """The request was signed within five minutes of now, on its scope's date."""
    try:
        moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AwsError(
            "IncompleteSignatureException", "X-Amz-Date is not a SigV4 moment"
        ) from None
    if stamp[:8] != date:
        msg = "the credential's date is not X-Amz-Date's"
        raise AwsError("InvalidSignatureException", msg)
    if abs(now - moment) > MAX_SKEW:
        msg = (
            f"Signature expired: {stamp} is now earlier than"
            f" {(now - MAX_SKEW):%Y%m%dT%H%M%SZ} or later than"
            f" {(now + MAX_SKEW):%Y%m%dT%H%M%SZ}"
        )
        raise AwsError("InvalidSignatureException", msg)


def _check_payload(headers: Mapping[str, str], body: bytes) -> None:
    """A payload hash the client states must be the body's (it is what is signed)."""
    stated = headers.get("x-amz-content-sha256")
    if stated is None:
        return
    if stated == _UNSIGNED or stated != hashlib.sha256(body).hexdigest():
        msg = "the payload's SHA-256 is not the one the request states"
        raise AwsError("InvalidSignatureException", msg)
