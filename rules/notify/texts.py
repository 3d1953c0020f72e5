"""What people read about a case (issue 15): one message in Chinese (the default, for
group robots) or English, in the shapes the channels need (subject, plain text, markdown,
HTML, a short SMS), each saying what happened, where (site, district, elevator name,
rescue code), how long ago, who else has been called, and with the link to the case page.
A rescue message says so first.

The wording lives here and not in the dashboard's catalogues: the rules service sends these
messages and does not depend on the API layer.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from rules.notify.channels import Message

__all__ = ["LANGS", "build", "build_all"]

LANGS = ("zh-CN", "en")

Row = dict[str, Any]

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "rescue_first": "【紧急救援·有人被困】",
        "kind.rescue": "困人救援", "kind.fault": "故障", "kind.hazard": "隐患",
        "kind.complaint": "投诉", "kind.responsibility_gap": "管理责任空缺",
        "change.opened": "新工单，请立即报到",
        "change.escalated": "工单已升级（第 {level} 级），请报到",
        "change.reminder": "提醒：贵单位尚未报到", "change.late": "报到超时",
        "change.overdue": "工单超时", "change.unsilenced": "静默期结束，请报到",
        "site": "小区/项目", "district": "辖区", "elevator": "电梯", "rescue_code": "救援识别码",
        "ago": "{minutes} 分钟前发起", "ago_now": "刚刚发起",
        "called": "已通知", "none_called": "（无其他单位）", "on_duty": "已报到",
        "not_on_duty": "未报到", "link": "查看并报到", "case": "工单",
        "trapped": "被困人数", "description": "情况",
    },
    "en": {
        "rescue_first": "RESCUE: PASSENGERS TRAPPED.",
        "kind.rescue": "rescue", "kind.fault": "fault", "kind.hazard": "hazard",
        "kind.complaint": "complaint", "kind.responsibility_gap": "responsibility gap",
        "change.opened": "new case: report for duty now",
        "change.escalated": "the case climbed to level {level}: report for duty",
        "change.reminder": "reminder: your organization has not reported for duty",
        "change.late": "reporting for duty is late", "change.overdue": "the case is overdue",
        "change.unsilenced": "a silence is over: report for duty",
        "site": "Site", "district": "District", "elevator": "Elevator",
        "rescue_code": "Rescue code", "ago": "opened {minutes} min ago",
        "ago_now": "opened just now", "called": "Called", "none_called": "(nobody else)",
        "on_duty": "on duty", "not_on_duty": "not on duty", "link": "Open and report for duty",
        "case": "Case", "trapped": "Trapped", "description": "Description",
    },
}


# A case opened by an alert carries the alert's kind as its description.
ALERT_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {"trapped_passenger": "困人", "door_open_while_moving": "开门运行",
              "overspeed": "超速", "overrun": "冲顶/蹲底", "safety_circuit_open": "安全回路断开",
              "power_loss": "停电", "leveling_error": "平层异常", "door_fault": "门系统故障",
              "motor_overheat": "电机过热", "abnormal_vibration": "运行振动异常",
              "alarm_pressed": "轿厢紧急报警", "offline": "离线", "sealed_in_use": "封停后运行",
              "inspection_overdue": "定期检验超期", "maintenance_overdue": "维保超期",
              "door_closing_slow": "关门迟缓"},
    "en": {},
}


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def build(*, case: Row, change: str, org_id: int, now: datetime, lang: str, link: str
          ) -> Message:
    """The message about a case change to one organization, in ``lang``."""
    w = WORDS[lang if lang in WORDS else "zh-CN"]
    kind = str(case.get("kind") or "")
    rescue = kind == "rescue"
    level = int(case.get("level") or 0)
    what = w.get(f"change.{change}", change).format(level=level)
    kind_word = w.get(f"kind.{kind}", kind)
    opened = _time(case.get("opened_at"))
    minutes = int((now - opened).total_seconds() // 60) if opened else 0
    ago = w["ago"].format(minutes=minutes) if minutes >= 1 else w["ago_now"]
    elevator = case.get("elevator_name") or case.get("elevator_id") or "-"
    if case.get("elevator_id") and case.get("elevator_name"):
        elevator = f"{case['elevator_name']} ({case['elevator_id']})"
    where = [(w["site"], str(case.get("site_name") or "-")),
             (w["district"], str(case.get("district") or "-")),
             (w["elevator"], str(elevator))]
    if case.get("rescue_code"):
        where.append((w["rescue_code"], str(case["rescue_code"])))
    others = [p for p in case.get("parties") or []
              if p.get("called_at") and p.get("org_id") != org_id]
    called = "; ".join(
        f"{p['org_name']} ({w['on_duty'] if p.get('on_duty_at') else w['not_on_duty']})"
        for p in others) or w["none_called"]
    head = f"{w['rescue_first']} " if rescue else ""
    title = f"{head}{w['case']} #{case['id']} {kind_word}: {what}"
    lines = [title, f"{ago}"] + [f"{k}: {v}" for k, v in where]
    if rescue and case.get("trapped_count"):
        lines.append(f"{w['trapped']}: {case['trapped_count']}")
    if case.get("description"):
        description = str(case["description"])
        if case.get("source") == "alert":
            words = ALERT_WORDS.get(lang, {})
            description = words.get(description, description.replace("_", " "))
        lines.append(f"{w['description']}: {description[:300]}")
    lines += [f"{w['called']}: {called}", f"{w['link']}: {link}"]
    text = "\n".join(lines)
    md = "\n".join([f"**{title}**", f"> {ago}"] + [f"- {k}: {v}" for k, v in where[:]]
                   + lines[2 + len(where):-1] + [f"[{w['link']}]({link})"])
    esc = html.escape
    body = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in where)
    rest = "".join(f"<p>{esc(x)}</p>" for x in lines[2 + len(where):-1])
    page = (f"<html><body><h2>{esc(title)}</h2><p>{esc(ago)}</p><ul>{body}</ul>{rest}"
            f'<p><a href="{esc(link)}">{esc(w["link"])}</a></p></body></html>')
    short = f"{head}{kind_word} #{case['id']} {case.get('site_name') or ''} {elevator}: " \
            f"{what}. {link}"
    fields = {"case_id": str(case["id"]), "kind": kind_word,
              "site": str(case.get("site_name") or ""), "elevator": str(elevator),
              "rescue_code": str(case.get("rescue_code") or ""), "link": link, "what": what}
    return Message(lang=lang, subject=title, text=text, markdown=md, html=page, short=short,
                   fields=fields)


def build_all(*, case: Row, change: str, org_id: int, now: datetime, link: str
              ) -> dict[str, Row]:
    """The message in every language, as stored on a notification row."""
    out: dict[str, Row] = {}
    for lang in LANGS:
        m = build(case=case, change=change, org_id=org_id, now=now, lang=lang, link=link)
        out[lang] = {"lang": m.lang, "subject": m.subject, "text": m.text,
                     "markdown": m.markdown, "html": m.html, "short": m.short,
                     "fields": m.fields}
    return out
