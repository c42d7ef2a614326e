"""A case as the officer routes use it, read and written with plain statements, off the ORM's
session: the case with its allegations, verdicts, correction requests and risk-filing links read in
one statement on PostgreSQL (json_agg subqueries; a read alone runs without a transaction), one per
table on SQLite, where a statement costs no round trip; and what the use case changed or added
written back in one statement on PostgreSQL (data-modifying WITH queries), one each on SQLite.

The rows are the mapped classes (models.py), built transient and never added to the session, so the
rules, the event and the answer read them exactly as they read loaded rows; `CaseFile.save` writes
what changed since they were read. The unit of work, its outbox and the audit chain are untouched:
the use cases still raise events and record audit entries on the unit of work, which commits them.
Statements are built once per shape and kept: building them per request cost more than running them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Integer,
    String,
    Table,
    TextClause,
    bindparam,
    column,
    func,
    insert,
    select,
    text,
    update,
)

from services.verification.filing_links import Linked
from services.verification.models import (
    Base,
    Case,
    CaseAllegation,
    CaseRecording,
    Correction,
    RiskFiling,
    RiskFilingLink,
    VerdictRecord,
)
from services.verification.service import CaseNotFound
from shared.auth import Principal
from shared.db import UTCDateTime, dialect_name
from shared.messages import Message
from shared.uow import UnitOfWork

CASES: Table = Case.__table__  # type: ignore[assignment]
ALLEGATIONS: Table = CaseAllegation.__table__  # type: ignore[assignment]
VERDICTS: Table = VerdictRecord.__table__  # type: ignore[assignment]
CORRECTIONS: Table = Correction.__table__  # type: ignore[assignment]
LINKS: Table = RiskFilingLink.__table__  # type: ignore[assignment]
FILINGS: Table = RiskFiling.__table__  # type: ignore[assignment]


def _columns(table: Table) -> tuple[str, ...]:
    return tuple(c.key for c in table.columns)


_KEYS: dict[type[Base], tuple[str, ...]] = {
    model: _columns(model.__table__) for model in (Case, CaseAllegation, VerdictRecord, Correction,  # type: ignore[arg-type]
                                                   RiskFilingLink, RiskFiling)
}


_TABLES: dict[type[Any], Table] = {model: model.__table__ for model in _KEYS}  # type: ignore[misc]
_TABLES[CaseRecording] = CaseRecording.__table__  # type: ignore[assignment]
_KEYS[CaseRecording] = _columns(_TABLES[CaseRecording])


def _from_json(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turn a row as PostgreSQL's json writes it (timestamps and dates as text) into the values a
    Core select gives: timezone-aware UTC datetimes, dates."""
    moments = [c.key for c in table.columns if isinstance(c.type, UTCDateTime)]
    days = [c.key for c in table.columns if isinstance(c.type, Date)]

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        for key in moments:
            if (value := row.get(key)) is not None:
                row[key] = datetime.fromisoformat(value).astimezone(UTC)
        for key in days:
            if (value := row.get(key)) is not None:
                row[key] = date.fromisoformat(value)
        return row

    return convert


_CONVERT = {table.name: _from_json(table) for table in (ALLEGATIONS, VERDICTS, CORRECTIONS, LINKS, FILINGS)}


def _built(model: type[Any], values: dict[str, Any]) -> Any:
    """A transient row of `model` holding `values` (the columns the database returned)."""
    return model(**{key: values[key] for key in _KEYS[model]})


