"""Schemathesis over the whole OpenAPI document of the real app: generated requests to
every operation, as an admin, a property and a maintenance organization, never get a 5xx. Bounded
(a few examples per operation and token) so it stays part of `make test`."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from tests.builders import World, raise_alert

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 12
# Endpoints that stream until the client leaves are exercised in test_alerts_stream.py.
SKIP = ("/alerts/stream", "/cases/stream")


def test_no_generated_request_gets_a_server_error(world: World, db: Any) -> None:
    raise_alert(db, "E1", "power_loss")  # something to find: an alert, its case
    schema = schemathesis.openapi.from_url(f"{world.url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if not op.path.endswith(SKIP)]
    assert len(operations) > 40, "the document must list the API"
    failures: list[str] = []
    answered: dict[str, int] = {}
    # the property organization first: the admin's generated calls may end its service
    for name, token in (("prop_a", world.tokens["prop_a"]), ("maint_1", world.tokens["maint_1"]),
                        ("admin", world.admin_token)):
        for op in operations:
            fuzz(op, name, {"Authorization": f"Bearer {token}"}, world.url, failures,
                 answered)
    assert failures == [], "\n".join(failures[:20])
    # the tokens worked: some generated requests were answered 2xx, for each caller
    assert answered.get("admin 2xx", 0) > 20 and answered.get("prop_a 2xx", 0) > 5, answered


def fuzz(op: Any, name: str, headers: dict[str, str], base_url: str,
         failures: list[str], answered: dict[str, int]) -> None:
    """Generated requests to one operation; a 5xx is written down, not raised, so every
    operation is tried."""
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def call(case: Any) -> None:
        try:
            r = case.call(base_url=base_url, headers=headers, timeout=30)
        except requests.Timeout:
            failures.append(f"{name}: {op.method.upper()} {op.path} took over 30 s "
                            f"({case.as_curl_command()})")
            return
        key = f"{name} {r.status_code // 100}xx"
        answered[key] = answered.get(key, 0) + 1
        if r.status_code >= 500:
            failures.append(f"{name}: {op.method.upper()} {op.path} -> {r.status_code} "
                            f"{r.text[:200]} ({case.as_curl_command()})")

    call()
