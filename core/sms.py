"""SMS gateway request templates (issue 15), defined once for the API (checking a
template) and the SMS channel (rendering it).

A gateway is an HTTP request: ``url``, ``method``, ``content_type``, ``headers`` and a
``body``, each a :class:`string.Template` over :data:`PLACEHOLDERS` (``$phone``,
``$text``, ...). Values are escaped for where they go: JSON string content in a JSON body,
form encoding in a form body, percent-encoding in the URL; header values may not hold line
breaks. :data:`EXAMPLES` shows the request shapes of Aliyun SMS (dysmsapi SendSms) and
Tencent Cloud SMS (SendSms 2021-01-11); both also require a request signature of their
own, which the gateway's ``signing`` (``aliyun``, ``tencent``) adds (:mod:`core.smssign`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from string import Template
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["EXAMPLES", "PLACEHOLDERS", "check", "render"]

PLACEHOLDERS = ("phone", "text", "sign_name", "template_id", "api_key", "api_secret",
                "timestamp", "nonce", "case_id", "kind", "site", "elevator", "rescue_code",
                "link", "what")

EXAMPLES: dict[str, dict[str, Any]] = {
    "aliyun": {
        "url": "https://dysmsapi.aliyuncs.com/", "method": "POST",
        "content_type": "application/x-www-form-urlencoded", "headers": {},
        "body": ("Action=SendSms&Version=2017-05-25&RegionId=cn-hangzhou&Format=JSON"
                 "&AccessKeyId=$api_key&PhoneNumbers=$phone&SignName=$sign_name"
                 "&TemplateCode=$template_id"
                 "&TemplateParam=%7B%22case%22%3A%22$case_id%22%2C%22site%22%3A%22$site%22%7D"
                 "&SignatureNonce=$nonce"),
        "signing": "aliyun",  # api_key: AccessKeyId, api_secret: AccessKeySecret
    },
    "tencent": {
        "url": "https://sms.tencentcloudapi.com/", "method": "POST",
        "content_type": "application/json",
        "headers": {"X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11",
                    "X-TC-Region": "ap-guangzhou", "X-TC-Timestamp": "$timestamp"},
        # SmsSdkAppId: the application's id in the SMS console (not a secret)
        "body": ('{"PhoneNumberSet": ["$phone"], "SmsSdkAppId": "1400000000", '
                 '"SignName": "$sign_name", "TemplateId": "$template_id", '
                 '"TemplateParamSet": ["$case_id", "$site"]}'),
        "signing": "tencent",  # api_key: SecretId, api_secret: SecretKey
    },
}


def _escape(content_type: str) -> Any:
    if "json" in content_type:
        return lambda v: json.dumps(v, ensure_ascii=False)[1:-1]
    if "x-www-form-urlencoded" in content_type:
        return quote_plus
    return lambda v: v


def render(gateway: Mapping[str, Any], values: Mapping[str, str]
           ) -> tuple[str, str, dict[str, str], bytes]:
    """(method, url, headers, body) of one message; KeyError for an unknown placeholder,
    ValueError for a malformed template or a header value with a line break."""
    values = {k: str(values.get(k, "")) for k in PLACEHOLDERS}
    ctype = str(gateway.get("content_type") or "application/json")
    esc = _escape(ctype)
    body = Template(str(gateway["body"])).substitute({k: esc(v) for k, v in values.items()})
    url = Template(str(gateway["url"])).substitute(
        {k: quote(v, safe="") for k, v in values.items()})
    headers = {"Content-Type": ctype}
    for name, value in (gateway.get("headers") or {}).items():
        rendered = Template(str(value)).substitute(values)
        if "\r" in rendered or "\n" in rendered:
            raise ValueError(f"header {name}: a value may not hold a line break")
        headers[str(name)] = rendered
    return str(gateway.get("method") or "POST").upper(), url, headers, body.encode()


def check(gateway: Mapping[str, Any]) -> str | None:
    """What is wrong with a template (None if it renders)."""
    try:
        render(gateway, {k: "x" for k in PLACEHOLDERS})
    except KeyError as exc:
        return f"unknown placeholder ${exc.args[0]}; known: " + ", ".join(
            f"${p}" for p in PLACEHOLDERS)
    except ValueError as exc:
        return str(exc)
    return None
