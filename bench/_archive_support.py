"""Helpers for bench_archive.py (not a benchmark itself): a synthetic, reproducible population
of patients and studies, a bulk loader that writes the rows ``ArchiveIndex.add_instance``
writes, the servers under test (dicomkit serve, Orthanc, DCMTK storescp) and a C-FIND timer.

The population is prefix-stable: study ``i`` and its patient are the same whatever the total
size, so the 10k-study set is the first 10k studies of the 100k-study set (the benchmark grows
one index instead of loading two), and Orthanc gets exactly the studies dicomkit has.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import functools
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _util import child_env

DCMTK = "/usr/bin"
ORTHANC = "/usr/sbin/Orthanc"
POSTGRES_ADMIN = os.environ.get("DICOMKIT_BENCH_POSTGRES",
                                "host=127.0.0.1 port=5432 user=postgres dbname=test")

# -- the population --------------------------------------------------------------------------
# The most common family names first (weight 1/rank), then a long synthetic tail, scaled so
# SMITH is about 1% of patients, as in an English-speaking hospital.
COMMON = """SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ
LOPEZ GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE HARRIS
SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES NGUYEN HILL
FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS GOMEZ PHILLIPS EVANS
TURNER DIAZ PARKER CRUZ EDWARDS COLLINS REYES STEWART MORRIS MORALES MURPHY COOK ROGERS GUTIERREZ
ORTIZ MORGAN COOPER PETERSON BAILEY REED KELLY HOWARD RAMOS KIM COX WARD RICHARDSON WATSON BROOKS
CHAVEZ WOOD JAMES BENNETT GRAY MENDOZA RUIZ HUGHES PRICE ALVAREZ CASTILLO SANDERS PATEL MYERS LONG
ROSS FOSTER JIMENEZ POWELL JENKINS PERRY RUSSELL SULLIVAN BELL COLEMAN BUTLER HENDERSON BARNES
GONZALES FISHER VASQUEZ SIMMONS ROMERO JORDAN PATTERSON ALEXANDER HAMILTON GRAHAM REYNOLDS GRIFFIN
WALLACE MORENO WEST COLE HAYES BRYANT HERRERA GIBSON ELLIS TRAN MEDINA AGUILAR STEVENS MURRAY FORD
CASTRO MARSHALL OWENS HARRISON FERNANDEZ MCDONALD WOODS WASHINGTON KENNEDY WELLS VARGAS HENRY CHEN
FREEMAN WEBB TUCKER GUZMAN BURNS CRAWFORD OLSON SIMPSON PORTER HUNTER GORDON MENDEZ SILVA SHAW
SNYDER MASON DIXON MUNOZ HUNT HICKS HOLMES PALMER WAGNER BLACK ROBERTSON BOYD ROSE STONE SALAZAR
FOX WARREN MILLS MEYER RICE SCHMIDT GARZA DANIELS FERGUSON NICHOLS STEPHENS SOTO WEAVER RYAN
GARDNER PAYNE GRANT DUNN KELLEY SPENCER HAWKINS ARNOLD PIERCE VAZQUEZ HANSEN PETERS SANTOS HART
BRADLEY KNIGHT ELLIOTT CUNNINGHAM DUNCAN ARMSTRONG HUDSON CARROLL LANE RILEY ANDREWS ALVARADO RAY
DELGADO BERRY PERKINS HOFFMAN JOHNSTON MATTHEWS PENA RICHARDS CONTRERAS WILLIS CARPENTER LAWRENCE
SANDOVAL""".split()
SYLLABLES = ("BA BER CA DOR EL FA GAL HA IN JO KA LAN MA NOR OL PE QUI RA SO TA UR VA WE YO ZE "
             "BRO KRI STA VEN LIN MOR DRA OST").split()
ENDINGS = ("SEN SSON OVA EZ MANN ELLI SKI OTT IER ANI OGLU BERG ARD INO ESCU").split()
GIVEN = """JAMES MARY ROBERT PATRICIA JOHN JENNIFER MICHAEL LINDA DAVID ELIZABETH WILLIAM BARBARA
RICHARD SUSAN JOSEPH JESSICA THOMAS SARAH CHARLES KAREN CHRISTOPHER LISA DANIEL NANCY MATTHEW BETTY
ANTHONY MARGARET MARK SANDRA DONALD ASHLEY STEVEN KIMBERLY PAUL EMILY ANDREW DONNA JOSHUA MICHELLE
KENNETH CAROL KEVIN AMANDA BRIAN DOROTHY GEORGE MELISSA TIMOTHY DEBORAH RONALD STEPHANIE EDWARD
REBECCA JASON SHARON JEFFREY LAURA RYAN CYNTHIA JACOB KATHLEEN GARY AMY NICHOLAS ANGELA ERIC
SHIRLEY JONATHAN ANNA STEPHEN BRENDA LARRY PAMELA JUSTIN EMMA SCOTT NICOLE""".split()
DOCTORS = ["HOUSE^GREGORY", "GREY^MEREDITH", "CURIE^MARIE", "OSLER^WILLIAM", "QUINN^MICHAELA",
           "KILDARE^JAMES", "ROSS^DOUG", "CARTER^JOHN", "BAILEY^MIRANDA", "SHEPHERD^DEREK"]
# modality: (share, SOP Class, study descriptions, body parts)
MODALITIES: dict[str, tuple[float, str, list[str], list[str]]] = {
    "CT": (0.28, "1.2.840.10008.5.1.4.1.1.2",
           ["CT CHEST W/O CONTRAST", "CT HEAD W/O CONTRAST", "CT ABDOMEN PELVIS W CONTRAST",
            "CTA CHEST PE"], ["CHEST", "HEAD", "ABDOMEN"]),
    "MR": (0.18, "1.2.840.10008.5.1.4.1.1.4",
           ["MR BRAIN W/WO CONTRAST", "MR KNEE LEFT", "MR LUMBAR SPINE"],
           ["BRAIN", "KNEE", "LSPINE"]),
    "CR": (0.20, "1.2.840.10008.5.1.4.1.1.1", ["XR CHEST 2 VIEWS", "XR HAND RIGHT"],
           ["CHEST", "HAND"]),
    "DX": (0.10, "1.2.840.10008.5.1.4.1.1.1.1", ["XR CHEST PA", "XR ANKLE 3 VIEWS"],
           ["CHEST", "ANKLE"]),
    "US": (0.12, "1.2.840.10008.5.1.4.1.1.6.1", ["US ABDOMEN COMPLETE", "US OB 2ND TRIMESTER"],
           ["ABDOMEN", "PELVIS"]),
    "MG": (0.06, "1.2.840.10008.5.1.4.1.1.1.2", ["MG SCREENING BILATERAL"], ["BREAST"]),
    "NM": (0.03, "1.2.840.10008.5.1.4.1.1.20", ["NM BONE SCAN WHOLE BODY"], ["WHOLEBODY"]),
    "PT": (0.03, "1.2.840.10008.5.1.4.1.1.128", ["PET CT WHOLE BODY FDG"], ["WHOLEBODY"]),
}
FIRST_DAY = dt.date(2019, 1, 1)
DAYS = 6 * 365 + 1  # 2019-01-01 … 2024-12-31
UID_ROOT = "1.2.826.0.1.3680043.10.1047"  # benchmark-only UIDs: deterministic, readable


def _surnames() -> tuple[list[str], list[float]]:
    tail = sorted({a + b + c for a in SYLLABLES for b in SYLLABLES[::3] for c in ENDINGS}
                  - set(COMMON))
    tail = [t for t in tail if not t.startswith("SMITH")]
    common = [1.0 / rank for rank in range(1, len(COMMON) + 1)]
    tail_weight = (100.0 - sum(common)) / len(tail)  # SMITH (weight 1) gets 1%
    return COMMON + tail, common + [tail_weight] * len(tail)


@dataclass
class Study:
    index: int
    patient: int
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_uid: str
    series_uid: str
    study_date: str
    study_time: str
    accession: str
    study_id: str
    description: str
    referring: str
    modality: str
    sop_class: str
    body_part: str


class Population:
    """Studies 0, 1, 2 … in order; each patient has 1-5 studies (about 2 on average)."""

    def __init__(self, seed: int = 20261126) -> None:
        self.seed = seed
        self.names, self.weights = _surnames()
        self.cum = []
        total = 0.0
        for w in self.weights:
            total += w
            self.cum.append(total)
        self.modalities = list(MODALITIES)
        self.mod_cum = []
        total = 0.0
        for m in self.modalities:
            total += MODALITIES[m][0]
            self.mod_cum.append(total)
        self._assign = random.Random(seed)
        self._next = 0  # next study index
        self._patient = -1
        self._left = 0
        self._patients: dict[int, tuple[str, str, str, str]] = {}

    def patient_id(self, p: int) -> str:
        return f"{(p * 2654435761 + 7) % 10**9:09d}"  # a permutation: unique for p < 10**9

    def accession(self, i: int) -> str:
        return f"A{(i * 7919 + 104729) % 10**8:08d}"

    def _patient_attrs(self, p: int) -> tuple[str, str, str, str]:
        rng = random.Random(self.seed * 7 + 2 * p + 1)
        family = self.names[bisect.bisect(self.cum, rng.random() * self.cum[-1])]
        given = rng.choice(GIVEN)
        middle = rng.choice(["", "", "A", "B", "J", "M"])
        name = f"{family}^{given}" + (f"^{middle}" if middle else "")
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(90 * 365))
        sex = rng.choice("MF") if rng.random() < 0.98 else "O"
        return self.patient_id(p), name, birth.strftime("%Y%m%d"), sex

    def studies(self, count: int) -> Iterator[Study]:
        """The next ``count`` studies."""
        for _ in range(count):
            i = self._next
            self._next += 1
            if self._left == 0:
                self._patient += 1
                self._left = self._assign.choices([1, 2, 3, 4, 5], [45, 25, 15, 9, 6])[0]
            self._left -= 1
            p = self._patient
            pid, name, birth, sex = self._patient_attrs(p)
            rng = random.Random(self.seed * 7 + 2 * i)
            modality = self.modalities[bisect.bisect(self.mod_cum, rng.random()
                                                     * self.mod_cum[-1])]
            _share, sop_class, descriptions, parts = MODALITIES[modality]
            day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
            yield Study(
                index=i, patient=p, patient_id=pid, patient_name=name, birth_date=birth,
                sex=sex, study_uid=f"{UID_ROOT}.1.{i + 1}", series_uid=f"{UID_ROOT}.2.{i + 1}",
                study_date=day.strftime("%Y%m%d"),
                study_time=f"{rng.randrange(7, 20):02d}{rng.randrange(60):02d}"
                           f"{rng.randrange(60):02d}",
                accession=self.accession(i), study_id=str(1 + i % 9999),
                description=rng.choice(descriptions), referring=rng.choice(DOCTORS),
                modality=modality, sop_class=sop_class, body_part=rng.choice(parts))


def apply_study(ds: Any, s: Study) -> None:
    """Give a template data set (``make_ct``) the study's identity."""
    ds.PatientID = s.patient_id
    ds.PatientName = s.patient_name
    ds.PatientBirthDate = s.birth_date
    ds.PatientSex = s.sex
    ds.StudyInstanceUID = s.study_uid
    ds.SeriesInstanceUID = s.series_uid
    ds.FrameOfReferenceUID = f"{UID_ROOT}.4.{s.index + 1}"
    ds.StudyDate = s.study_date
    ds.SeriesDate = s.study_date
    ds.StudyTime = s.study_time
    ds.AccessionNumber = s.accession
    ds.StudyID = s.study_id
    ds.StudyDescription = s.description
    ds.ReferringPhysicianName = s.referring
    ds.Modality = s.modality
    ds.SOPClassUID = s.sop_class
    ds.BodyPartExamined = s.body_part
    ds.SeriesDescription = f"{s.modality} {s.body_part}"
    ds.InstitutionName = "BENCH GENERAL HOSPITAL"
    ds.StationName = f"{s.modality}01"


