"""The words of the pages for the values Whistle stores (statuses, kinds, states...) and the
strings of the dashboard's JavaScript, marked for the catalogues and translated when shown.

The JavaScript has no strings of its own: each page carries ``script_strings()`` as a JSON
block (``#whistle-i18n``), translated on the server, and the scripts read it.
"""

from __future__ import annotations

from typing import Any

from api.i18n import N_, Lang

VOCABULARY: dict[str, dict[str, str]] = {
    "status": {"normal": N_("Normal"), "warning": N_("Warning"), "fault": N_("Fault"),
               "offline": N_("Offline"), "out_of_service": N_("Out of service"),
               "unknown": N_("Unknown")},
    "severity": {"critical": N_("critical"), "major": N_("major"), "minor": N_("minor"),
                 "warning": N_("warning")},
    "kind": {
        "trapped_passenger": N_("trapped passenger"),
        "door_open_while_moving": N_("door open while moving"),
        "overspeed": N_("overspeed"), "overrun": N_("overrun"),
        "safety_circuit_open": N_("safety circuit open"), "power_loss": N_("power loss"),
        "leveling_error": N_("leveling error"), "door_fault": N_("door fault"),
        "motor_overheat": N_("motor overheat"),
        "abnormal_vibration": N_("abnormal vibration"), "alarm_pressed": N_("alarm pressed"),
        "offline": N_("offline"), "sealed_in_use": N_("sealed but in use"),
        "inspection_overdue": N_("inspection overdue"),
        "maintenance_overdue": N_("maintenance overdue"),
        "door_closing_slow": N_("door closing slow"),
    },
    "state": {"open": N_("open"), "acknowledged": N_("acknowledged"),
              "resolved": N_("resolved")},
    "action": {"raised": N_("raised"), "updated": N_("updated"),
               "acknowledged": N_("reported for duty"), "arrived": N_("arrived on site"),
               "escalated": N_("escalated"), "notified": N_("notified"),
               "resolved": N_("resolved"), "noted": N_("noted"),
               "unsilenced": N_("silence over")},
    "org": {"admin": N_("admin"), "property": N_("property company"),
            "maintenance": N_("maintenance company"), "supervision": N_("supervision"),
            "community": N_("residents' committee"), "street": N_("street office"),
            "rescue": N_("rescue organization")},
    "level": {"0": N_("property"), "1": N_("maintenance"), "2": N_("community and street"),
              "3": N_("supervision")},
    "result": {"pass": N_("pass"), "conditional": N_("conditional"), "fail": N_("fail")},
    "door": {"closed": N_("closed"), "opening": N_("opening"), "open": N_("open"),
             "closing": N_("closing")},
    "mode": {"normal": N_("normal"), "inspection": N_("inspection"),
             "maintenance": N_("maintenance"), "fire": N_("fire service"),
             "out_of_service": N_("out of service")},
    "power": {"mains": N_("mains"), "backup": N_("backup"), "none": N_("none")},
    "connection": {"online": N_("online"), "offline": N_("offline")},
    "outcome": {"delivered": N_("delivered"), "retry": N_("to be retried"),
                "gave_up": N_("given up"), "pending": N_("pending")},
    # cases (CONTRACT section 6)
    "case_kind": {"rescue": N_("rescue"), "fault": N_("fault"), "hazard": N_("hazard"),
                  "complaint": N_("complaint"),
                  "responsibility_gap": N_("responsibility gap")},
    "case_state": {"open": N_("awaiting arrival"), "on_site": N_("on site"),
                   "resolved": N_("resolved"), "closed": N_("concluded"),
                   "cancelled": N_("cancelled")},
    "cause": {"external": N_("external (power cut, fire, weather)"),
              "misuse": N_("misuse (doors blocked, vandalism, overload)"),
              "door_system": N_("door system"), "drive_or_control": N_("drive or control"),
              "mechanical": N_("mechanical parts"), "electrical": N_("electrical parts"),
              "maintenance_quality": N_("maintenance quality"),
              "false_alarm": N_("false alarm"), "other": N_("other cause")},
    "category": {"trapped": N_("someone trapped"), "stopped": N_("elevator stopped"),
                 "door": N_("door problem"), "noise": N_("noise or shaking"),
                 "complaint": N_("complaint"), "other": N_("other problem")},
    "source": {"alert": N_("an alert"), "report": N_("a resident's report"),
               "org": N_("an organization"), "inspection": N_("an inspection"),
               "responsibility": N_("end of service")},
    "case_action": {"opened": N_("case opened"), "alert_added": N_("alert gathered"),
                    "reported": N_("report received"), "on_duty": N_("reported for duty"),
                    "late": N_("late"), "arrived": N_("arrived on site"),
                    "rescued": N_("rescue recorded"), "noted": N_("noted"),
                    "escalated": N_("escalated"), "overdue": N_("overdue"),
                    "resolved": N_("resolved"), "feedback": N_("reporter's feedback"),
                    "reopened": N_("reopened"), "closed": N_("concluded"),
                    "cancelled": N_("cancelled"), "notified": N_("notified"),
                    "reminded": N_("reminded"), "unsilenced": N_("silence over")},
    "weekday": {"1": N_("Monday"), "2": N_("Tuesday"), "3": N_("Wednesday"),
                "4": N_("Thursday"), "5": N_("Friday"), "6": N_("Saturday"),
                "7": N_("Sunday")},
    "channel": {"email": N_("e-mail"), "sms": N_("SMS"), "wecom": N_("WeCom robot"),
                "dingtalk": N_("DingTalk robot"), "feishu": N_("Feishu robot"),
                "none": N_("nobody to reach")},
    "delivery": {"pending": N_("waiting"), "sending": N_("sending"),
                 "delivered": N_("delivered"), "failed": N_("failed"),
                 "skipped": N_("skipped"), "gave_up": N_("failed"), "retry": N_("retrying")},
    "duty": {"on": N_("on duty instead"), "off": N_("off duty")},
    "duty_source": {"override": N_("by an override"), "roster": N_("by the weekly shifts"),
                    "none": N_("nobody: the organization's default channels are used")},
    "deadline": {"accept_by": N_("report for duty by"), "arrive_by": N_("arrive by"),
                 "resolve_by": N_("resolve by")},
    "mark": {"duty": N_("on duty"), "late_duty": N_("on duty, late"),
             "late": N_("late, not on duty"), "waiting": N_("not yet")},
}