class CaseFile:
    """One case with what its answer shows, as read: change the rows, `add` new ones, then `save`."""

    def __init__(self, case: Case, verdicts: list[VerdictRecord], corrections: list[Correction],
                 linked: list[Linked], next_version: int | None = None,
                 superseded_verdict_id: str | None = None) -> None:
        self.case, self.verdicts, self.corrections, self.linked = case, verdicts, corrections, linked
        self.next_version, self.superseded_verdict_id = next_version, superseded_verdict_id
        self._added: list[Base] = []
        self._read: list[tuple[Base, dict[str, Any]]] = [
            (row, _values(row)) for row in (case, *case.allegations, *verdicts)]

    def add(self, row: Base) -> None:
        """A new row (a verdict, a recording) to insert with `save`."""
        self._added.append(row)

    async def save(self, uow: UnitOfWork) -> None:
        """Write the added rows and the changed columns of the rows read: on PostgreSQL in one statement
        (each INSERT and UPDATE a data-modifying WITH query of it), elsewhere one statement each. The
        statements are built once per shape (tables and columns written)."""
        writes: list[tuple[str, Table, tuple[str, ...], dict[str, Any]]] = []
        for row in self._added:
            values = {k: v for k, v in row.__dict__.items() if k in _KEYS[type(row)]}
            writes.append(("insert", _TABLES[type(row)], tuple(values), values))
        self._read.extend((row, _values(row)) for row in self._added)
        self._added = []
        for i, (row, before) in enumerate(self._read):
            now = _values(row)
            changed = tuple(k for k in now if now[k] != before[k] or type(now[k]) is not type(before[k]))
            if changed:
                values = {"id": now["id"], **{k: now[k] for k in changed}}
                writes.append(("update", _TABLES[type(row)], changed, values))
                self._read[i] = (row, now)
        session = uow.session
        if len(writes) > 1 and dialect_name(session) == "postgresql":
            shape = tuple((kind, table.name, columns) for kind, table, columns, _ in writes)
            params = {f"p{i}_{k}": v for i, (_, _, _, values) in enumerate(writes) for k, v in values.items()}
            await session.execute(_together(shape), params)
            return
        for kind, table, columns, values in writes:
            if kind == "insert":
                await session.execute(_INSERTS[table.name], values)
            else:
                await session.execute(_update(table, columns), {"w_id": values["id"],
                                                                **{f"v_{k}": values[k] for k in columns}})


_INSERTS = {table.name: insert(table) for table in _TABLES.values()}
_UPDATES: dict[tuple[str, tuple[str, ...]], Any] = {}
_TOGETHER: dict[tuple[tuple[str, str, tuple[str, ...]], ...], TextClause] = {}


def _update(table: Table, columns: tuple[str, ...]) -> Any:
    """UPDATE `columns` (parameters `v_<column>`) of the `table` row whose id is `:w_id`."""
    stmt = _UPDATES.get((table.name, columns))
    if stmt is None:
        stmt = _UPDATES[table.name, columns] = update(table).where(table.c.id == bindparam("w_id")).values(
            {k: bindparam(f"v_{k}", type_=table.c[k].type) for k in columns})
    return stmt


def _together(shape: tuple[tuple[str, str, tuple[str, ...]], ...]) -> TextClause:
    """The writes of `shape` (each: insert or update, table, columns) as one PostgreSQL statement, their
    parameters named `p<i>_<column>` (an update's row by `p<i>_id`)."""
    if (stmt := _TOGETHER.get(shape)) is not None:
        return stmt
    parts, binds = [], []
    for i, (kind, name, columns) in enumerate(shape):
        table = next(t for t in _TABLES.values() if t.name == name)
        if kind == "insert":
            # Table and column names from models.py; every value is a bound parameter.
            parts.append(f"w{i} AS (INSERT INTO {name} ({', '.join(columns)}) "  # noqa: S608
                         f"VALUES ({', '.join(f':p{i}_{k}' for k in columns)}))")
            binds += [bindparam(f"p{i}_{k}", type_=table.c[k].type) for k in columns]
        else:
            parts.append(f"w{i} AS (UPDATE {name} SET {', '.join(f'{k} = :p{i}_{k}' for k in columns)} "  # noqa: S608
                         f"WHERE id = :p{i}_id)")
            binds += [bindparam(f"p{i}_{k}", type_=table.c[k].type) for k in (*columns, "id")]
    _TOGETHER[shape] = stmt = text("WITH " + ", ".join(parts) + " SELECT 1").bindparams(*binds)
    return stmt


def _values(row: Base) -> dict[str, Any]:
    state = row.__dict__
    return {k: state.get(k) for k in _KEYS[type(row)]}


# --- reading ---------------------------------------------------------------------------------------------