def sop_uid(s: Study, k: int) -> str:
    return f"{UID_ROOT}.3.{s.index + 1}.{k + 1}"


# -- bulk loading -----------------------------------------------------------------------------
SOP_MARK = "9.8.7.6.5.4.3.2.1.0"
NUMBER_MARK = 987654321
TS_EXPLICIT = "1.2.840.10008.1.2.1"
FILE_SIZE = 10_000  # the size a 64x64 instance file has; only summed by `stats`


class BulkLoader:
    """Writes, with executemany, the rows ``add_instance`` would write for each study, into
    one or several indexes (the rows are made once and written to each).

    Per study it calls ``record_for`` once on the template (the real code path from data set
    to index keys and DICOM JSON); instances of a series differ only by SOP Instance UID and
    Instance Number, which are substituted in the JSON text. ``check_equivalence`` compares
    the result with ``add_instance`` row by row. Primary keys continue from each index's
    current maximum, so add_instance can be called between loads.
    """

    def __init__(self, indexes: Any, population: Population, per_study: int = 1) -> None:
        from dicomkit.cli.sample import make_ct

        self.indexes = list(indexes) if isinstance(indexes, (list, tuple)) else [indexes]
        self.population = population
        self.per_study = per_study
        self.template = make_ct(64)
        self.seen: set[int] = set()  # patients already inserted
        self.patient_pk: list[dict[int, int]] = [{} for _ in self.indexes]
        self.insert_seconds = [0.0 for _ in self.indexes]  # time spent in the databases

    def detach(self, index: Any) -> None:
        """Stop loading into ``index``."""
        n = self.indexes.index(index)
        for seq in (self.indexes, self.patient_pk, self.insert_seconds):
            del seq[n]

    def _next_pks(self, connection: Any) -> dict[str, int]:
        from sqlalchemy import func, select

        from dicomkit.archive.schema import instances, patients, series, studies

        return {t.name: int(connection.execute(select(func.coalesce(func.max(t.c.pk), 0)))
                            .scalar()) + 1 for t in (patients, studies, series, instances)}

    def rows(self, chunk: list[Study]) -> dict[str, list[dict[str, Any]]]:
        """Rows with pks counted from 0 in this chunk; ``_p`` names the patient."""
        from dicomkit.archive.records import dumps, record_for
        from dicomkit.services.identifiers import level_fragment

        now = dt.datetime.now(dt.UTC)
        out: dict[str, list[dict[str, Any]]] = {"patients": [], "studies": [], "series": [],
                                                "instances": []}
        ds = self.template
        for s in chunk:
            apply_study(ds, s)
            ds.SOPInstanceUID = SOP_MARK
            ds.InstanceNumber = NUMBER_MARK
            record = record_for(ds, "", FILE_SIZE, TS_EXPLICIT)
            attrs = record.level_attrs
            if s.patient not in self.seen:
                self.seen.add(s.patient)
                out["patients"].append({"pk": len(out["patients"]), "_p": s.patient,
                                        **record.patient,
                                        "attrs": dumps(attrs.get("PATIENT", {})),
                                        "dimse": level_fragment(attrs.get("PATIENT", {}))})
            study_pk, series_pk = len(out["studies"]), len(out["series"])
            out["studies"].append({
                "pk": study_pk, "_p": s.patient,
                "study_uid": record.study_uid, **record.study,
                "modalities": f"\\{s.modality}\\", "sop_classes": f"\\{s.sop_class}\\",
                "attrs": dumps(attrs.get("STUDY", {})),
                "dimse": level_fragment(attrs.get("STUDY", {})), "created": now,
                "updated": now})
            out["series"].append({"pk": series_pk, "study_pk": study_pk,
                                  "series_uid": record.series_uid, **record.series,
                                  "attrs": dumps(attrs.get("SERIES", {}))})
            metadata = dumps(record.metadata)
            for k in range(self.per_study):
                uid = sop_uid(s, k)
                out["instances"].append({
                    "pk": len(out["instances"]), "series_pk": series_pk, "sop_uid": uid,
                    "sop_class": record.sop_class, "instance_number": k + 1,
                    "transfer_syntax": TS_EXPLICIT,
                    "path": f"{s.study_uid}/{s.series_uid}/{uid}.dcm", "size": FILE_SIZE,
                    "metadata": metadata.replace(SOP_MARK, uid).replace(
                        f"[{NUMBER_MARK}]", f"[{k + 1}]"),
                    "created": now})
        return out

    def _materialise(self, rows: dict[str, list[dict[str, Any]]], base: dict[str, int],
                     patient_pk: dict[int, int]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        patients = []
        for row in rows["patients"]:
            pk = base["patients"] + row["pk"]
            patient_pk[row["_p"]] = pk
            patients.append({k: v for k, v in row.items() if k != "_p"} | {"pk": pk})
        out["patients"] = patients
        out["studies"] = [{k: v for k, v in row.items() if k != "_p"}
                          | {"pk": base["studies"] + row["pk"],
                             "patient_pk": patient_pk[row["_p"]]} for row in rows["studies"]]
        out["series"] = [row | {"pk": base["series"] + row["pk"],
                                "study_pk": base["studies"] + row["study_pk"]}
                         for row in rows["series"]]
        out["instances"] = [row | {"pk": base["instances"] + row["pk"],
                                   "series_pk": base["series"] + row["series_pk"]}
                            for row in rows["instances"]]
        return out

    def load(self, studies: int, batch: int = 1000) -> None:
        """Insert the population's next ``studies`` studies into every index."""
        from dicomkit.archive.schema import instances, patients, series
        from dicomkit.archive.schema import studies as st

        tables = {"patients": patients, "studies": st, "series": series,
                  "instances": instances}
        left = studies
        while left:
            chunk = list(self.population.studies(min(batch, left)))
            left -= len(chunk)
            relative = self.rows(chunk)
            for n, index in enumerate(self.indexes):
                start = time.perf_counter()
                with index.engine.begin() as connection:
                    rows = self._materialise(relative, self._next_pks(connection),
                                             self.patient_pk[n])
                    for name, table in tables.items():
                        if rows[name]:
                            connection.execute(table.insert(), rows[name])
                self.insert_seconds[n] += time.perf_counter() - start
        for n, index in enumerate(self.indexes):
            start = time.perf_counter()
            self.after_load(index)
            self.insert_seconds[n] += time.perf_counter() - start

    @staticmethod
    def after_load(index: Any) -> None:
        """PostgreSQL: move the pk sequences past the explicit pks (add_instance comes next)
        and ANALYZE, as autovacuum would have by then."""
        from sqlalchemy import text

        if index.is_sqlite:
            return
        with index.engine.begin() as connection:
            for name in ("patients", "studies", "series", "instances"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'pk'), "
                    f"(SELECT coalesce(max(pk), 1) FROM {name}))"))
        with index.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def natural_rows(index: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row by natural keys (no pks, no timestamps): to compare two indexes."""
    from sqlalchemy import select

    from dicomkit.archive.schema import instances, patients, series, studies

    out = {}
    with index.engine.connect() as c:
        out["patients"] = sorted(tuple(r) for r in c.execute(select(
            *[col for col in patients.c if col.name != "pk"])))
        out["studies"] = sorted(tuple(r) for r in c.execute(select(
            patients.c.patient_id, *[col for col in studies.c
                                     if col.name not in ("pk", "patient_pk", "created",
                                                         "updated")]).join_from(
            studies, patients, studies.c.patient_pk == patients.c.pk)))
        out["series"] = sorted(tuple(r) for r in c.execute(select(
            studies.c.study_uid, *[col for col in series.c
                                   if col.name not in ("pk", "study_pk")]).join_from(
            series, studies, series.c.study_pk == studies.c.pk)))
        out["instances"] = sorted(tuple(r) for r in c.execute(select(
            series.c.series_uid, *[col for col in instances.c
                                   if col.name not in ("pk", "series_pk", "created")]).join_from(
            instances, series, instances.c.series_pk == series.c.pk)))
    return out


def check_equivalence(folder: str, studies: int = 40, per_study: int = 3) -> None:
    """Load the same studies with add_instance and with BulkLoader; the rows must be equal."""
    from dicomkit.archive.index import ArchiveIndex
    from dicomkit.archive.records import record_for
    from dicomkit.cli.sample import make_ct

    real = ArchiveIndex(os.path.join(folder, "real.sqlite"))
    real.migrate()
    ds = make_ct(64)
    for s in Population().studies(studies):
        apply_study(ds, s)
        for k in range(per_study):
            ds.SOPInstanceUID = sop_uid(s, k)
            ds.InstanceNumber = k + 1
            real.add_instance(record_for(ds, f"{s.study_uid}/{s.series_uid}/{sop_uid(s, k)}.dcm",
                                         FILE_SIZE, TS_EXPLICIT))
    bulks = [ArchiveIndex(os.path.join(folder, f"bulk{n}.sqlite")) for n in range(2)]
    for bulk in bulks:
        bulk.migrate()
    loader = BulkLoader(bulks, Population(), per_study)
    loader.load(studies // 2, batch=7)
    loader.load(studies - studies // 2, batch=7)
    a = natural_rows(real)
    real.close()
    for bulk in bulks:
        b = natural_rows(bulk)
        bulk.close()
        for name in a:
            if a[name] != b[name]:
                diff = next((x, y) for x, y in zip(a[name], b[name], strict=False) if x != y)
                raise SystemExit(f"bulk rows differ from add_instance rows in {name}: {diff}")


# -- PostgreSQL ---------------------------------------------------------------------------------
def pg_admin() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)


def pg_url(database: str) -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_ADMIN)
    return (f"postgresql://{info.get('user') or 'postgres'}@{info.get('host') or '127.0.0.1'}:"
            f"{info.get('port') or '5432'}/{database}")


class PgDatabase:
    """A fresh database, dropped on exit."""

    def __enter__(self) -> str:
        self.name = f"dicomkit_bench_{uuid.uuid4().hex[:12]}"
        with pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        return pg_url(self.name)

    def __exit__(self, *exc: Any) -> None:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- servers ------------------------------------------------------------------------------------
def dcmtk_env() -> dict[str, str]:
    """Debian's DCMTK 3.6.7 (which Debian's Orthanc links too) leaves Nagle's algorithm on
    unless TCP_NODELAY=1: then every small PDU waits ~40 ms for a delayed ACK and any receiver
    caps at ~11 instances/s. Orthanc's own builds compile it off (DISABLE_NAGLE_ALGORITHM);
    TCP_NODELAY=1 gives the Debian binaries that behaviour. dicomkit sets TCP_NODELAY itself."""
    env = child_env()
    env["TCP_NODELAY"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None,
              deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class Server:
    """A receiver in a subprocess, stopped by its PID (SIGTERM, then SIGKILL)."""

    aet = "ANY"
    name = "?"

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="bench-archive-", dir=os.environ.get("BENCH_TMP"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = os.path.join(self.folder, "server.log")

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Server:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command(), env=dcmtk_env(), stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.folder)
        wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def count(self) -> int:
        raise NotImplementedError

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()


@functools.cache
def serve_has(option: str) -> bool:
    """Whether this checkout's ``dicomkit serve`` knows ``option``."""
    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "serve", "--help"],
                            capture_output=True, text=True, env=child_env())
    return option in result.stdout