# What the scripts say (keys are what they ask for with Whistle.t("key")).
SCRIPT_TEXT: dict[str, str] = {
    "toast.ack": N_("Reported for duty"),
    "toast.arrive": N_("Arrival on site recorded"),
    "toast.resolve": N_("Resolved"),
    "toast.done": N_("{action}: {kind} on {elevator}"),
    "live.live": N_("● live"),
    "live.lost": N_("○ reconnecting…"),
    "chart.empty": N_("No data in this period."),
    "chart.note": N_("Per {bucket} bucket: averages and extremes of {samples} samples."),
    "chart.none": N_("No telemetry in the last {hours} h."),
    "chart.failed": N_("Could not load the history: {error}"),
    "chart.position": N_("position"), "chart.lowest": N_("lowest"),
    "chart.highest": N_("highest"), "chart.speed_max": N_("speed (max)"),
    "chart.average": N_("average"), "chart.max": N_("max"),
    "chart.time": N_("time"),
    "tile.acknowledged": N_("acknowledged"),
    "error.http": N_("request failed (HTTP {status})"),
    "toast.case": N_("Recorded on case {id}"),
    "deadline.left": N_("{d} left"),
    "deadline.passed": N_("passed {d} ago"),
}


def label(value: Any, vocabulary: str, lang: Lang) -> str:
    """A stored value ('trapped_passenger') in the page's words ('困人')."""
    text = str(value if value is not None else "")
    word = VOCABULARY.get(vocabulary, {}).get(text)
    return lang.gettext(word) if word else text.replace("_", " ")


def script_strings(lang: Lang) -> dict[str, Any]:
    """Everything the scripts show, in the page's language, with its language and zone."""
    return {
        "lang": lang.code,
        "zone": str(lang.zone),
        "text": {k: lang.gettext(v) for k, v in SCRIPT_TEXT.items()},
        "units": {k: lang.gettext(v) for k, v in (("s", "s"), ("min", "min"), ("h", "h"),
                                                   ("d", "d"))},
        "vocabulary": {name: {k: lang.gettext(v) for k, v in words.items()}
                       for name, words in VOCABULARY.items()
                       if name in ("status", "severity", "kind", "state")},
    }
