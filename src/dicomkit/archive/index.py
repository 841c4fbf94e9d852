"""The archive index on SQLAlchemy Core: SQLite (WAL) by default, PostgreSQL at scale.

Writes are short transactions with INSERT … ON CONFLICT, so several ``dicomkit serve``
processes can share one PostgreSQL index (PS3.4 says nothing here; this is the scale-out
contract of docs/design).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.util import find_tables

from dicomkit.archive.matching import COMPUTED, LEVEL_RANK, LEVEL_TABLE, CompiledQuery
from dicomkit.archive.records import InstanceRecord, InstanceRow, dumps
from dicomkit.archive.schema import (
    instances,
    joined,
    lineage,
    metadata,
    patients,
    series,
    studies,
)
from dicomkit.services.identifiers import AnswerPlan, compose, level_fragment


def _add_value(stored: str | None, value: str) -> str:
    """Add one value to a "\\A\\B\\" list, kept sorted."""
    values = {v for v in (stored or "").split("\\") if v} | {value}
    return "\\" + "\\".join(sorted(values)) + "\\"


def fill_fragments(connection: Any, table_name: str, batch: int = 1000) -> int:
    """Fill the ``dimse`` column (pre-encoded C-FIND elements) of the ``patients`` or
    ``studies`` rows that have none from their stored ``attrs`` (migration 0010, reindex);
    the rows filled. A row whose ``attrs`` cannot be read stays NULL: the general route
    answers for it."""
    table = {"patients": patients, "studies": studies}[table_name]
    last = filled = 0
    while True:
        rows = connection.execute(
            select(table.c.pk, table.c.attrs).where(table.c.pk > last, table.c.dimse.is_(None))
            .order_by(table.c.pk).limit(batch)).all()
        if not rows:
            return filled
        updates = []
        for pk, stored in rows:
            last = pk
            try:
                attrs = json.loads(stored or "{}")
            except ValueError:
                continue
            if isinstance(attrs, dict):
                updates.append({"row_pk": pk, "fragment": level_fragment(attrs)})
        if updates:
            connection.execute(table.update().where(table.c.pk == bindparam("row_pk"))
                               .values(dimse=bindparam("fragment")), updates)
            filled += len(updates)


def engine_url(url_or_path: str) -> str:
    """``postgresql://…`` (psycopg 3), ``sqlite:///…``, or a plain path to a SQLite file."""
    if url_or_path.startswith("postgresql://") or url_or_path.startswith("postgres://"):
        return "postgresql+psycopg://" + url_or_path.split("://", 1)[1]
    if "://" in url_or_path:
        return url_or_path
    return f"sqlite:///{os.path.abspath(url_or_path)}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: each commit fsyncs the WAL, so an index row that a success status reported
    # survives a power loss too (NORMAL would keep it only across a process crash).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # PS3.4 C.2.2.2.4: wild card matching is case sensitive; SQLite's LIKE is not by default
    # (PostgreSQL's is), and both back ends must answer alike.
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


_CHARSET = "00080005"  # Specific Character Set, in each level's attributes
UNICODE = "ISO_IR 192"
_MIGRATION_LOCK = threading.Lock()
# The instances columns add_instance writes besides sop_uid (the ON CONFLICT … SET list).
_INSTANCE_ROW = ("series_pk", "sop_class", "instance_number", "transfer_syntax", "path", "size",
                 "metadata", "created", "concept_code", "concept_scheme")

# What the index tells of where an instance is and what it is (InstanceRow's fields).
_LOCATION = (instances.c.pk, studies.c.study_uid, series.c.series_uid, instances.c.sop_uid,
             instances.c.sop_class, instances.c.path, instances.c.transfer_syntax,
             instances.c.size)


def _instance_row(row: Any) -> InstanceRow:
    return InstanceRow(pk=int(row.pk), study_uid=row.study_uid, series_uid=row.series_uid,
                       sop_uid=row.sop_uid, sop_class=row.sop_class, path=row.path,
                       transfer_syntax=row.transfer_syntax, size=int(row.size))


@dataclass
class Record:
    """One match of :meth:`ArchiveIndex.records`: its level's key, its merged attributes
    (DICOM JSON), and for an instance the stored file (relative path, transfer syntax, size);
    for a study its last update."""

    pk: int
    attrs: dict[str, Any]
    path: str | None = None
    transfer_syntax: str | None = None
    size: int = 0
    updated: _dt.datetime | None = None


@dataclass
class StoredStudy:
    """A STUDY level match as stored (:meth:`ArchiveIndex.study_texts`): its UID, the
    patient's and study's DICOM JSON texts, Modalities / SOP Classes in Study ("\\CT\\")
    and the counts asked for (Number of Study Related …, ``count_tags``)."""

    study_uid: str
    patient: str | None
    study: str | None
    modalities: str | None
    sop_classes: str | None
    count_tags: tuple[int, ...]
    counts: tuple[int, ...]


@dataclass
class RecordPage:
    records: list[Record]
    last: int | None  # the last key scanned; None: no row was left


@dataclass
class AddResult:
    status: str  # "added", "replaced", "ignored"
    old_path: str | None = None


class _Existing(NamedTuple):
    pk: int
    path: str
    series_pk: int


_PG_TYPES = {"instance_number": "integer", "size": "bigint", "created": "timestamptz"}


class _FirstStatement:
    """Whether add_instance's first statement went through (a failure after it is not a
    dropped pooled connection to retry)."""

    done = False


