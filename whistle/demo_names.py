"""The demo fleet in Chinese (``whistle demo --lang zh-CN``): the story Whistle comes from,
a 33-storey tower with two units and 198 households in 雁塔区, 大雁塔街道 (Xi'an), and the
organizations that answer for it (fictional names; ../shared/GLOSSARY.md, last section).

The simulator speaks only the wire contract and names its buildings in English; the demo
renames what it registers, so the simulator needs no language of its own."""

from __future__ import annotations

import re
from typing import Any

DISTRICTS = {"Harbour": "雁塔区", "Riverside": "碑林区", "Old Town": "新城区",
             "Northgate": "未央区", "Eastfield": "灞桥区", "Hillcrest": "长安区"}
BUILDINGS = {"Tower": "住宅楼", "Office Block": "写字楼"}
ESTATES = {"雁塔区": "星科小区", "碑林区": "钟楼小区", "新城区": "解放门小区",
           "未央区": "凤城小区", "灞桥区": "浐灞小区", "长安区": "郭杜小区"}

ORGS = {
    "en": (("Riverside Property Services", "property"),
           ("Reliable Lift Maintenance", "maintenance")),
    "zh-CN": (("曲江安居物业服务有限公司", "property"),
              ("秦川电梯维保工程有限公司", "maintenance")),
}
DISTRICT_ORGS = {
    "en": (("{d} Special Equipment Supervision", "supervision"),
           ("{d} Street Office", "street"),
           ("{d} Community Committee", "community"),
           ("{d} Lift Rescue Team", "rescue")),
    "zh-CN": (("{d}市场监督管理局", "supervision"),
              ("{d}{street}街道办事处", "street"),
              ("{d}{community}社区居委会", "community"),
              ("{d}电梯应急救援中心", "rescue")),
}
# The street and community of the story in 雁塔区; elsewhere a name of the district's own.
STREETS = {"雁塔区": ("大雁塔", "星科"), "碑林区": ("南院门", "钟楼"),
           "新城区": ("西一路", "解放门"), "未央区": ("张家堡", "凤城"),
           "灞桥区": ("纺织城", "浐灞"), "长安区": ("郭杜", "神禾")}

SITE = re.compile(r"^(?P<district>.+) (?P<kind>Tower|Office Block) (?P<n>\d+)$")
CAR = re.compile(r"^(?P<site>.+?) (?:unit (?P<unit>\d+) )?car (?P<car>[A-Z])$")


def district_org(template: str, district: str) -> str:
    """The name of one of a district's organizations (see DISTRICT_ORGS)."""
    street, community = STREETS.get(district, ("", ""))
    return template.format(d=district, street=street, community=community)


def localise(registry: dict[str, Any], lang: str) -> dict[str, Any]:
    """The simulator's registry bodies with Chinese names and districts for zh-CN."""
    if lang != "zh-CN":
        return registry
    names: dict[str, str] = {}
    sites = []
    for body in registry["sites"]:
        district = DISTRICTS.get(body["district"], body["district"])
        m = SITE.match(body["name"])
        if m:
            kind = BUILDINGS[m["kind"]]
            name = f"{ESTATES.get(district, district)}{m['n']}号{kind}"
        else:
            name = body["name"]
        names[body["name"]] = name
        street = STREETS.get(district, ("", ""))[0]
        number = re.match(r"\d+", body.get("address", "")) or None
        sites.append({**body, "name": name, "district": district,
                      "address": f"西安市{district}{street}街道{number[0] if number else 1}号"})
    elevators = []
    for body in registry["elevators"]:
        m = CAR.match(body["name"])
        if m and m["site"] in names:
            unit = f"{m['unit']}单元" if m["unit"] else ""
            name = f"{names[m['site']]}{unit}{m['car']}梯"
        else:
            name = body["name"]
        elevators.append({**body, "name": name})
    return {**registry, "sites": sites, "elevators": elevators}


WELCOME = {
    "en": {"title": "Whistle demo", "dashboard": "Dashboard", "admin": "admin",
           "everything": "sees everything", "manages": "the elevators it manages",
           "maintains": "the elevators it maintains", "district": "every elevator in {d}",
           "sign_in": "Sign in with one of these tokens:",
           "story": "A passenger gets trapped in the tower 3 minutes in: its property company "
                    "reports for duty but nobody arrives, so the case climbs to the street "
                    "office. Open Cases on the dashboard to follow it. Ctrl-C stops."},
    "zh-CN": {"title": "Whistle 演示", "dashboard": "管理界面", "admin": "系统管理员",
              "everything": "可见全部电梯", "manages": "其管理的电梯",
              "maintains": "其维保的电梯", "district": "{d}的全部电梯",
              "sign_in": "用以下任一令牌登录：",
              "story": "3 分钟后，住宅楼里会有一名乘客被困：物业公司报到了，却没有人到场，"
                       "案件于是上报到街道办事处。在管理界面打开“案件”跟踪它。按 Ctrl-C 停止。"},
}
