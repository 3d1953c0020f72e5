"""Who sees which elevator: the one definition of scope, in SQL and in Python.

A caller sees an elevator (and its alerts) when it is an admin; when it is the elevator's
*current* property organization; when it maintains the elevator; or when it is a district
organization (supervision, street, community, rescue) of the site's district (CONTRACT
section 3). The current property organization is the latest ``elevator_property`` row in
effect, so a handover moves visibility at its effective time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import sql

from core.domain import DISTRICT_KINDS, OrgKind, Principal

__all__ = ["CURRENT_PROPERTY_JOIN", "can_see", "property_org_at", "visible"]


def property_org_at(elevator_pk: str, at: str = "now()") -> str:
    """SQL: the property organization of the elevator ``elevator_pk`` at time ``at``."""
    return ("(SELECT p.org_id FROM elevator_property p "
            f"WHERE p.elevator_pk = {elevator_pk} AND p.effective_from <= {at} "
            "ORDER BY p.effective_from DESC LIMIT 1)")


# Joined after `elevators e`: cp.property_org_id is the current property organization.
CURRENT_PROPERTY_JOIN = (
    f"LEFT JOIN LATERAL (SELECT {property_org_at('e.pk')} AS property_org_id) cp ON true")


def visible(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """A WHERE clause (over e, s and cp) selecting the elevators the caller may see."""
    if principal.is_admin:
        return sql.SQL("true"), {}
    if principal.kind == OrgKind.PROPERTY:
        return sql.SQL("cp.property_org_id = %(scope_org)s"), {"scope_org": principal.org_id}
    if principal.kind == OrgKind.MAINTENANCE:
        return sql.SQL("e.maintenance_org_id = %(scope_org)s"), {"scope_org": principal.org_id}
    if principal.kind in DISTRICT_KINDS:
        return sql.SQL("s.district = %(scope_district)s"), {"scope_district": principal.district}
    return sql.SQL("false"), {}


def can_see(principal: Principal, row: Mapping[str, Any]) -> bool:
    """The same predicate in Python, over a row with ``scope_property_org_id``,
    ``scope_maintenance_org_id`` and ``district`` (see storage.alerts.with_scope)."""
    if principal.is_admin:
        return True
    if principal.kind == OrgKind.PROPERTY:
        return bool(row.get("scope_property_org_id") == principal.org_id)
    if principal.kind == OrgKind.MAINTENANCE:
        return bool(row.get("scope_maintenance_org_id") == principal.org_id)
    if principal.kind in DISTRICT_KINDS:
        return bool(row.get("district") == principal.district)
    return False
