"""What the ingester refused, for operators (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AdminDep, ConnDep, PageDep
from storage import registry

router = APIRouter(tags=["ingest"])


@router.get("/ingest/rejects")
def list_rejects(conn: ConnDep, _admin: AdminDep, page: PageDep,
                 reason: Annotated[str | None, Query(max_length=64)] = None,
                 elevator_id: Annotated[str | None, Query(max_length=64)] = None
                 ) -> list[dict[str, Any]]:
    """Rejected messages, newest first, with the first 4 KiB of each payload."""
    rows = registry.list_rejects(conn, limit=page.limit, offset=page.offset, reason=reason,
                                 elevator_id=elevator_id)
    for r in rows:
        payload: bytes = bytes(r.pop("payload"))
        r["payload"] = payload.decode("utf-8", errors="replace")
        r["payload_truncated"] = r["payload_size"] > len(payload)
    return rows