# Each child table's rows as one json array per case (`c`, the cases row): what the answer shows.
_CHILDREN_PG = """,
  (SELECT json_agg(a ORDER BY a.position) FROM case_allegations a WHERE a.case_id = c.id) AS j_allegations,
  (SELECT json_agg(v ORDER BY v.version) FROM verdicts v WHERE v.case_id = c.id) AS j_verdicts,
  (SELECT json_agg(r ORDER BY r.requested_at, r.id) FROM corrections r WHERE r.case_id = c.id) AS j_corrections,
  (SELECT json_agg(json_build_object('l', l, 'f', f) ORDER BY l.linked_at, f.matter_starts_on, l.id)
     FROM risk_filing_links l JOIN risk_filings f ON f.id = l.filing_id WHERE l.report_id = c.report_id) AS j_links"""
# What a conclusion needs besides: the report's latest verdict version, the final verdict of the case
# this one corrects. And the row version locked (the newest, after waiting for a concurrent writer)
# against the one this statement's snapshot saw: when they differ, the children above are older than
# the lock, and the file is read again.
_WRITING_PG = """,
  (SELECT max(vn.version) FROM verdicts vn WHERE vn.report_id = c.report_id) AS j_max_version,
  (SELECT vs.id FROM verdicts vs WHERE vs.case_id = c.supersedes_case_id AND vs.state = 'final' LIMIT 1)
     AS j_superseded_verdict_id,
  c.xmin::text AS j_locked_version,
  (SELECT x.xmin::text FROM cases x WHERE x.id = c.id) AS j_seen_version"""
_CASE_COLUMNS = [column(k, CASES.c[k].type) for k in _KEYS[Case]]
_CHILD_COLUMNS = [column(name, JSON()) for name in ("j_allegations", "j_verdicts", "j_corrections", "j_links")]
_WRITING_COLUMNS = [column("j_max_version", Integer()), column("j_superseded_verdict_id", String()),
                    column("j_locked_version", String()), column("j_seen_version", String())]
_BIND_TYPES: dict[str, Any] = {"cursor_at": UTCDateTime(), "today": Date()}
_STATEMENTS: dict[tuple[str, str, bool, bool], TextClause] = {}


def _statement(dialect: str, where: str, *, paged: bool, for_writing: bool) -> TextClause:
    """SELECT the cases (`c`) matching `where` (text over `c`'s columns, with named parameters),
    oldest first and `:limit` of them when `paged`, locked `for_writing`; on PostgreSQL with their
    children (and, for writing, what a conclusion needs) in the same statement. Built once per shape."""
    key = (dialect, where, paged, for_writing)
    if (stmt := _STATEMENTS.get(key)) is not None:
        return stmt
    postgresql = dialect == "postgresql"
    sql = "SELECT " + ", ".join(f"c.{k}" for k in _KEYS[Case])
    if postgresql:
        sql += _CHILDREN_PG + (_WRITING_PG if for_writing else "")
    sql += f" FROM cases c WHERE {where}"
    if paged:
        sql += " ORDER BY c.opened_at, c.id LIMIT :limit"
    if for_writing and postgresql:
        sql += " FOR UPDATE OF c"
    columns: list[Any] = [*_CASE_COLUMNS, *(_CHILD_COLUMNS if postgresql else []),
               *(_WRITING_COLUMNS if postgresql and for_writing else [])]
    stmt = text(sql).bindparams(*(bindparam(name, type_=t) for name, t in _BIND_TYPES.items() if f":{name}" in sql))
    _STATEMENTS[key] = stmt = stmt.columns(*columns)  # type: ignore[assignment]
    return stmt


def _file_pg(row: Any) -> CaseFile:
    mapping = row._mapping
    case = _built(Case, {k: mapping[k] for k in _KEYS[Case]})
    case.allegations = [_built(CaseAllegation, _CONVERT["case_allegations"](a)) for a in mapping["j_allegations"] or []]
    linked = [(_built(RiskFilingLink, _CONVERT["risk_filing_links"](one["l"])),
               _built(RiskFiling, _CONVERT["risk_filings"](one["f"]))) for one in mapping["j_links"] or []]
    file = CaseFile(case, [_built(VerdictRecord, _CONVERT["verdicts"](v)) for v in mapping["j_verdicts"] or []],
                    [_built(Correction, _CONVERT["corrections"](c)) for c in mapping["j_corrections"] or []], linked)
    if "j_max_version" in mapping:
        file.next_version = int(mapping["j_max_version"] or 0) + 1
        file.superseded_verdict_id = mapping["j_superseded_verdict_id"]
    return file


