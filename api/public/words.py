"""What the residents' pages say about categories, causes and states, marked for the
catalogues (GLOSSARY.md, "Report categories" and "Causes") and translated when shown."""

from __future__ import annotations

from api.i18n import N_

CATEGORY_LABELS: dict[str, str] = {
    "trapped": N_("Someone is trapped inside"),
    "stopped": N_("The elevator has stopped or does not come"),
    "door": N_("Trouble with the doors"),
    "noise": N_("Strange noise or shaking"),
    "complaint": N_("A complaint (for example, poor maintenance)"),
    "other": N_("Another problem"),
}

CAUSE_LABELS: dict[str, str] = {
    "external": N_("an outside cause (power cut, fire, weather)"),
    "misuse": N_("misuse (doors blocked, vandalism, overload)"),
    "door_system": N_("the door system"),
    "drive_or_control": N_("the drive or control system"),
    "mechanical": N_("a mechanical part"),
    "electrical": N_("an electrical part"),
    "maintenance_quality": N_("the quality of maintenance"),
    "false_alarm": N_("a false alarm"),
    "other": N_("another cause"),
}

STATE_TEXT: dict[str, str] = {
    "open": N_("Received: the organizations responsible for this elevator have been told."),
    "on_site": N_("Someone is on site working on it."),
    "resolved": N_("The work is reported done."),
    "closed": N_("Finished (closed)."),
    "cancelled": N_("Cancelled (a false alarm or a duplicate report)."),
}
REOPENED_TEXT = N_("Reopened after the feedback: the responsible organizations have been "
                   "told again.")

ELEVATOR_STATUS: dict[str, str] = {
    "in_service": N_("This elevator is in service."),
    "out_of_service": N_("This elevator is out of service."),
    "sealed": N_("This elevator is out of service: the inspector has sealed it."),
    "being_repaired": N_("This elevator is being repaired: a problem with it is already "
                         "being handled."),
}

FORM_ERRORS: dict[str, str] = {
    "category": N_("Choose what is wrong."),
    "description": N_("The description is too long (at most 1,000 characters)."),
    "contact": N_("The contact is too long (at most 64 characters)."),
    "comment": N_("The comment is too long (at most 1,000 characters)."),
    "too_large": N_("The form is too large."),
    "not_resolved": N_("Feedback can be given once the work is reported done."),
}