class DicomkitServe(Server):
    aet = "DICOMKIT"

    def __init__(self, index_url: str | None = None, fsync: bool = True,
                 data: str | None = None) -> None:
        super().__init__()
        self.index_url = index_url
        self.fsync = fsync
        self.data = data or os.path.join(self.folder, "data")
        self.name = "dicomkit"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "dicomkit.cli.main", "serve", "--data", self.data,
               "--dimse-port", str(self.port), "--bind", "127.0.0.1", "--aet", self.aet]
        if self.index_url:
            cmd += ["--index", self.index_url]
        if not self.fsync:
            cmd.append("--no-fsync")
        if serve_has("--no-http"):  # DIMSE only: DICOMweb is not measured here
            cmd.append("--no-http")
        return cmd

    def count(self) -> int:
        from dicomkit.archive.index import ArchiveIndex

        index = ArchiveIndex(self.index_url or os.path.join(self.data, "index.sqlite"))
        try:
            return index.stats()["instances"]
        finally:
            index.close()


class Orthanc(Server):
    aet = "ORTHANC"

    def __init__(self, sync_storage: bool = True, **options: Any) -> None:
        super().__init__()
        self.http_port = free_port()
        self.name = "Orthanc"
        config = {
            "Name": "bench", "StorageDirectory": os.path.join(self.folder, "storage"),
            "IndexDirectory": os.path.join(self.folder, "index"),
            "DicomAet": self.aet, "DicomPort": self.port, "HttpPort": self.http_port,
            "DicomCheckCalledAet": False, "StorageCompression": False,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [],
            "DicomAlwaysAllowFind": True, "DicomAlwaysAllowStore": True,
            "SyncStorageArea": sync_storage, "SaveJobs": False, **options,
        }
        self.config = os.path.join(self.folder, "orthanc.json")
        Path(self.config).write_text(json.dumps(config, indent=1))

    def command(self) -> list[str]:
        return [ORTHANC, self.config]

    def start(self) -> Server:
        super().start()
        wait_port(self.http_port, self.proc)
        return self

    def rest(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=30) as r:
            return json.loads(r.read())

    def count(self) -> int:
        return int(self.rest("/statistics")["CountInstances"])


