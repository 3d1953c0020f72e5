"""The residents' phone pages over HTTP (no browser): small, script-free, in Chinese by
default, no internal ids, descriptions escaped, contacts never shown; the forms record
reports and feedback exactly like the JSON API and answer 303."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from core.settings import Settings
from storage.cases import duty
from tests.api.test_public_reports import case_of, code_of, resolve
from tests.builders import World, seen
from tests.helpers import ApiServer

MAX_PAGE_BYTES = 30 * 1024


@pytest.fixture()
def zh(settings: Settings, world: World) -> Iterator[httpx.Client]:
    """The app as deployed: pages in Chinese unless the visitor picks English."""
    with ApiServer(settings.model_copy(update={"default_lang": "zh-CN"})) as url, \
            httpx.Client(base_url=url, timeout=10) as c:
        yield c


def test_the_page_behind_the_qr_code(world: World, zh: httpx.Client,
                                     db: psycopg.Connection) -> None:
    world.elevator("E9", "S1", maintenance="maint_1", rescue_code="65432", name="3号楼客梯")
    code = code_of(db, "E9")
    r = zh.get(f"/r/{code}")
    assert r.status_code == 200 and r.headers["content-language"] == "zh-CN"
    page = r.text
    assert len(r.content) < MAX_PAGE_BYTES, len(r.content)
    assert "<script" not in page and "<link" not in page
    assert "3号楼客梯" in page and "S1" in page and "65432" in page
    assert "96333" in page and "110" in page and "119" in page and "120" in page
    assert "有人被困" in page and "电梯正常运行" in page
    for category in ("trapped", "stopped", "door", "noise", "complaint", "other"):
        assert f'value="{category}"' in page
    assert "E9" not in page  # no internal ids
    assert re.search(r'href="/r/\w+\?lang=en"', page)
    english = zh.get(f"/r/{code}", params={"lang": "en"}).text
    assert "Someone is trapped inside" in english and "This elevator is in service." in english

    gone = zh.get("/r/NoSuchCode123456")
    assert gone.status_code == 404 and "96333" in gone.text and "<script" not in gone.text
    assert zh.get("/r/not-a-code!").status_code == 404
    assert zh.get("/r/follow/NoSuchReference1234").status_code == 404


def test_the_page_says_out_of_service_or_being_repaired(world: World, zh: httpx.Client,
                                                        db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    seen(db, "E1")
    db.execute("UPDATE elevator_state SET latest = latest || '{\"mode\": \"out_of_service\"}' "
               "FROM elevators e WHERE e.pk = elevator_pk AND e.id = 'E1'")
    assert "电梯已停用" in zh.get(f"/r/{code}").text
    db.execute("UPDATE elevators SET sealed_at = now() WHERE id = 'E1'")
    assert "封停" in zh.get(f"/r/{code}").text
    db.execute("UPDATE elevators SET sealed_at = NULL WHERE id = 'E1'")
    db.execute("UPDATE elevator_state SET latest = latest || '{\"mode\": \"normal\"}'")
    zh.post(f"/r/{code}", data={"category": "door"})
    assert "正在维修" in zh.get(f"/r/{code}").text
    assert "being repaired" in zh.get(f"/r/{code}?lang=en").text


def test_the_form_records_a_report_and_the_follow_page_tells_its_progress(
        world: World, zh: httpx.Client, db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    evil = "<script>alert(1)</script> 门一直开着"
    r = zh.post(f"/r/{code}", data={"category": "door", "description": evil,
                                    "contact": "13900000000"})
    assert r.status_code == 303
    follow = r.headers["location"]
    reference = follow.rsplit("/", 1)[1]
    assert follow == f"/r/follow/{reference}"
    case = case_of(db, reference)
    assert case["reports"][0]["description"] == evil
    assert case["reports"][0]["contact"] == "13900000000"

    page = zh.get(follow)
    assert page.status_code == 200 and len(page.content) < MAX_PAGE_BYTES
    assert "<script" not in page.text and "13900000000" not in page.text
    assert "门一直开着" not in page.text  # nobody's description on the follow page
    assert "已受理" in page.text and "门有问题" in page.text and "prop_a" in page.text
    assert 'name="solved"' not in page.text

    # A second resident reports the same; the first sees "also reported by 1 other".
    assert zh.post(f"/r/{code}", data={"category": "noise"}).status_code == 303
    assert "另有 1 人也报告了此问题" in zh.get(follow).text
    assert "Also reported by 1 other person." in zh.get(follow, params={"lang": "en"}).text
    assert "已受理" in zh.get(follow, params={"lang": "zh-CN"}).text

    early = zh.post(f"{follow}/feedback", data={"solved": "true"})
    assert early.status_code == 409

    with db.transaction():
        duty.lock(db, case_id=case["id"])
        duty.arrive(db, case_id=case["id"], actor="maintenance:maint_1",
                    org_id=world.orgs["maint_1"], note=None)
    assert "处置人员已到场" in zh.get(follow).text
    resolve(db, reference, "misuse")
    page = zh.get(follow).text
    assert "处置完成" in page and "人为原因" in page and 'name="solved"' in page
    r = zh.post(f"{follow}/feedback", data={"solved": "false", "comment": "还是不行"})
    assert r.status_code == 303 and r.headers["location"] == follow
    assert case_of(db, reference)["reopened"] == 1
    assert "已重新办理" in zh.get(follow).text
    resolve(db, reference)
    assert zh.post(f"{follow}/feedback", data={"solved": "true"}).status_code == 303
    assert case_of(db, reference)["state"] == "closed"
    assert "已办结" in zh.get(follow).text


def test_the_form_says_what_to_fix(world: World, zh: httpx.Client,
                                   db: psycopg.Connection) -> None:
    code = code_of(db, "E1")
    r = zh.post(f"/r/{code}", data={"description": "没选类别 <script>x</script>"})
    assert r.status_code == 422 and "请选择问题类型" in r.text
    assert "没选类别 &lt;script&gt;x&lt;/script&gt;" in r.text and "<script" not in r.text
    r = zh.post(f"/r/{code}", data={"category": "door", "description": "长" * 1001})
    assert r.status_code == 422 and "最多 1000 字" in r.text
    r = zh.post(f"/r/{code}", data={"category": "door", "contact": "1" * 65})
    assert r.status_code == 422 and "联系方式过长" in r.text
    r = zh.post(f"/r/{code}", content=b"category=door&description=" + b"x" * 40_000,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert zh.post("/r/NoSuchCode123456", data={"category": "door"}).status_code == 404
    assert db.execute("SELECT count(*) FROM case_reports").fetchone()[0] == 0
    for _ in range(5):
        assert zh.post(f"/r/{code}", data={"category": "door"}).status_code == 303
    r = zh.post(f"/r/{code}", data={"category": "door"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "96333" in r.text
