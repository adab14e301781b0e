"""STS ``GetCallerIdentity`` (AWS Query protocol, XML answer): the Airflow Glue hook calls it to build the
crawler ARN it tags. It is the only STS action the stand-in answers."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from smartcity.standin.service import ACCOUNT_ID

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def caller_identity_xml(access_key: str) -> str:
    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/smartcity-local"
    return (
        f'<GetCallerIdentityResponse xmlns="{_NS}"><GetCallerIdentityResult>'
        f"<Arn>{escape(arn)}</Arn><UserId>{escape(access_key)}</UserId><Account>{ACCOUNT_ID}</Account>"
        f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
        "</ResponseMetadata></GetCallerIdentityResponse>"
    )


def error_xml(code: str, message: str) -> str:
    return (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
