"""The demo fleet in Chinese: the story's district and street, every name in Chinese."""

from __future__ import annotations

import re

from simulators import Fleet, FleetConfig
from whistle.demo_names import DISTRICT_ORGS, ORGS, district_org, localise

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_the_chinese_demo_fleet_tells_the_story_of_yanta() -> None:
    english = Fleet(FleetConfig(elevators=12, seed=7, buildings="mixed")).registry()
    zh = localise(english, "zh-CN")
    assert localise(english, "en") is english
    tower = zh["sites"][0]
    assert tower["district"] == "雁塔区" and "大雁塔街道" in tower["address"]
    for body in zh["sites"] + zh["elevators"]:
        assert HAN.search(body["name"]) and not re.search(r"[A-Za-z]{3,}", body["name"]), body
    assert {s["district"] for s in zh["sites"]} <= {"雁塔区", "碑林区", "新城区", "未央区",
                                                    "灞桥区", "长安区"}
    assert [e["id"] for e in zh["elevators"]] == [e["id"] for e in english["elevators"]]
    assert zh["elevators"][0]["name"].endswith("1单元A梯")
    names = [district_org(n, "雁塔区") for n, _ in DISTRICT_ORGS["zh-CN"]]
    assert names[:3] == ["雁塔区市场监督管理局", "雁塔区大雁塔街道办事处", "雁塔区星科社区居委会"]
    assert all(HAN.search(n) for n, _ in ORGS["zh-CN"])
