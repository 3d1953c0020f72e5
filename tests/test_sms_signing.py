"""The SMS providers' request signatures (core/smssign.py) against the providers' own
SDKs: the Tencent Cloud SDK sends a real signed request to a local receiver and Whistle,
given the same request, computes the same Authorization; the Aliyun SDK signs a parameter
set and Whistle computes the same Signature."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from core import smssign
from tests.rules.receivers import Receiver

tencent_common = pytest.importorskip("tencentcloud.common.common_client")
aliyun_composer = pytest.importorskip("aliyunsdkcore.auth.composer.rpc_signature_composer")


def test_tencent_tc3_is_the_sdks() -> None:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    with Receiver() as rx:
        endpoint = urlsplit(rx.url).netloc
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint, protocol="http",
                                                        reqMethod="POST"))
        client = tencent_common.CommonClient(
            "sms", "2021-01-11", credential.Credential("AKIDtestSecretId", "testSecretKey"),
            "ap-guangzhou", profile=profile)
        body = {"PhoneNumberSet": ["+8613800000000"], "SmsSdkAppId": "1400000000",
                "SignName": "电梯安全", "TemplateId": "1234567",
                "TemplateParamSet": ["42", "雁塔小区"]}
        with pytest.raises((TencentCloudSDKException, ValueError, KeyError, TypeError)):
            client.call_json("SendSms", body)  # the receiver's answer is no API answer
        [got] = rx.requests
    headers = {"Content-Type": got.headers["Content-Type"],
               "X-TC-Timestamp": got.headers["X-TC-Timestamp"]}
    signed = smssign.tencent(headers, got.body, host=got.headers["Host"],
                             secret_id="AKIDtestSecretId", secret_key="testSecretKey")
    assert signed["Authorization"] == got.headers["Authorization"]
    assert json.loads(got.body)["SignName"] == "电梯安全"
    # and a changed body no longer matches
    forged = smssign.tencent(headers, got.body.replace(b"42", b"43"),
                             host=got.headers["Host"], secret_id="AKIDtestSecretId",
                             secret_key="testSecretKey")
    assert forged["Authorization"] != got.headers["Authorization"]


def test_aliyun_rpc_signature_is_the_sdks() -> None:
    params = {"Action": "SendSms", "Version": "2017-05-25", "RegionId": "cn-hangzhou",
              "PhoneNumbers": "13800000000", "SignName": "电梯安全",
              "TemplateCode": "SMS_123456789",
              "TemplateParam": json.dumps({"case": "42", "site": "雁塔 小区*~"},
                                          ensure_ascii=False)}
    url, _ = aliyun_composer.get_signed_url(dict(params), "testAccessKeyId", "testSecret",
                                            "JSON", "POST", {})
    sdk = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert smssign.aliyun_signature("POST", sdk, "testSecret") == sdk["Signature"]
    # Whistle's signed body, built from the SDK's timestamp and nonce, carries it too
    form = {k: v for k, v in sdk.items() if k != "Signature"}
    body = smssign.aliyun("POST", urlencode(form).encode(), access_key_id="testAccessKeyId",
                          secret="testSecret", now=0).decode()
    assert dict(parse_qsl(body))["Signature"] == sdk["Signature"]
    assert smssign.aliyun_signature("POST", {**sdk, "PhoneNumbers": "13900000000"},
                                    "testSecret") != sdk["Signature"]


def test_the_sms_channel_signs_with_the_gateways_provider() -> None:
    """The shipped Aliyun and Tencent templates, sent by the SMS channel: the receiver
    checks the signature (Aliyun's with the SDK's own string to sign)."""
    import httpx

    from core import sms as templates
    from rules.notify.channels.sms import Sms
    from tests.rules.robots import Robot
    from tests.rules.test_people_channels import message

    compose = getattr(aliyun_composer, "__compose_string_to_sign")
    sdk_sign = getattr(aliyun_composer, "__get_signature")
    with httpx.Client(timeout=5) as http:
        with Robot(answer={"Code": "OK"}) as robot:
            gw = {**templates.EXAMPLES["aliyun"], "url": f"{robot.base}/",
                  "api_key": "LTAItestkey", "api_secret": "aliyun-secret",
                  "sign_name": "电梯安全", "template_id": "SMS_1"}
            Sms(http, gw, allow_private=True).send(target="13800000000", secret=None,
                                                   message=message(), now=1_796_000_000)
            [got] = robot.requests()
        form = dict(parse_qsl(got.body.decode(), keep_blank_values=True))
        signature = form.pop("Signature")
        assert sdk_sign(compose("POST", form), "aliyun-secret") == signature
        assert form["AccessKeyId"] == "LTAItestkey" and form["SignName"] == "电梯安全"
        assert json.loads(form["TemplateParam"])["case"] == "41"

        with Robot(answer={"Response": {"RequestId": "x"}}) as robot:
            gw = {**templates.EXAMPLES["tencent"], "url": f"{robot.base}/",
                  "api_key": "AKIDtest", "api_secret": "tencent-secret",
                  "sign_name": "电梯安全", "template_id": "1234567"}
            Sms(http, gw, allow_private=True).send(target="+8613800000000", secret=None,
                                                   message=message(), now=1_796_000_000)
            [got] = robot.requests()
        again = smssign.tencent({"Content-Type": got.headers["Content-Type"],
                                 "X-TC-Timestamp": got.headers["X-TC-Timestamp"]}, got.body,
                                host=got.headers["Host"], secret_id="AKIDtest",
                                secret_key="tencent-secret")
        assert got.headers["Authorization"] == again["Authorization"]
        assert got.headers["Authorization"].startswith("TC3-HMAC-SHA256 Credential=AKIDtest/")