class _IngestSQL:
    """add_instance's common statements in the driver's own parameter style (sqlite3
    ``:name``, psycopg ``%(name)s``); the same rows SQLAlchemy's statements wrote."""

    def __init__(self, is_sqlite: bool) -> None:
        def p(name: str) -> str:
            return f":{name}" if is_sqlite else f"%({name})s"

        self.lookup = (
            "SELECT i.pk, i.path, i.series_pk, s.pk, s.study_pk FROM (SELECT 1 AS one) AS d "
            f"LEFT JOIN instances AS i ON i.sop_uid = {p('sop_uid')} "
            f"LEFT JOIN series AS s ON s.series_uid = {p('series_uid')}")
        names = ("sop_uid",) + _INSTANCE_ROW
        insert = (f"INSERT INTO instances ({', '.join(names)}) "
                  f"VALUES ({', '.join(p(name) for name in names)}) ON CONFLICT (sop_uid) ")
        self.insert_replace = insert + "DO UPDATE SET " + ", ".join(
            f"{name} = excluded.{name}" for name in _INSTANCE_ROW)
        self.insert_other = insert + "DO NOTHING"
        contains = "instr({column}, {value}) > 0" if is_sqlite else \
            "strpos({column}, {value}) > 0"
        self.touch_study: dict[tuple[bool, bool], str] = {}
        self.add_known: dict[tuple[bool, bool], str] = {}
        for modality in (False, True):
            for sop_class in (False, True):
                where = []
                if modality:
                    where.append(contains.format(column="studies.modalities",
                                                 value=p("modality")))
                if sop_class:
                    where.append(contains.format(column="studies.sop_classes",
                                                 value=p("touch_sop_class")))
                self.touch_study[(modality, sop_class)] = (
                    f"UPDATE studies SET updated = {p('updated')} WHERE "
                    + " AND ".join([f"pk = {p('pk')}", *where]))
                if is_sqlite:
                    continue
                # PostgreSQL: the INSERT of a new instance of a known series and the touch
                # of its study in one statement (data-modifying WITH, one round trip).
                # Parameters are cast: in a SELECT list an untyped one would be text.
                values = ", ".join(f"{p(name)}::{_PG_TYPES.get(name, 'text')}"
                                   for name in names if name != "series_pk")
                columns = ", ".join(name for name in names if name != "series_pk")
                self.add_known[(modality, sop_class)] = (
                    f"WITH ins AS (INSERT INTO instances (series_pk, {columns}) "
                    f"SELECT s.pk, {values} FROM series AS s "
                    f"WHERE s.series_uid = {p('series_uid')} "
                    "ON CONFLICT (sop_uid) DO NOTHING RETURNING series_pk), "
                    "target AS (SELECT s.pk, s.study_pk FROM series AS s "
                    "JOIN ins ON s.pk = ins.series_pk), "
                    f"upd AS (UPDATE studies SET updated = {p('updated')}::timestamptz "
                    "FROM target WHERE " + " AND ".join(
                        ["studies.pk = target.study_pk", *where]) + " RETURNING studies.pk) "
                    "SELECT target.pk, target.study_pk, (SELECT count(*) FROM upd) "
                    "FROM target")

