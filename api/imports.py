"""Bulk import files: organizations, sites and elevators in CSV or JSON, parsed and checked
row by row (every problem with its line and field) before :mod:`storage.bulk` checks them
against each other and the database and writes them.

CSV: one header line, one row per record, a ``type`` column (``org``, ``site`` or
``elevator``) and the fields of that type (cells of other types' columns stay empty);
``landings_m`` is a list of heights separated by ``;``. JSON: an array of objects with the
same fields (``type`` included; ``landings_m`` a JSON array). The README has an example.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from pydantic import Field, ValidationError

from api.schemas import ElevatorCreate, Name, OrgCreate, SiteCreate
from core.domain import DISTRICT_KINDS
from storage.bulk import ElevatorIn, OrgIn, Plan, Problem, Refused, SiteIn

TYPES = ("org", "site", "elevator")
MAX_PROBLEMS = 1000  # reported at most (the file is refused anyway)
TOO_MANY_CELLS = object()  # a CSV row longer than its header


class OrgRow(OrgCreate):
    """An ``org`` row: the body of POST /orgs."""

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) of what the fields cannot say alone."""
        if self.kind in DISTRICT_KINDS and not self.district:
            return [("district", f"an organization of kind {self.kind} needs a district")]
        return []


class SiteRow(SiteCreate):
    """A ``site`` row: POST /sites, the property organization by name or by id."""

    property_org_id: int | None = None  # type: ignore[assignment]
    property_org: Name | None = None

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) of what the fields cannot say alone."""
        if (self.property_org is None) == (self.property_org_id is None):
            return [("property_org", "give property_org (a name) or property_org_id")]
        return []


class ElevatorRow(ElevatorCreate):
    """An ``elevator`` row: POST /elevators, the site and maintenance organization by name
    (``site_address`` tells sites of one name apart) or by id."""

    site_id: int | None = None  # type: ignore[assignment]
    site: Name | None = None
    site_address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    maintenance_org: Name | None = None

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) of what the fields cannot say alone."""
        out = []
        if (self.site is None) == (self.site_id is None):
            out.append(("site", "give site (a name) or site_id"))
        if self.maintenance_org is not None and self.maintenance_org_id is not None:
            out.append(("maintenance_org", "give maintenance_org or maintenance_org_id, "
                                           "not both"))
        return out


Row = OrgRow | SiteRow | ElevatorRow
MODELS: dict[str, type[Row]] = {"org": OrgRow, "site": SiteRow, "elevator": ElevatorRow}


def _problems(line: int, exc: ValidationError) -> list[Problem]:
    out = []
    for e in exc.errors():
        fld = ".".join(str(p) for p in e.get("loc", ())) or "row"
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(Problem(line, fld, message))
    return out


def _add(plan: Plan, line: int, row: Row) -> None:
    if isinstance(row, OrgRow):
        plan.orgs.append(OrgIn(line, row.name, row.kind, row.district))
    elif isinstance(row, SiteRow):
        plan.sites.append(SiteIn(line, row.name, row.address, row.district,
                                 row.property_org, row.property_org_id))
    elif isinstance(row, ElevatorRow):
        plan.elevators.append(ElevatorIn(
            line, row.id, row.name, row.rated_speed_mps, row.rated_load_kg, row.min_floor,
            row.max_floor, row.travel_m, row.landings(), row.site, row.site_address,
            row.site_id, row.model, row.maintenance_org, row.maintenance_org_id,
            row.next_inspection_due, row.registration_code, row.rescue_code))


def _records(records: list[tuple[int, Any]]) -> Plan:
    """Validate (line, record) pairs into a plan; Refused with every problem."""
    plan, problems = Plan(), []
    for line, record in records:
        if record is TOO_MANY_CELLS:
            problems.append(Problem(line, "row", "more cells than the header has columns"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(line, "row", "each record is an object"))
            continue
        fields = dict(record)
        kind = fields.pop("type", None)
        if kind not in MODELS:
            problems.append(Problem(line, "type", "must be one of " + ", ".join(TYPES)))
            continue
        try:
            row = MODELS[kind].model_validate(fields)
        except ValidationError as exc:
            problems += _problems(line, exc)
            continue
        more = row.problems()
        problems += [Problem(line, f, m) for f, m in more]
        if not more:
            _add(plan, line, row)
    if not records:
        raise Refused([Problem(1, "file", "the file has no records")])
    plan.problems = problems[:MAX_PROBLEMS]
    return plan


def _csv_records(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise Refused([Problem(1, "file", f"not valid CSV: {exc}")]) from None
    if not header or "type" not in header:
        raise Refused([Problem(1, "type", "the header line needs a type column")])
    out: list[tuple[int, Any]] = []
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            raise Refused([Problem(line, "file", f"not valid CSV: {exc}")]) from None
        if "\0extra" in row:
            out.append((line, TOO_MANY_CELLS))
            line = reader.line_num + 1
            continue
        fields: dict[str, Any] = {k: v.strip() for k, v in row.items()
                                  if k and v is not None and v.strip() != ""}
        if "landings_m" in fields:
            fields["landings_m"] = [h.strip() for h in fields["landings_m"].split(";")]
        if fields:
            out.append((line, fields))
        line = reader.line_num + 1


def _json_records(text: str) -> list[tuple[int, Any]]:
    """The elements of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip(0)
    if pos >= len(text) or text[pos] != "[":
        raise Refused([Problem(line_of(pos), "file", "a JSON file is an array of records")])
    out: list[tuple[int, Any]] = []
    pos = skip(pos + 1)
    try:
        if pos < len(text) and text[pos] == "]":
            return out
        while True:
            start = pos
            record, pos = decoder.raw_decode(text, pos)
            out.append((line_of(start), record))
            pos = skip(pos)
            if pos < len(text) and text[pos] == ",":
                pos = skip(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                break
            raise ValueError("expected , or ]")
    except ValueError as exc:
        where = exc.pos if isinstance(exc, json.JSONDecodeError) else pos
        raise Refused([Problem(line_of(where), "file",
                               f"not valid JSON here: {str(exc).split(':')[0]}")]) from None
    if skip(pos + 1) != len(text):
        raise Refused([Problem(line_of(pos + 1), "file", "text after the closing ]")])
    return out


def parse(text: str, *, json_format: bool) -> Plan:
    """The plan of a CSV or JSON file, with the problems of its rows in ``problems``
    (:func:`storage.bulk.import_registry` refuses it then, adding those it finds);
    Refused at once if the file itself cannot be read."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheets write it
    return _records(_json_records(text) if json_format else _csv_records(text))


def is_json(name_or_type: str, text: str) -> bool:
    """JSON by the file name or media type, else by its first character."""
    low = name_or_type.lower()
    if low.endswith(".json") or "json" in low:
        return True
    if low.endswith(".csv") or "csv" in low:
        return False
    return text.lstrip("\ufeff \t\r\n")[:1] == "["