class Storescp(Server):
    aet = "STORESCP"

    def __init__(self) -> None:
        super().__init__()
        self.name = "DCMTK storescp"
        self.out = os.path.join(self.folder, "out")
        os.makedirs(self.out)

    def command(self) -> list[str]:
        return [f"{DCMTK}/storescp", "-od", self.out, "-aet", self.aet, str(self.port)]

    def count(self) -> int:
        return sum(len(f) for _, _, f in os.walk(self.out))


def storescu_parallel(server: Server, folders: list[str]) -> tuple[float, str]:
    """One storescu per folder, all at once (to load Orthanc faster); wall seconds."""
    procs = []
    start = time.perf_counter()
    for folder in folders:
        cmd = [f"{DCMTK}/storescu", "-aec", server.aet, "-aet", "BENCHSCU", "+sd",
               "127.0.0.1", str(server.port), folder]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      env=dcmtk_env()))
    errors = []
    for proc in procs:
        _out, err = proc.communicate()
        if proc.returncode:
            errors.append(err.decode(errors="replace")[-400:])
    return time.perf_counter() - start, "\n".join(errors)


def storescu(server: Server, folder: str) -> tuple[float, str]:
    """Send every file of ``folder`` on one association; (wall seconds, error text)."""
    cmd = [f"{DCMTK}/storescu", "-aec", server.aet, "-aet", "BENCHSCU", "+sd", "127.0.0.1",
           str(server.port), folder]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, env=dcmtk_env())
    elapsed = time.perf_counter() - start
    error = "" if result.returncode == 0 else result.stderr.decode(errors="replace")[-400:]
    return elapsed, error