class ArchiveIndex:
    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(self.url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_size=8, max_overflow=8,
                                        pool_pre_ping=True)
        # add_instance's own pool, without the ping (a round trip) before each transaction:
        # under load each round trip to the server waits to be scheduled, and a stored
        # instance is one transaction. A connection the server dropped fails its first
        # statement instead, and add_instance retries once on a new one (SQLAlchemy's
        # "optimistic" disconnect handling).
        self._ingest_engine = self.engine if self.is_sqlite else create_engine(
            self.url, pool_size=4, max_overflow=8)
        self._insert = sqlite.insert if self.is_sqlite else postgresql.insert
        # Built once: constructing these per instance (literal values, ON CONFLICT SET of
        # every column, cache keys) was about a third of add_instance's time.
        self._find_instance = select(instances.c.pk, instances.c.path,
                                     instances.c.series_pk).where(
            instances.c.sop_uid == bindparam("sop_uid"))
        self._find_series = select(series.c.pk, series.c.study_pk).where(
            series.c.series_uid == bindparam("series_uid"))
        insert = self._insert(instances)
        self._insert_instance = {
            "replace": insert.on_conflict_do_update(
                index_elements=["sop_uid"],
                set_={name: insert.excluded[name] for name in _INSTANCE_ROW}),
            "other": insert.on_conflict_do_nothing(index_elements=["sop_uid"]),
        }
        # The common ingest (a new instance of a series the index knows) runs on the driver
        # directly: three prepared statements (psycopg prepares a statement it has run five
        # times; sqlite3 keeps its compiled statements), without SQLAlchemy's per-statement
        # compile-cache lookup, parameter processing and result wrapping, which were about
        # half of add_instance's CPU time.
        self._sql = _IngestSQL(self.is_sqlite)
        created = instances.c.created.type
        self._bind_time = created.dialect_impl(self.engine.dialect).bind_processor(
            self.engine.dialect) or (lambda value: value)

    # -- schema ----------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the latest alembic revision (safe with several processes)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location",
                               str(Path(__file__).with_name("migrations")))
        # alembic's ``context`` and ``op`` are module-level proxies: two migrations in one
        # process at once (two Archive objects opened by two threads) would clobber them.
        with _MIGRATION_LOCK, self.engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(7370001)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def drop_all(self) -> None:
        with self.engine.begin() as connection:
            metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))

    # -- ingest ----------------------------------------------------------------------------------
    def _upsert(self, connection: Any, table: Any, key: dict[str, Any],
                values: dict[str, Any], update: bool = False,
                keep: tuple[str, ...] = ()) -> int:
        """Insert the row if its key is new; ``update``: else rewrite its columns from
        ``values`` (but not those in ``keep``)."""
        statement = self._insert(table).values(**key, **values)
        if update:
            statement = statement.on_conflict_do_update(
                index_elements=list(key),
                set_={name: statement.excluded[name] for name in values if name not in keep})
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(key))
        connection.execute(statement)
        where = [table.c[name] == value for name, value in key.items()]
        return int(connection.execute(select(table.c.pk).where(*where)).scalar_one())

    def add_instance(self, record: InstanceRecord, policy: str = "replace",
                     before_commit: Callable[[], None] | None = None) -> AddResult:
        """Index one stored instance in one transaction; ``policy`` for duplicates:
        ``ignore`` keeps the old file, ``replace`` (default) takes the new one,
        ``keep`` is like ignore but reported as added (idempotent re-sends).
        ``before_commit`` runs before the commit — on PostgreSQL after the statements, on
        SQLite before its first write — and not at all when the instance is ignored; if it
        raises, nothing is committed."""
        for attempt in (1, 2):
            first = _FirstStatement()
            try:
                with self._ingest_engine.begin() as connection:
                    return self._add_instance(connection, record, policy, before_commit,
                                              first)
            except DBAPIError as error:
                # A pooled connection the server dropped (restart, idle timeout) fails at
                # its first statement, before anything was written or waited for: once,
                # on a new connection.
                if attempt == 2 or not error.connection_invalidated or first.done:
                    raise
        raise AssertionError("unreachable")

    def add_instances(self, records: Sequence[InstanceRecord],
                      policy: str = "replace") -> list[AddResult]:
        """Index several stored instances (their files durably in place already) in ONE
        transaction, each row as :meth:`add_instance` writes it, in order (a later record of
        the same SOP Instance sees the earlier one's row); their results in order. All or
        nothing: if any row fails, nothing is committed and the error is raised (the caller
        may then add them one by one, so the good ones still get their rows). One commit,
        so one WAL sync (SQLite) or one WAL flush (PostgreSQL) for all of them."""
        for attempt in (1, 2):
            first = _FirstStatement()
            try:
                with self._ingest_engine.begin() as connection:
                    return [self._add_instance(connection, record, policy, None, first)
                            for record in records]
            except DBAPIError as error:
                # As add_instance: a dropped pooled connection fails the first statement.
                if attempt == 2 or not error.connection_invalidated or first.done:
                    raise
        raise AssertionError("unreachable")

    def _add_instance(self, connection: Any, record: InstanceRecord, policy: str,
                      before_commit: Callable[[], None] | None,
                      first: _FirstStatement) -> AddResult:
        now = _dt.datetime.now(_dt.UTC)
        attrs = record.level_attrs
        sql = self._sql
        when = self._bind_time(now)
        if not self.is_sqlite:
            # PostgreSQL, a new instance of a known series (the common case): one statement,
            # one round trip, inserts it and touches its study. A duplicate or an unknown
            # series writes nothing there and goes the long way below.
            added = connection.exec_driver_sql(
                sql.add_known[self._touch_key(record)],
                self._instance_params(record, None, when) | self._touch_params(record, when),
            ).first()
            first.done = True
            if added is not None:
                series_pk, study_pk, touched = added
                if not touched:  # a modality or SOP Class new to the study
                    self._note_in_study(connection, study_pk, record, now, moved=False)
                if before_commit is not None:
                    before_commit()
                return AddResult("added", None)
        driver: Any = connection.connection.dbapi_connection
        cursor = driver.cursor()
        try:
            # One statement for the instance's row if stored already and its series' keys.
            cursor.execute(sql.lookup, {"sop_uid": record.sop_uid,
                                        "series_uid": record.series_uid})
            first.done = True
            found: Any = cursor.fetchone()  # the LEFT JOINs give one row always
            existing = _Existing(*found[:3]) if found[0] is not None else None
            known = (found[3], found[4]) if found[3] is not None else None
            if existing is not None and policy in ("ignore", "keep"):
                return AddResult("ignored" if policy == "ignore" else "added")
            if self.is_sqlite and before_commit is not None:
                # SQLite has one writer at a time and pysqlite begins the write transaction
                # at the first INSERT: wait for the file here, so that no other store waits
                # for this one's fsync. (PostgreSQL locks rows: it overlaps everything.)
                before_commit()
                before_commit = None
            # A copy that replaces a stored instance may be a correction (Patient's Name,
            # Study Description …): it rewrites its patient, study and series rows too. Only
            # then; a new instance of a known series (the common case) skips the upserts.
            replacing, old = False, None
            if existing is not None and policy == "replace":
                replacing, old = True, self._parents(connection, existing.series_pk)
            if known is not None and not replacing:
                series_pk, study_pk = known
            else:
                patient_pk = self._upsert(
                    connection, patients,
                    {"patient_id": record.patient["patient_id"],
                     "issuer": record.patient["issuer"]},
                    {k: v for k, v in record.patient.items() if k not in ("patient_id", "issuer")}
                    | {"attrs": dumps(attrs.get("PATIENT", {})),
                       "dimse": level_fragment(attrs.get("PATIENT", {}))},
                    update=replacing)
                study_pk = self._upsert(
                    connection, studies, {"study_uid": record.study_uid},
                    record.study | {"patient_pk": patient_pk,
                                    "attrs": dumps(attrs.get("STUDY", {})),
                                    "dimse": level_fragment(attrs.get("STUDY", {})),
                                    "created": now, "updated": now},
                    update=replacing, keep=("created",))
                series_pk = self._upsert(
                    connection, series, {"series_uid": record.series_uid},
                    record.series | {"study_pk": study_pk,
                                     "attrs": dumps(attrs.get("SERIES", {}))},
                    update=replacing)
            # ``replace`` overwrites the row; otherwise another process stored it since we
            # looked, and its row stays.
            cursor.execute(sql.insert_replace if policy == "replace" else sql.insert_other,
                           self._instance_params(record, series_pk, when))
            touched = False
            if existing is None:
                cursor.execute(sql.touch_study[self._touch_key(record)],
                               self._touch_params(record, when) | {"pk": study_pk})
                touched = cursor.rowcount == 1
            if not touched:
                self._note_in_study(connection, study_pk, record, now,
                                    moved=existing is not None)
        finally:
            cursor.close()
        if old is not None:
            # What the copy left (another series, study or patient): emptied rows go, the
            # study it left is recounted.
            old_series, old_study, old_patient = old
            self._prune(connection, now,
                        series_pks=[old_series] if old_series != series_pk else [],
                        study_pks=[old_study] if old_study != study_pk else [],
                        patient_pks=[old_patient])
        if before_commit is not None:
            before_commit()
        return AddResult("replaced" if existing is not None else "added",
                         existing.path if existing is not None else None)

    @staticmethod
    def _instance_params(record: InstanceRecord, series_pk: int | None,
                         when: Any) -> dict[str, Any]:
        return {"sop_uid": record.sop_uid, "series_pk": series_pk,
                "series_uid": record.series_uid, "sop_class": record.sop_class,
                "instance_number": record.instance["instance_number"],
                "transfer_syntax": record.transfer_syntax, "path": record.path,
                "size": record.size, "metadata": dumps(record.metadata), "created": when,
                "concept_code": record.instance.get("concept_code", ""),
                "concept_scheme": record.instance.get("concept_scheme", "")}

    @staticmethod
    def _touch_key(record: InstanceRecord) -> tuple[bool, bool]:
        return bool(record.series.get("modality")), bool(record.sop_class)

    @staticmethod
    def _touch_params(record: InstanceRecord, when: Any) -> dict[str, Any]:
        """The study's ``updated`` is this instance's time; its Modalities and SOP Classes in
        Study are left as they are when they have this instance's values already (every
        instance of a series after its first), else the statement changes nothing and
        _note_in_study adds them."""
        return {"updated": when, "modality": f"\\{record.series.get('modality') or ''}\\",
                "touch_sop_class": f"\\{record.sop_class}\\"}

    def _parents(self, connection: Any, series_pk: int) -> tuple[int, int, int] | None:
        """(series, study, patient) pks above an instance's series."""
        row = connection.execute(
            select(series.c.pk, series.c.study_pk, studies.c.patient_pk)
            .select_from(joined(series, 1)).where(series.c.pk == series_pk)).first()
        return (row.pk, row.study_pk, row.patient_pk) if row is not None else None

    def _lock_study(self, connection: Any, study_pk: int) -> Any:
        statement = select(studies.c.modalities, studies.c.sop_classes).where(
            studies.c.pk == study_pk)
        if not self.is_sqlite:
            # FOR NO KEY UPDATE, not FOR UPDATE: the series rows this transaction inserted hold
            # FOR KEY SHARE on the study row, which FOR UPDATE conflicts with, so two writers
            # adding series to one study would deadlock; NO KEY UPDATE still serialises them.
            statement = statement.with_for_update(key_share=True)
        return connection.execute(statement).first()

    def _note_in_study(self, connection: Any, study_pk: int, record: InstanceRecord, now: Any,
                       moved: bool) -> None:
        """Modalities / SOP Classes in Study grow by this instance's values; O(1) per ingest
        (a full recount per instance would make a 1,000-slice series quadratic). The study's
        ``updated`` becomes the time of its latest instance, which is how the Instance
        Availability Notification finds a study that has been stable for a while
        (:mod:`dicomkit.archive.ian`)."""
        if moved:  # a replaced instance may have changed series: recount
            self._refresh_study(connection, study_pk, now)
            return
        row = self._lock_study(connection, study_pk)
        modality = record.series.get("modality") or ""
        changes: dict[str, Any] = {}
        if modality and f"\\{modality}\\" not in (row.modalities or ""):
            changes["modalities"] = _add_value(row.modalities, modality)
        if record.sop_class and f"\\{record.sop_class}\\" not in (row.sop_classes or ""):
            changes["sop_classes"] = _add_value(row.sop_classes, record.sop_class)
        connection.execute(studies.update().where(studies.c.pk == study_pk)
                           .values(updated=now, **changes))

    def _refresh_study(self, connection: Any, study_pk: int, now: Any) -> None:
        """Modalities in Study and SOP Classes in Study (PS3.4 C.6.1.1.3.1), recomputed."""
        self._lock_study(connection, study_pk)
        modalities = sorted({m for (m,) in connection.execute(
            select(series.c.modality).where(series.c.study_pk == study_pk).distinct()) if m})
        classes = sorted({c for (c,) in connection.execute(
            select(instances.c.sop_class).select_from(joined(instances, 1))
            .where(series.c.study_pk == study_pk).distinct()) if c})
        connection.execute(studies.update().where(studies.c.pk == study_pk).values(
            modalities="\\" + "\\".join(modalities) + "\\" if modalities else "",
            sop_classes="\\" + "\\".join(classes) + "\\" if classes else "", updated=now))

    # -- queries ---------------------------------------------------------------------------------
    def _base(self, level: str, columns: list[Any]) -> Any:
        """``columns`` from the level's table joined with every level above it."""
        table = LEVEL_TABLE[level]
        return select(*columns).select_from(joined(table, len(lineage(table)) - 1))

    def _keys(self, level: str, order: Any, where: list[Any], also: Iterable[Any] = ()) -> Any:
        """The level's keys of the matches, joining only the levels above that the match
        conditions (and the sort columns ``also``) name: SQLite then answers a date range
        from the covering date index alone (a deep page at 10k studies: 27 -> 4 ms)."""
        named: set[Any] = set()
        for clause in [*where, *also]:
            named.update(find_tables(clause, check_columns=True))
        tables = lineage(LEVEL_TABLE[level])
        top = max((n for n, table in enumerate(tables) if table in named), default=0)
        return select(order).select_from(joined(tables[0], top)).where(*where)

    def _columns(self, level: str, wanted: set[int]) -> list[Any]:
        cols: list[Any] = [patients.c.pk.label("patient_pk"), patients.c.attrs.label("p_attrs")]
        if LEVEL_RANK[level] >= 1:
            cols += [studies.c.pk.label("study_pk"), studies.c.attrs.label("st_attrs"),
                     studies.c.modalities, studies.c.sop_classes]
        if LEVEL_RANK[level] >= 2:
            cols += [series.c.pk.label("series_pk"), series.c.attrs.label("se_attrs")]
        if level == "IMAGE":
            cols += [instances.c.pk.label("instance_pk"), instances.c.metadata]
        counts = self._count_columns(level, wanted)
        return cols + counts

    def _count_columns(self, level: str, wanted: set[int]) -> list[Any]:
        """Number of Patient/Study/Series Related … (C.6.1.1.2-4): each at its entity's level
        and below, since the Study Root STUDY level carries the patient's keys (C.6.2.1.2)."""
        out = []
        below_study = LEVEL_RANK[level] >= LEVEL_RANK["STUDY"]
        below_series = LEVEL_RANK[level] >= LEVEL_RANK["SERIES"]
        # Aliases, so a count never correlates with the same table of the outer query.
        st, se, im = studies.alias("count_st"), series.alias("count_se"), \
            instances.alias("count_im")
        of_patient = st.c.patient_pk == patients.c.pk
        st_se = st.join(se, se.c.study_pk == st.c.pk)
        st_se_im = st_se.join(im, im.c.series_pk == se.c.pk)
        counts = [
            (0x00201200, True, select(func.count()).select_from(st).where(of_patient)),
            (0x00201202, True, select(func.count()).select_from(st_se).where(of_patient)),
            (0x00201204, True, select(func.count()).select_from(st_se_im).where(of_patient)),
            (0x00201206, below_study, select(func.count()).select_from(se).where(
                se.c.study_pk == studies.c.pk)),
            (0x00201208, below_study, select(func.count()).select_from(
                se.join(im, im.c.series_pk == se.c.pk)).where(se.c.study_pk == studies.c.pk)),
            (0x00201209, below_series, select(func.count()).select_from(im).where(
                im.c.series_pk == series.c.pk)),
        ]
        for tag, allowed, statement in counts:
            if tag in wanted and allowed:
                out.append(statement.scalar_subquery().label(f"n_{tag:08X}"))
        return out

    def search(self, query: CompiledQuery, *, limit: int | None = None,
               offset: int = 0) -> Generator[dict[str, Any], None, None]:
        """Matches as merged DICOM JSON attributes (levels above included) plus counts.
        Rows stream from the database; ``close()`` the generator to stop early (the
        connection is returned to the pool then). It may be resumed from another thread."""
        level = query.level
        statement = self._search_statement(query, self._columns(level, set(query.return_tags)),
                                           limit, offset)
        skipped = produced = 0
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                # yield_per streams through a server-side cursor, which PostgreSQL plans for
                # the first 10% of rows (cursor_tuple_fraction): with ORDER BY pk it walks the
                # whole primary key index instead of using the matching key's index (a 7-day
                # StudyDate range at 100k studies: 139 ms instead of 12 ms). Every row is read.
                connection.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
            result = connection.execution_options(yield_per=500).execute(statement)
            for row in result:
                attrs = self._merge(row._mapping, level)
                if query.post and not all(predicate(attrs) for predicate in query.post):
                    continue
                if query.post and skipped < offset:
                    skipped += 1
                    continue
                yield attrs
                produced += 1
                if query.post and limit is not None and produced >= limit:
                    return

    def study_texts(self, query: CompiledQuery, *, limit: int | None = None,
                    offset: int = 0) -> Generator[StoredStudy, None, None]:
        """The matches of a STUDY level ``query`` without post predicates (the caller checks)
        as :meth:`search` finds them, each as its stored texts (no JSON decoded): for
        answers spliced from them (QIDO-RS), :meth:`merged` when that declines."""
        counts = self._count_columns("STUDY", set(query.return_tags))
        count_tags = tuple(int(column.name[2:], 16) for column in counts)
        columns = [studies.c.study_uid, patients.c.attrs.label("p_attrs"),
                   studies.c.attrs.label("st_attrs"), studies.c.modalities,
                   studies.c.sop_classes, *counts]
        statement = self._search_statement(query, columns, limit, offset)
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                connection.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))  # see search
            for row in connection.execution_options(yield_per=500).execute(statement):
                yield StoredStudy(row[0], row[1], row[2], row[3], row[4], count_tags,
                                  tuple(row[5:]))

    def merged(self, stored: StoredStudy) -> dict[str, Any]:
        """A :meth:`study_texts` match as :meth:`search` gives it (merged DICOM JSON)."""
        row: dict[str, Any] = {"p_attrs": stored.patient, "st_attrs": stored.study,
                               "modalities": stored.modalities,
                               "sop_classes": stored.sop_classes}
        row |= {f"n_{tag:08X}": count for tag, count in zip(stored.count_tags, stored.counts,
                                                            strict=True)}
        return self._merge(row, "STUDY")

    def _search_statement(self, query: CompiledQuery, columns: list[Any], limit: int | None,
                          offset: int) -> Any:
        """The statement of :meth:`search`: ``columns`` of the matches in order (a page of
        them when there are no post predicates)."""
        level = query.level
        order = {"PATIENT": patients.c.pk, "STUDY": studies.c.pk, "SERIES": series.c.pk,
                 "IMAGE": instances.c.pk}[level]
        statement = self._base(level, columns)
        sort = [column.desc() if descending else column.asc()
                for column, descending in query.order]
        if not query.post and (limit is not None or offset):
            # A page: its keys first, then the columns (JSON, counts) of those rows only.
            # In one query SQLite computes every column of every match before it sorts and
            # skips (a deep QIDO page of a year's studies: 90 ms instead of a few).
            page = self._keys(level, order, query.where,
                              [column for column, _ in query.order]).order_by(*sort, order)
            if limit is not None:
                page = page.limit(limit)
            if offset:
                page = page.offset(offset)
            # correlate(None): the page is its own query, not tied to the outer tables.
            statement = statement.where(order.in_(page.correlate(None)))
        else:
            statement = statement.where(*query.where)
        return statement.order_by(*sort, order)

    def answers(self, query: CompiledQuery, plan: AnswerPlan | None
                ) -> Generator[bytes | dict[str, Any], None, None]:
        """The C-FIND answers of ``query``: for a STUDY level query each match's encoded
        response identifier, assembled from the patient's and study's pre-encoded elements
        (:func:`dicomkit.services.identifiers.compose`) with no DICOM JSON decoded; or, where
        that declines (and at the other levels, or without a ``plan``), the merged DICOM JSON
        attributes as :meth:`search` gives them, for the general route. Streams as
        :meth:`search` does."""
        level = query.level
        if plan is None or level != "STUDY" or query.post:
            yield from self.search(query)
            return
        counts = self._count_columns(level, set(query.return_tags))
        count_tags = tuple(int(column.name[2:], 16) for column in counts)
        columns = [patients.c.dimse.label("p_dimse"), studies.c.dimse.label("st_dimse"),
                   studies.c.modalities, studies.c.sop_classes, *counts,
                   patients.c.attrs.label("p_attrs"), studies.c.attrs.label("st_attrs")]
        statement = (self._base(level, columns).where(*query.where)
                     .order_by(*[c.desc() if d else c.asc() for c, d in query.order],
                               studies.c.pk))
        first = 4 + len(counts)
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                connection.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))  # see search
            result = connection.execution_options(yield_per=500).execute(statement)
            for row in result:
                data = compose(plan, count_tags, tuple(row[4:first]), row[0], row[1], row[2],
                               row[3])
                yield data if data is not None else self._merge(row._mapping, level)

    def _merge(self, row: Any, level: str) -> dict[str, Any]:
        merged: dict[str, Any] = json.loads(row["p_attrs"] or "{}")
        charsets = [merged.get(_CHARSET)]
        if LEVEL_RANK[level] >= 1:
            study = json.loads(row["st_attrs"] or "{}")
            charsets.append(study.get(_CHARSET))
            merged.update(study)
            modalities = [m for m in (row["modalities"] or "").split("\\") if m]
            if modalities:
                merged["00080061"] = {"vr": "CS", "Value": modalities}
            classes = [c for c in (row["sop_classes"] or "").split("\\") if c]
            if classes:
                merged["00080062"] = {"vr": "UI", "Value": classes}
        if LEVEL_RANK[level] >= 2:
            series_attrs = json.loads(row["se_attrs"] or "{}")
            charsets.append(series_attrs.get(_CHARSET))
            merged.update(series_attrs)
        if level == "IMAGE":
            instance = json.loads(row["metadata"] or "{}")
            charsets.append(instance.get(_CHARSET))
            merged.update(instance)
        if len({tuple(c.get("Value") or ()) for c in charsets if isinstance(c, dict)}) > 1:
            # The levels' values came from instances in different character sets: one that
            # holds them all (PS3.5 §6.1.2.5.4 d, Unicode) describes the merged answer.
            merged[_CHARSET] = {"vr": "CS", "Value": [UNICODE]}
        for tag in COMPUTED:
            label = f"n_{tag:08X}"
            if label in row:
                merged[f"{tag:08X}"] = {"vr": "IS", "Value": [int(row[label])]}
        return merged

    def records(self, query: CompiledQuery, *, after: int = 0,
                limit: int = 500) -> RecordPage:
        """One page of the matches of ``query`` in the order of their level's key (the
        Record Key of a Repository Query, PS3.4 C.6.4.1.1; Inventory production): those with
        a key above ``after``, at most ``limit`` rows scanned. Each match carries its merged
        attributes (as :meth:`search`), and at the IMAGE level where the file is; a study its
        last update. Pages are separate short queries, so a long walk holds no cursor."""
        level = query.level
        table = LEVEL_TABLE[level]
        columns = self._columns(level, set(query.return_tags))
        extra: list[Any] = [table.c.pk.label("record_pk")]
        if level == "STUDY":
            extra.append(studies.c.updated.label("record_updated"))
        if level == "IMAGE":
            extra += [instances.c.path.label("record_path"),
                      instances.c.transfer_syntax.label("record_ts"),
                      instances.c.size.label("record_size")]
        statement = (self._base(level, columns + extra)
                     .where(*query.where, table.c.pk > after)
                     .order_by(table.c.pk).limit(limit))
        found: list[Record] = []
        last: int | None = None
        with self.engine.connect() as connection:
            for row in connection.execute(statement):
                mapping = row._mapping
                last = int(mapping["record_pk"])
                attrs = self._merge(mapping, level)
                if query.post and not all(predicate(attrs) for predicate in query.post):
                    continue
                updated = mapping.get("record_updated")
                found.append(Record(last, attrs, mapping.get("record_path"),
                                    mapping.get("record_ts"),
                                    int(mapping.get("record_size") or 0), updated))
        return RecordPage(found, last)

    def instances_of(self, where: list[Any]) -> list[InstanceRow]:
        """Every instance under the matches (a compiled query's ``where``), series by series
        in ingest order."""
        statement = self._base("IMAGE", list(_LOCATION)).where(*where).order_by(
            series.c.pk, instances.c.pk)
        with self.engine.connect() as connection:
            return [_instance_row(row) for row in connection.execute(statement)]

    def instances_matching(self, query: CompiledQuery) -> list[InstanceRow]:
        """Every instance under the matches of ``query`` at any level (C-MOVE and C-GET, PS3.4
        C.4.2.3, C.4.3.3), series by series in ingest order; the keys without a column
        (``query.post``) are matched against each instance's attributes merged with those of
        its series, study and patient."""
        if not query.post:
            return self.instances_of(query.where)
        merged = [patients.c.attrs.label("p_attrs"), studies.c.attrs.label("st_attrs"),
                  studies.c.modalities, studies.c.sop_classes, series.c.attrs.label("se_attrs"),
                  instances.c.metadata]
        statement = self._base("IMAGE", [*_LOCATION, *merged]).where(*query.where).order_by(
            series.c.pk, instances.c.pk)
        with self.engine.connect() as connection:
            return [_instance_row(row) for row in connection.execute(statement)
                    if all(predicate(self._merge(row._mapping, "IMAGE"))
                           for predicate in query.post)]

    def metadata_texts(self, pks: list[int]) -> dict[int, str]:
        """The stored DICOM JSON metadata of instances by pk, as text (not parsed)."""
        statement = select(instances.c.pk, instances.c.metadata).where(instances.c.pk.in_(pks))
        with self.engine.connect() as connection:
            return {int(r.pk): r.metadata for r in connection.execute(statement)}

    def instance_metadata(self, sop_uids: list[str]) -> list[dict[str, Any]]:
        statement = select(instances.c.metadata).where(instances.c.sop_uid.in_(sop_uids))
        with self.engine.connect() as connection:
            return [json.loads(r.metadata) for r in connection.execute(statement)]

    def audit_summary(self, *, sop_uids: Sequence[str] = (),
                      where: list[Any] | None = None) -> list[dict[str, Any]]:
        """What an audit message says of a set of instances (PS3.15 A.5.3: Studies with the
        count per SOP Class, and the Patient): one row per patient, study and SOP Class with
        ``patient_id``, ``patient_name``, ``study_uid``, ``accession_number``, ``sop_class``
        and ``count``; the instances named by SOP Instance UID, or by a compiled query's
        ``where``."""
        columns = [patients.c.patient_id, patients.c.patient_name, studies.c.study_uid,
                   studies.c.accession_number, instances.c.sop_class]
        grouped = self._base("IMAGE", [*columns, func.count(instances.c.pk).label("count")])
        if where is not None:
            statements = [grouped.where(*where)]
        else:
            uids = list(dict.fromkeys(sop_uids))
            statements = [grouped.where(instances.c.sop_uid.in_(uids[n:n + 500]))
                          for n in range(0, len(uids), 500)]
        totals: dict[tuple[Any, ...], int] = {}
        with self.engine.connect() as connection:
            for statement in statements:
                for row in connection.execute(statement.group_by(*columns)):
                    key = tuple(row[:5])
                    totals[key] = totals.get(key, 0) + int(row[5])
        names = ("patient_id", "patient_name", "study_uid", "accession_number", "sop_class")
        return [dict(zip(names, key, strict=True), count=count) for key, count in totals.items()]

    # -- management ------------------------------------------------------------------------------
    def delete(self, level: str, uid: str) -> list[str]:
        """Remove a study, series or instance from the index; returns the file paths."""
        column = {"STUDY": studies.c.study_uid, "SERIES": series.c.series_uid,
                  "IMAGE": instances.c.sop_uid}[level]
        with self.engine.begin() as connection:
            paths = [r.path for r in connection.execute(
                self._base("IMAGE", [instances.c.path]).where(column == uid))]
            if level == "STUDY":
                study_pk = connection.execute(select(studies.c.pk).where(column == uid)).scalar()
                if study_pk is not None:
                    series_pks = [r.pk for r in connection.execute(select(series.c.pk).where(
                        series.c.study_pk == study_pk))]
                    if series_pks:
                        connection.execute(instances.delete().where(
                            instances.c.series_pk.in_(series_pks)))
                    self._prune(connection, _dt.datetime.now(_dt.UTC), series_pks=series_pks,
                                study_pks=[study_pk])
            elif level == "SERIES":
                series_pk = connection.execute(select(series.c.pk).where(column == uid)).scalar()
                if series_pk is not None:
                    connection.execute(instances.delete().where(
                        instances.c.series_pk == series_pk))
                    self._prune(connection, _dt.datetime.now(_dt.UTC), series_pks=[series_pk])
            else:
                row = connection.execute(select(instances.c.pk, instances.c.series_pk)
                                         .where(column == uid)).first()
                if row is not None:
                    connection.execute(instances.delete().where(instances.c.pk == row.pk))
                    self._prune(connection, _dt.datetime.now(_dt.UTC),
                                series_pks=[row.series_pk])
        return paths

    def _prune(self, connection: Any, now: Any, *, series_pks: Iterable[int] = (),
               study_pks: Iterable[int] = (), patient_pks: Iterable[int] = ()) -> None:
        """The one rule for what a removal leaves behind, used by every path that takes
        instances away (delete, a replacing copy that moved, reindex of vanished files): of
        the series that lost instances, those left with none are removed; then of their
        studies and of ``study_pks``, those left with no series are removed and the others get
        Modalities / SOP Classes in Study recomputed (PS3.4 C.6.1.1.3.1); then of the patients
        of removed studies and of ``patient_pks``, those left with no study are removed.
        Rows are visited in key order, so concurrent removals lock them in the same order."""
        touched_studies = set(study_pks)
        for series_pk in sorted(set(series_pks)):
            study_pk = connection.execute(select(series.c.study_pk).where(
                series.c.pk == series_pk)).scalar()
            if study_pk is None:
                continue
            touched_studies.add(study_pk)
            if not connection.execute(select(func.count()).select_from(instances).where(
                    instances.c.series_pk == series_pk)).scalar():
                connection.execute(series.delete().where(series.c.pk == series_pk))
        touched_patients = set(patient_pks)
        for study_pk in sorted(touched_studies):
            patient_pk = connection.execute(select(studies.c.patient_pk).where(
                studies.c.pk == study_pk)).scalar()
            if patient_pk is None:
                continue
            if connection.execute(select(func.count()).select_from(series).where(
                    series.c.study_pk == study_pk)).scalar():
                self._refresh_study(connection, study_pk, now)
            else:
                connection.execute(studies.delete().where(studies.c.pk == study_pk))
                touched_patients.add(patient_pk)
        for patient_pk in sorted(touched_patients):
            if not connection.execute(select(func.count()).select_from(studies).where(
                    studies.c.patient_pk == patient_pk)).scalar():
                connection.execute(patients.delete().where(patients.c.pk == patient_pk))

    def remove_missing(self, exists: Callable[[str], bool]) -> int:
        """Delete the instance rows whose file is gone (``exists(path)`` is false), then the
        series, studies and patients left empty; the studies that keep instances get their
        Modalities / SOP Classes in Study recomputed (C.6.1.1.3.1). Returns the rows removed.
        Each row is checked again in the deleting transaction, so a row another process
        re-pointed at a new file meanwhile stays."""
        with self.engine.connect() as connection:
            candidates = [(r.pk, r.path) for r in connection.execute(
                select(instances.c.pk, instances.c.path))]
        gone = [(pk, path) for pk, path in candidates if not exists(path)]
        if not gone:
            return 0
        removed = 0
        with self.engine.begin() as connection:
            touched: set[int] = set()
            for pk, path in gone:
                row = connection.execute(select(instances.c.series_pk).where(
                    instances.c.pk == pk, instances.c.path == path)).first()
                if row is None or exists(path):
                    continue
                connection.execute(instances.delete().where(instances.c.pk == pk))
                touched.add(row.series_pk)
                removed += 1
            self._prune(connection, _dt.datetime.now(_dt.UTC), series_pks=touched)
        return removed

    def fill_fragments(self) -> int:
        """Pre-encode the patients and studies indexed without their C-FIND elements
        (:func:`fill_fragments`); the rows filled."""
        with self.engine.begin() as connection:
            return sum(fill_fragments(connection, name) for name in ("patients", "studies"))

    def stats(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            out = {}
            for name, table in (("patients", patients), ("studies", studies),
                                ("series", series), ("instances", instances)):
                out[name] = int(connection.execute(select(func.count()).select_from(table))
                                .scalar() or 0)
            out["bytes"] = int(connection.execute(select(func.coalesce(
                func.sum(instances.c.size), 0))).scalar() or 0)
        return out

    def all_paths(self) -> set[str]:
        with self.engine.connect() as connection:
            return {r.path for r in connection.execute(select(instances.c.path))}

    def close(self) -> None:
        self.engine.dispose()
        self._ingest_engine.dispose()
