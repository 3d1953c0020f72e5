"""The people's channels, each against a real local receiver: SMTP with STARTTLS and login
(aiosmtpd) receiving a plain-text and an HTML part; the enterprise WeChat, DingTalk and
Feishu robots' documented bodies, with DingTalk's and Feishu's signatures recomputed here
from their documentation; an SMS gateway rendered from a request template."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from core import sms as sms_templates
from core.settings import Settings
from rules.notify import texts
from rules.notify.channels import DeliveryError
from rules.notify.channels.dingtalk import DingTalk
from rules.notify.channels.email import Email
from rules.notify.channels.feishu import Feishu
from rules.notify.channels.sms import Sms
from rules.notify.channels.wecom import WeCom
from tests.rules.robots import Robot
from tests.rules.smtp import PASSWORD, USER, SmtpServer

SECRET = "SEC0123456789abcdef-robot-secret"
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CASE = {"id": 41, "kind": "rescue", "level": 0, "site_name": "Riverside Garden",
        "district": "Yanta", "elevator_id": "E1", "elevator_name": "Unit 2 east",
        "rescue_code": "12345", "opened_at": (NOW - timedelta(minutes=7)).isoformat(),
        "trapped_count": 2, "description": "two people in the car",
        "parties": [{"org_id": 1, "org_name": "Riverside Property", "called_at": "t",
                     "on_duty_at": None},
                    {"org_id": 2, "org_name": "Lift Care", "called_at": "t",
                     "on_duty_at": "t"}]}


def message(lang: str = "zh-CN") -> texts.Message:
    return texts.build(case=CASE, change="opened", org_id=1, now=NOW, lang=lang,
                       link="https://whistle.example.org/cases/41")


@pytest.fixture()
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def test_a_message_says_rescue_first_what_where_how_long_ago_who_else_and_links():
    zh = message("zh-CN")
    assert zh.subject.startswith("【紧急救援·有人被困】")
    for part in ("Riverside Garden", "Unit 2 east (E1)", "12345", "7 分钟前",
                 "Lift Care (已报到)", "https://whistle.example.org/cases/41"):
        assert part in zh.text and part in zh.markdown and part in zh.html
    assert "Riverside Property" not in zh.text  # the recipient is not "someone else"
    en = message("en")
    assert en.subject.startswith("RESCUE: PASSENGERS TRAPPED.")
    assert "opened 7 min ago" in en.text and "Lift Care (on duty)" in en.text
    fault = texts.build(case={**CASE, "kind": "fault"}, change="reminder", org_id=1,
                        now=NOW, lang="en", link="x")
    assert not fault.subject.startswith("RESCUE") and "reminder" in fault.subject
    alarm = texts.build(case={**CASE, "kind": "fault", "source": "alert",
                              "description": "alarm_pressed"}, change="opened", org_id=1,
                        now=NOW, lang="zh-CN", link="x")
    assert "情况: 轿厢紧急报警" in alarm.text


def test_email_goes_through_starttls_and_login_with_a_plain_and_an_html_part(tmp_path):
    with SmtpServer(tmp_path) as server:
        settings = Settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_user=USER,
                            smtp_password=PASSWORD, smtp_ca_file=server.ca_file,
                            smtp_from="whistle@example.org", data_dir=tmp_path)
        Email(settings).send(target="wang@example.org", secret=None, message=message("en"),
                             now=NOW.timestamp())
        [(rcpt, mail)] = server.messages
    assert rcpt == ["wang@example.org"]
    assert str(mail["Subject"]).strip().startswith("RESCUE")
    assert mail["Content-Language"] == "en"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    assert "Unit 2 east (E1)" in plain.get_content()
    assert '<a href="https://whistle.example.org/cases/41">' in html.get_content()


def test_email_in_chinese_and_refusals_are_delivery_errors(tmp_path):
    with SmtpServer(tmp_path) as server:
        good = Settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_user=USER,
                        smtp_password=PASSWORD, smtp_ca_file=server.ca_file,
                        data_dir=tmp_path)
        Email(good).send(target="li@example.org", secret=None, message=message(), now=0)
        [(_rcpt, mail)] = server.messages
        assert len(server.messages) == 1
        assert "救援识别码: 12345" in mail.get_body(("plain",)).get_content()
        wrong = good.model_copy(update={"smtp_password": "not-the-password"})
        with pytest.raises(DeliveryError, match="SMTP"):  # 535, or the server hangs up
            Email(wrong).send(target="li@example.org", secret=None, message=message(), now=0)
        untrusted = good.model_copy(update={"smtp_ca_file": None})
        with pytest.raises(DeliveryError, match="SSL"):
            Email(untrusted).send(target="li@example.org", secret=None, message=message(),
                                  now=0)
    with pytest.raises(DeliveryError, match="WHISTLE_SMTP_HOST"):
        Email(Settings(data_dir=tmp_path)).send(target="x@example.org", secret=None,
                                                message=message(), now=0)


def test_wecom_robot_gets_its_markdown_body(http):
    with Robot() as robot:
        url = f"{robot.base}/cgi-bin/webhook/send?key=the-robot-key"
        WeCom(http, allow_private=True).send(target=url, secret=None, message=message(),
                                             now=NOW.timestamp())
        [got] = robot.requests()
    assert got.path == "/cgi-bin/webhook/send?key=the-robot-key"
    assert got.headers["Content-Type"] == "application/json"
    assert set(got.json) == {"msgtype", "markdown"} and got.json["msgtype"] == "markdown"
    assert got.json["markdown"]["content"].startswith("**【紧急救援·有人被困】")


def test_dingtalk_robot_is_signed_as_documented(http):
    now = NOW.timestamp()
    with Robot() as robot:
        url = f"{robot.base}/robot/send?access_token=tok"
        DingTalk(http, allow_private=True).send(target=url, secret=SECRET, message=message(),
                                                now=now)
        [got] = robot.requests()
    q = got.query
    assert q["access_token"] == ["tok"] and q["timestamp"] == [str(int(now * 1000))]
    # the documentation: HmacSHA256(key=secret, timestamp + "\n" + secret), base64, urlencoded
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{q['timestamp'][0]}\n{SECRET}"
                                         .encode(), hashlib.sha256).digest()).decode()
    assert q["sign"] == [expected]  # parse_qs undid the URL encoding
    assert "%2B" in got.path or "%2F" in got.path or "%3D" in got.path  # it was encoded
    assert got.json["msgtype"] == "markdown"
    assert got.json["markdown"]["title"].startswith("【紧急救援")
    assert "12345" in got.json["markdown"]["text"]


def test_dingtalk_and_wecom_refusals_in_their_answer_are_errors(http):
    with (Robot(answer={"errcode": 310000, "errmsg": "sign not match"}) as robot,
          pytest.raises(DeliveryError, match="310000")):
        DingTalk(http, allow_private=True).send(target=f"{robot.base}/robot/send",
                                                secret=SECRET, message=message(), now=0)
    with Robot(status=500) as robot, pytest.raises(DeliveryError, match="HTTP 500"):
        WeCom(http, allow_private=True).send(target=f"{robot.base}/x", secret=None,
                                             message=message(), now=0)


def test_feishu_robot_is_signed_as_documented(http):
    now = NOW.timestamp()
    with Robot(answer={"code": 0, "msg": "success"}) as robot:
        Feishu(http, allow_private=True).send(target=f"{robot.base}/open-apis/bot/v2/hook/u",
                                              secret=SECRET, message=message(), now=now)
        [got] = robot.requests()
    body = got.json
    assert body["timestamp"] == str(int(now)) and body["msg_type"] == "text"
    # the documentation: key = timestamp + "\n" + secret, HMAC-SHA256 of an empty message
    key = f"{body['timestamp']}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()
                                            ).decode()
    assert body["content"]["text"].startswith("【紧急救援·有人被困】")


def test_a_robot_url_to_a_private_address_is_refused_without_the_allowance(http):
    with Robot() as robot, pytest.raises(DeliveryError, match="refused"):
        WeCom(http, allow_private=False).send(target=f"{robot.base}/x", secret=None,
                                              message=message(), now=0)
        assert robot.requests() == []


def test_sms_gateway_renders_its_json_template_with_escaped_values(http):
    with Robot(answer={"result": "ok"}) as robot:
        gw = {"url": f"{robot.base}/sms/send", "method": "POST",
              "content_type": "application/json",
              "headers": {"Authorization": "Bearer $api_key"},
              "body": '{"to": "$phone", "text": "$text", "sign": "$sign_name"}',
              "api_key": "sms-key-1234567890", "sign_name": "电梯安全", "daily_cap": 5}
        Sms(http, gw, allow_private=True).send(target="+8613800000000", secret=None,
                                               message=message(), now=0)
        [got] = robot.requests()
    assert got.headers["Authorization"] == "Bearer sms-key-1234567890"
    assert got.json["to"] == "+8613800000000" and got.json["sign"] == "电梯安全"
    assert got.json["text"].startswith("【紧急救援·有人被困】")  # quotes and newlines escaped


def test_the_providers_example_templates_render_and_their_refusals_are_errors(http):
    values = {p: f"v-{p}" for p in sms_templates.PLACEHOLDERS}
    _m, _u, _h, body = sms_templates.render(sms_templates.EXAMPLES["aliyun"], values)
    form = parse_qs(body.decode())
    assert form["Action"] == ["SendSms"] and form["PhoneNumbers"] == ["v-phone"]
    assert json.loads(form["TemplateParam"][0]) == {"case": "v-case_id", "site": "v-site"}
    _m, _u, headers, body = sms_templates.render(sms_templates.EXAMPLES["tencent"], values)
    assert json.loads(body)["PhoneNumberSet"] == ["v-phone"]
    assert headers["X-TC-Action"] == "SendSms"
    assert sms_templates.check({"url": "http://x", "body": "$nope"}) is not None
    with Robot(answer={"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "limit"}) as robot:
        gw = {**sms_templates.EXAMPLES["aliyun"], "url": f"{robot.base}/"}
        with pytest.raises(DeliveryError, match="BUSINESS_LIMIT"):
            Sms(http, gw, allow_private=True).send(target="13800000000", secret=None,
                                                   message=message(), now=0)


def test_sms_without_a_gateway_is_an_error(http, tmp_path: Path):
    with pytest.raises(DeliveryError, match="no SMS gateway"):
        Sms(http, None).send(target="13800000000", secret=None, message=message(), now=0)
