"""Every new endpoint of CONTRACT section 5 against every kind of organization: 404 across
scopes, 403 beyond the role, and the people and tokens of an organization that ended."""

from __future__ import annotations

import pytest

from tests.builders import World, ok

KINDS = ("prop_a", "maint_1", "sup_d1", "community_d1", "street_d1", "rescue_d1",
         "prop_b", "maint_2", "sup_d2")


def expected(table: dict[str, int], who: str) -> int:
    return table.get(who, table.get("*", 0))


# (method, path template, body, {caller: status; "*": everyone else}); {org:NAME} and
# {site:NAME} are filled from the world. No call here may succeed for a non-admin.
CASES = [
    # another organization's people and tokens: 404; its own, not a manager: 403
    ("post", "/orgs/{org:prop_b}/people", {"login": "x1", "name": "x", "password": "p" * 12},
     {"*": 404, "prop_b": 403}),
    ("get", "/orgs/{org:prop_b}/tokens", None, {"*": 404, "prop_b": 403}),
    ("delete", "/orgs/{org:prop_b}/tokens/1", None, {"*": 404, "prop_b": 403}),
    ("patch", "/orgs/{org:prop_b}", {"name": "renamed"}, {"*": 403}),
    ("patch", "/sites/{site:S1}", {"name": "renamed"}, {"*": 403}),
    ("post", "/orgs/{org:prop_b}/end-service", {"reason": "x"},
     {"*": 403, "sup_d2": 200, "sup_d1": 404}),
    ("post", "/sites/{site:S2}/handover", {"property_org_id": "{org:prop_a}"},
     {"*": 404, "prop_b": 403, "maint_2": 403, "sup_d2": 200}),
    ("patch", "/elevators/E1", {"maintenance_org_id": "{org:maint_2}"},
     {"*": 403, "prop_b": 404, "maint_2": 404, "sup_d2": 404}),
]


def fill(world: World, text: str) -> str:
    for name, org_id in world.orgs.items():
        text = text.replace(f"{{org:{name}}}", str(org_id))
    for name, site_id in world.sites.items():
        text = text.replace(f"{{site:{name}}}", str(site_id))
    return text


@pytest.mark.parametrize("method,path,body,table", CASES,
                         ids=[f"{m} {p}" for m, p, _b, _t in CASES])
def test_each_kind_of_organization_gets_404_across_scopes_and_403_beyond_its_role(
        world: World, method: str, path: str, body: dict | None, table: dict[str, int]):
    for who in KINDS:
        want = expected(table, who)
        if want == 200:
            continue  # allowed: exercised below, not here (it would change the world)
        data = None
        if body is not None:
            data = {k: (int(fill(world, v)) if isinstance(v, str) and v.startswith("{org:")
                        else v) for k, v in body.items()}
        r = world.as_(who).request(method.upper(), fill(world, path), json=data)
        assert r.status_code == want, (who, method, path, r.status_code, r.text)


def test_the_allowed_callers_of_the_same_endpoints(world: World):
    ok(world.as_("sup_d2").post(f"/sites/{world.sites['S2']}/handover",
                                json={"property_org_id": world.orgs["prop_a"]}))
    assert {e["id"] for e in ok(world.as_("prop_a").get("/elevators"))} == {"E1", "E2", "E3"}
    ok(world.as_("sup_d2").post(f"/orgs/{world.orgs['prop_b']}/end-service",
                                json={"reason": "contract ended"}))


def test_people_and_tokens_of_an_organization_that_ended_answer_401(world: World):
    org = world.orgs["maint_2"]
    ok(world.admin.post(f"/orgs/{org}/people", json={
        "login": "boss2", "name": "Boss", "password": "a long password", "manager": True}),
        201)
    made = ok(world.admin.post(f"/orgs/{org}/tokens", json={"label": "robot"}), 201)
    import httpx
    with httpx.Client(base_url=f"{world.url}/api/v1", timeout=10) as person:
        assert person.post("/session", json={"login": "boss2",
                                             "password": "a long password"}).status_code == 200
        assert person.get("/me").status_code == 200
        ok(world.admin.post(f"/orgs/{org}/end-service", json={"reason": "gone"}))
        assert person.get("/me").status_code == 401
        assert person.get(f"/orgs/{org}/people").status_code == 401
        assert person.post("/session", json={"login": "boss2",
                                             "password": "a long password"}).status_code == 401
    with httpx.Client(base_url=f"{world.url}/api/v1", timeout=10,
                      headers={"Authorization": f"Bearer {made['token']}"}) as robot:
        assert robot.get("/alerts").status_code == 401
    assert world.as_("maint_2").get("/elevators").status_code == 401
    # admins still manage what is left of it
    assert len(ok(world.admin.get(f"/orgs/{org}/tokens"))) >= 2