async def _files_sqlite(uow: UnitOfWork, rows: Iterable[Any], *, for_writing: bool) -> list[CaseFile]:
    """The same files on SQLite, one statement per table (SQLite has no round trip to save)."""
    session = uow.session
    cases = [_built(Case, dict(row._mapping)) for row in rows]
    ids, reports = [c.id for c in cases], sorted({c.report_id for c in cases})
    if not cases:
        return []

    async def by(table: Table, model: type[Any], parent: str, keys: list[str], *order: Any) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {k: [] for k in keys}
        for row in await session.execute(select(table).where(table.c[parent].in_(keys)).order_by(*order)):
            out[row._mapping[parent]].append(_built(model, dict(row._mapping)))
        return out

    allegations = await by(ALLEGATIONS, CaseAllegation, "case_id", ids, ALLEGATIONS.c.position)
    verdicts = await by(VERDICTS, VerdictRecord, "case_id", ids, VERDICTS.c.version)
    corrections = await by(CORRECTIONS, Correction, "case_id", ids, CORRECTIONS.c.requested_at, CORRECTIONS.c.id)
    linked: dict[str, list[Linked]] = {r: [] for r in reports}
    for row in await session.execute(
            select(LINKS, FILINGS).join(FILINGS, FILINGS.c.id == LINKS.c.filing_id)
            .where(LINKS.c.report_id.in_(reports))
            .order_by(LINKS.c.linked_at, FILINGS.c.matter_starts_on, LINKS.c.id)):
        values = tuple(row)
        n = len(LINKS.columns)
        link = _built(RiskFilingLink, dict(zip(_KEYS[RiskFilingLink], values[:n], strict=True)))
        filing = _built(RiskFiling, dict(zip(_KEYS[RiskFiling], values[n:], strict=True)))
        linked[link.report_id].append((link, filing))
    files = []
    for case in cases:
        case.allegations = allegations[case.id]
        file = CaseFile(case, verdicts[case.id], corrections[case.id], linked[case.report_id])
        if for_writing:
            latest = await session.scalar(select(func.max(VERDICTS.c.version)).where(
                VERDICTS.c.report_id == case.report_id))
            file.next_version = int(latest or 0) + 1
            if case.supersedes_case_id is not None:
                file.superseded_verdict_id = await session.scalar(select(VERDICTS.c.id).where(
                    VERDICTS.c.case_id == case.supersedes_case_id, VERDICTS.c.state == "final"))
        files.append(file)
    return files


async def read_files(uow: UnitOfWork, where: str, params: dict[str, Any], *, paged: bool = False,
                     for_writing: bool = False) -> list[CaseFile]:
    """The files of the cases matching `where` (text over the cases row `c`, with `params`), oldest
    first and `params["limit"]` of them when `paged`: one statement on PostgreSQL. `for_writing` locks
    the cases (FOR UPDATE) and reads what a conclusion needs besides."""
    session = uow.session
    dialect = dialect_name(session)
    stmt = _statement(dialect, where, paged=paged, for_writing=for_writing)
    if dialect != "postgresql":  # SQLite: a write transaction holds the database already
        return await _files_sqlite(uow, await session.execute(stmt, params), for_writing=for_writing)
    if not for_writing and not session.in_transaction():
        # One statement sees one snapshot: a read alone needs no transaction, and saves BEGIN and ROLLBACK.
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    rows = list(await session.execute(stmt, params))
    if for_writing and any(r._mapping["j_locked_version"] != r._mapping["j_seen_version"] for r in rows):
        # A concurrent change committed while this statement waited for the lock: read again, holding it.
        rows = list(await session.execute(stmt, params))
    return [_file_pg(row) for row in rows]


async def get_file(*, uow: UnitOfWork, case_id: str, principal: Principal, for_writing: bool = False) -> CaseFile:
    """The case's file when it lies in the principal's jurisdiction; 404 `case_not_found` otherwise (a
    case elsewhere is never revealed). `for_writing` locks it."""
    files = await read_files(uow, "c.id = :case_id", {"case_id": case_id}, for_writing=for_writing)
    if not files or not principal.serves(files[0].case.region_code):
        raise CaseNotFound(Message("verification.case_not_found", case_id=case_id))
    return files[0]