# -- C-FIND ---------------------------------------------------------------------------------
RETURN_KEYS = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
               "StudyTime", "AccessionNumber", "StudyID", "StudyDescription",
               "ReferringPhysicianName", "ModalitiesInStudy", "StudyInstanceUID",
               "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"]


def identifier(**keys: str) -> Any:
    from dicomkit.core.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in RETURN_KEYS:
        ds.set(keyword, keys.get(keyword))
    return ds


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class Timing:
    latencies: list[float]
    matches: int
    first: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1e3

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95) * 1e3


async def _find_once(client: Any, ds: Any) -> tuple[float, float, int, int]:
    start = time.perf_counter()
    first = 0.0
    matches = 0
    status = -1
    async for status, found in client.find(ds):
        if found is not None and status in (0xFF00, 0xFF01):
            if not matches:
                first = time.perf_counter() - start
            matches += 1
    return time.perf_counter() - start, first, matches, status


async def _time_queries(port: int, aet: str, queries: dict[str, Any], reps: int, warmup: int,
                        budget: float, min_reps: int) -> dict[str, Timing]:
    from dicomkit.net.client import connect
    from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, MODELS

    contexts = [(MODELS["study"]["find"], [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]
    out = {name: Timing([], -1, []) for name in queries}
    spent = dict.fromkeys(queries, 0.0)
    async with connect("127.0.0.1", port, calling_aet="BENCHSCU", called_aet=aet,
                       contexts=contexts) as client:
        for name, ds in queries.items():
            for _ in range(warmup):
                _t, _f, matches, status = await _find_once(client, ds)
                if status != 0:
                    raise RuntimeError(f"{name}: C-FIND final status {status:04X}")
                out[name].matches = matches
        # Round robin, so a burst of load on the machine spreads over all queries; a query
        # over ``budget`` seconds in total stops early (bulk answers), after ``min_reps``.
        for rep in range(reps):
            for name, ds in queries.items():
                if spent[name] > budget and rep >= min_reps:
                    continue
                elapsed, first, matches, status = await _find_once(client, ds)
                if out[name].matches < 0:
                    out[name].matches = matches
                if status != 0 or matches != out[name].matches:
                    raise RuntimeError(f"{name}: status {status:04X}, {matches} matches")
                out[name].latencies.append(elapsed)
                out[name].first.append(first)
                spent[name] += elapsed
    return out


def time_queries(port: int, aet: str, queries: dict[str, Any], reps: int = 40, warmup: int = 2,
                 budget: float = 20.0, min_reps: int = 3) -> dict[str, Timing]:
    return asyncio.run(_time_queries(port, aet, queries, reps, warmup, budget, min_reps))


def time_search(index: Any, queries: dict[str, Any], reps: int = 10) -> dict[str, float]:
    """In-process C-FIND server work, no network: ``ArchiveIndex.answers`` (SQL and each
    match's response identifier, assembled from the pre-encoded levels where it can; the
    general route's merge where it cannot) as the SCP calls it for an explicit VR little
    endian association, plus the general route's identifiers for the matches it left:
    median ms of CPU time (process time: the machine is shared)."""
    from dicomkit.archive.matching import compile_query
    from dicomkit.encoding.transfer_syntax import EXPLICIT_VR_LITTLE_ENDIAN as ts
    from dicomkit.services.identifiers import answer_plan, identifier_bytes, location_attributes

    out = {}
    for name, ds in queries.items():
        compiled = compile_query(ds, "study")
        located = location_attributes(compiled.return_tags, "DICOMKIT")
        times = []
        for _ in range(reps):
            start = time.process_time()
            plan = answer_plan(ds, compiled.return_tags, compiled.level, ts, located)
            rows = [row if isinstance(row, bytes) else identifier_bytes(
                ds, compiled.return_tags, row | located, compiled.level, ts)
                for row in index.answers(compiled, plan)]
            times.append(time.process_time() - start)
            if len(times) >= 3 and sum(times) > 5:
                break
        out[name] = statistics.median(times) * 1e3
        out[name + ":rows"] = len(rows)
    return out


# -- DICOMweb (bench_dicomweb.py) ---------------------------------------------------------------
ORTHANC_DICOMWEB = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class DicomkitWeb(DicomkitServe):
    """``dicomkit serve`` with DICOMweb on a free port of 127.0.0.1 (DIMSE stays on too, for
    loading by C-STORE)."""

    def __init__(self, index_url: str | None = None, fsync: bool = True,
                 data: str | None = None) -> None:
        super().__init__(index_url, fsync, data)
        self.http_port = free_port()

    def command(self) -> list[str]:
        cmd = [c for c in super().command() if c != "--no-http"]
        return cmd + ["--http-port", str(self.http_port), "--http-bind", "127.0.0.1"]

    def start(self) -> Server:
        super().start()
        wait_port(self.http_port, self.proc)
        return self

    @property
    def web_root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"


class OrthancWeb(Orthanc):
    """Orthanc with its DICOMweb plugin at /dicom-web/ (plugin settings otherwise default)."""

    def __init__(self, sync_storage: bool = True, **options: Any) -> None:
        options.setdefault("Plugins", [ORTHANC_DICOMWEB])
        options.setdefault("DicomWeb", {"Enable": True, "Root": "/dicom-web/"})
        super().__init__(sync_storage, **options)
        self.name = "Orthanc"

    @property
    def web_root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def plugin_version(self) -> str:
        try:
            return str(self.rest("/plugins/dicom-web")["Version"])
        except Exception:  # noqa: BLE001 - only printed
            return "?"


# The listening socket of dicomkit's DICOMweb server is made with socket.socket(family,
# SOCK_STREAM), protocol 0; asyncio sets TCP_NODELAY on accepted connections only when the
# socket's protocol is IPPROTO_TCP, so Nagle's algorithm stays on for every HTTP connection and
# a response written in two pieces (head, then body) waits ~40 ms for the client's delayed
# ACK. This wrapper makes that socket with IPPROTO_TCP (the one-line fix), to measure the
# difference; it changes nothing when the server already does so.
NODELAY_PATCH = """\
import socket, sys, types
import dicomkit.web.server as web_server
shim = types.ModuleType("socket")
shim.__dict__.update(socket.__dict__)
def _tcp_socket(family=socket.AF_INET, kind=socket.SOCK_STREAM, proto=0, *rest):
    return socket.socket(family, kind, proto or socket.IPPROTO_TCP, *rest)
shim.socket = _tcp_socket
web_server.socket = shim
from dicomkit.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


class DicomkitWebNodelay(DicomkitWeb):
    """DicomkitWeb with TCP_NODELAY on its HTTP connections (see NODELAY_PATCH)."""

    def command(self) -> list[str]:
        cmd = super().command()
        if cmd[1:3] != ["-m", "dicomkit.cli.main"]:
            raise RuntimeError(f"unexpected serve command {cmd[:3]}")
        return [cmd[0], "-c", NODELAY_PATCH, *cmd[3:]]
