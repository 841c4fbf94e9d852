"""QIDO-RS and WADO-RS metadata next to a real peer: Orthanc's DICOMweb plugin (Debian's
``orthanc`` 1.10 and ``orthanc-dicomweb``), loaded by STOW-RS with the very same files as
``dicomkit serve`` (SQLite and PostgreSQL index), must find the same studies, series and
instances for the same query, where PS3.18 §10.6 and PS3.4 C.2.2.2 define the matching.

Each query also names the matches the standard requires, so two servers that agree on a wrong
answer still fail. Orthanc is configured to follow the standard where it has an option for it
(``CaseSensitivePN``, ``QidoCaseSensitive``); where it has none the query is left out here, with
the reason next to it (see ``ORTHANC_DEVIATIONS``).

Orthanc runs as a subprocess of the test with its own configuration, storage and index in a
temporary folder, its HTTP server on a free port (``RemoteAccessAllowed: false``: Orthanc 1.10
cannot bind to one address, so it refuses remote peers instead) and its DICOM server off (the
data arrives by STOW-RS). It is stopped by its PID. Orthanc missing is a failure, never a skip:
``tools/test.sh`` installs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import Backend
from tests.support.servers import ServeFactory, free_port, wait_for_port
from tests.support.web import start_web, stow

ORTHANC = Path("/usr/sbin/Orthanc")
ORTHANC_DICOMWEB = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_START_DEADLINE = 30.0
ORTHANC_STOP_DEADLINE = 20.0

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
SOP_CLASS = {"CT": CT_IMAGE, "MR": MR_IMAGE, "US": US_IMAGE}

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
UID_OF_LEVEL = {"studies": STUDY_UID, "series": SERIES_UID, "instances": SOP_UID}


# -- the population --------------------------------------------------------------------------
@dataclass(frozen=True)
class Patient:
    name: str
    id: str
    birth_date: str
    sex: str


DOE_JOHN = Patient("Doe^John", "PAT-001", "19600101", "M")
DOE_JANE = Patient("Doe^Jane", "PAT-002", "19650505", "F")
DOE_JOHN_LOWERCASE = Patient("doe^john", "PAT-003", "19700707", "M")  # another patient
VAN_DER_BERG = Patient("Van Der Berg^Anna", "PAT-004", "19801212", "F")
ROE = Patient("Roe^Richard", "PAT-005", "19550303", "M")


@dataclass(frozen=True)
class StudyPlan:
    """One study: its patient, study attributes and series (modality, number, instances)."""

    label: str
    patient: Patient
    date: str
    time: str
    accession: str
    description: str
    referring: str
    series: tuple[tuple[str, int, int], ...]


PLAN = (
    StudyPlan("S1", DOE_JOHN, "20190315", "083000", "ACC-100", "CT chest,abdomen",
              "Curie^Marie", (("CT", 1, 3), ("CT", 2, 2))),
    StudyPlan("S2", DOE_JOHN, "20200101", "141500", "ACC-101", "MR brain", "House^Gregory",
              (("MR", 1, 2), ("MR", 2, 2))),
    StudyPlan("S3", DOE_JANE, "20200615", "101010", "ACC-102", "CT abdomen and US abdomen",
              "Curie^Marie", (("CT", 1, 2), ("US", 2, 2))),
    StudyPlan("S4", DOE_JOHN_LOWERCASE, "20210710", "235959", "ACC-103", "US abdomen",
              "Grey^Meredith", (("US", 1, 2),)),
    StudyPlan("S5", VAN_DER_BERG, "20191231", "070000", "ACC-104", "MR knee", "House^Gregory",
              (("MR", 1, 2), ("CT", 3, 1))),
    StudyPlan("S6", ROE, "20200101", "093000", "ACC-105", "CT head", "Grey^Meredith",
              (("CT", 1, 3),)),
)


@dataclass
class Population:
    """The files made from ``PLAN`` and their UIDs by label: ``S3`` a study, ``S3.2`` its
    series number 2, ``S3.2.1`` that series' instance number 1."""

    files: list[Path] = field(default_factory=list)
    uids: dict[str, str] = field(default_factory=dict)  # label -> UID
    instances: list[str] = field(default_factory=list)  # instance labels

    def label(self, uid: str) -> str:
        return next((k for k, v in self.uids.items() if v == uid), uid)

    def labels(self, uids: set[str]) -> set[str]:
        return {self.label(uid) for uid in uids}

    def instances_under(self, label: str) -> set[str]:
        """The instance labels of a study or series label (an instance label: itself)."""
        if label.count(".") == 2:
            return {label}
        return {k for k in self.instances if k.startswith(label + ".")}


def build_population(folder: Path) -> Population:
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    population = Population()
    for plan in PLAN:
        study = generate_uid()
        population.uids[plan.label] = study
        for modality, number, count in plan.series:
            series = generate_uid()
            series_label = f"{plan.label}.{number}"
            population.uids[series_label] = series
            for index in range(1, count + 1):
                ds = make_ct(8, index, study, series)
                ds.SOPClassUID = SOP_CLASS[modality]
                ds.Modality = modality
                ds.PatientName = plan.patient.name
                ds.PatientID = plan.patient.id
                ds.PatientBirthDate = plan.patient.birth_date
                ds.PatientSex = plan.patient.sex
                ds.StudyDate = plan.date
                ds.StudyTime = plan.time
                ds.AccessionNumber = plan.accession
                ds.StudyDescription = plan.description
                ds.ReferringPhysicianName = plan.referring
                ds.StudyID = plan.label
                ds.SeriesNumber = number
                ds.SeriesDescription = f"{modality} series {number}"
                label = f"{series_label}.{index}"
                population.uids[label] = str(ds.SOPInstanceUID)
                population.instances.append(label)
                path = folder / f"{label}.dcm"
                write(ds, str(path))
                population.files.append(path)
    return population


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    return build_population(tmp_path_factory.mktemp("orthanc-population"))


# -- the two servers -----------------------------------------------------------------------------
#: What Orthanc 1.10 takes unencoded in a query value: it does not percent-decode query
#: parameters (its DICOMweb plugin even replaces "%2C" by hand), so values go to it as they are
#: and a value that would need percent-encoding (a space, say) cannot be sent to it at all.
RAW_QUERY_VALUE = re.compile(r"[A-Za-z0-9._~!$'()*,;:@/?^-]*")


@dataclass
class Peer:
    name: str
    root: str  # the DICOMweb service root, without a trailing slash
    percent_encodes: bool = True  # False: the query string is sent unencoded (Orthanc)

    def get(self, path: str, params: dict[str, str] | None = None,
            accept: str = "application/dicom+json") -> list[dict[str, Any]]:
        url = self.root + path
        if params and not self.percent_encodes:
            unsendable = [v for v in params.values() if not RAW_QUERY_VALUE.fullmatch(v)]
            assert not unsendable, f"{self.name} cannot be sent {unsendable} unencoded"
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
            params = None
        response = httpx.get(url, params=params, timeout=30, headers={"Accept": accept})
        assert response.status_code == 200, \
            f"{self.name}: GET {response.url} -> {response.status_code}: {response.text[:500]}"
        body: list[dict[str, Any]] = response.json()
        return body


def orthanc_config(folder: Path, http_port: int) -> dict[str, Any]:
    """Orthanc 1.10's configuration (its defaults: ``Orthanc --config=FILE``)."""
    return {
        "Name": "dicomkit-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,  # no bind address in 1.10: refuse non-local peers
        "AuthenticationEnabled": False,
        "HttpThreadsCount": 4,
        "TcpNoDelay": True,
        "DicomServerEnabled": False,  # the data arrives by STOW-RS: no port on all addresses
        "DicomPort": free_port(),  # unused while the DICOM server is off
        "DicomCheckCalledAet": False,
        "ConcurrentJobs": 1,
        "SaveJobs": False,
        "StorageCompression": False,
        # PS3.4 C.2.2.2.1 lets PN literal matching be case-insensitive; dicomkit's is
        # case-sensitive unless fuzzymatching=true (PS3.18 §8.3.4.2), and so is Orthanc's
        # with these two (CaseSensitivePN is false by default).
        "CaseSensitivePN": True,
        "Plugins": [str(ORTHANC_DICOMWEB)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": False,
            "QidoCaseSensitive": True,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }


@pytest.fixture(scope="module")
def orthanc(population: Population, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Peer]:
    """A real Orthanc with the DICOMweb plugin, loaded with the population by STOW-RS."""
    missing = [str(p) for p in (ORTHANC, ORTHANC_DICOMWEB) if not p.exists()]
    if missing:
        pytest.fail(f"Orthanc missing: {', '.join(missing)} (install the Debian packages "
                    "'orthanc' and 'orthanc-dicomweb'; tools/test.sh does)", pytrace=False)
    folder = tmp_path_factory.mktemp("orthanc")
    http_port = free_port()
    config = folder / "orthanc.json"
    config.write_text(json.dumps(orthanc_config(folder, http_port), indent=2))
    log_path = folder / "orthanc.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(ORTHANC), str(config)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=folder,
                                # Debian's DCMTK, linked by Orthanc, keeps Nagle on for
                                # DIMSE without it (bench/_archive_support.py); HTTP has
                                # the configuration's "TcpNoDelay"
                                env={**os.environ, "TCP_NODELAY": "1"})

    def log_tail() -> str:
        lines = log_path.read_text("utf-8", errors="replace").splitlines()
        return "Orthanc log:\n" + "\n".join(lines[-30:])

    try:
        wait_for_port(http_port, proc, deadline=ORTHANC_START_DEADLINE, describe=log_tail)
        _wait_for_http(f"http://127.0.0.1:{http_port}/system", proc, log_tail)
        peer = Peer("Orthanc", f"http://127.0.0.1:{http_port}/dicom-web",
                    percent_encodes=False)
        response = stow(peer.root, population.files)
        assert response.status_code == 200, response.text[:2000] + log_tail()
        yield peer
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(ORTHANC_STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_for_http(url: str, proc: subprocess.Popen[bytes], describe: Any) -> None:
    """Orthanc listens before its plugins' routes answer; wait for a 200."""
    end = time.monotonic() + ORTHANC_START_DEADLINE
    while time.monotonic() < end and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"Orthanc did not answer {url}\n{describe()}", pytrace=False)


@pytest.fixture(scope="module")
def dicomkit(backend: Backend, module_serve: ServeFactory, population: Population,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """``dicomkit serve`` on each index backend, loaded with the population by STOW-RS."""
    data = tmp_path_factory.mktemp(f"orthanc-peer-{backend.name}")
    server, http_port = start_web(module_serve, data, backend.new_index())
    peer = Peer(f"dicomkit ({backend.name})", f"http://127.0.0.1:{http_port}/dicom-web")
    response = stow(peer.root, population.files)
    assert response.status_code == 200, response.text[:2000] + server.log_tail()
    yield peer
    assert server.stop() == 0, server.log_tail()


# -- QIDO-RS: the same matches ---------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """``path`` (labels in braces become UIDs), query parameters, and the labels of the
    matches the standard requires (a study or series label at the instance level stands for
    all its instances)."""

    path: str
    params: dict[str, str]
    expected: frozenset[str]

    @property
    def level(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def id(self) -> str:
        keys = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.path}?{keys}" if keys else self.path


def q(path: str, expected: str, **params: str) -> Query:
    return Query(path, params, frozenset(expected.split()))


QUERIES = [
    # Studies (PS3.18 §10.6.1, Table 10.6.1-5; PS3.4 C.6.2.1.1)
    q("/studies", "S1 S2 S3 S4 S5 S6"),
    q("/studies", "S1 S2", PatientID="PAT-001"),
    q("/studies", "S1 S2", PatientName="Doe^John"),  # single value, C.2.2.2.1
    q("/studies", "S4", PatientName="doe^john"),  # case-sensitive literal matching
    q("/studies", "S5", PatientName="Van?Der?Berg^Anna"),  # "?" matches the spaces
    q("/studies", "S1 S2 S3", PatientName="Doe*"),  # wild card, C.2.2.2.4
    q("/studies", "S1 S2 S3 S4 S6", PatientName="?oe*"),
    q("/studies", "S1 S2 S3", PatientName="*^J*"),
    q("/studies", "S1 S2 S3", PatientName="Doe^J*"),
    q("/studies", "S3 S5", PatientSex="F"),
    q("/studies", "S1 S2 S3", PatientBirthDate="19600101-19651231"),
    q("/studies", "S2 S6", StudyDate="20200101"),
    q("/studies", "S2 S3 S6", StudyDate="20200101-20201231"),  # range, C.2.2.2.5
    q("/studies", "S1 S2 S5 S6", StudyDate="-20200101"),
    q("/studies", "S2 S3 S4 S6", StudyDate="20200101-"),
    q("/studies", "S2 S3 S6", StudyTime="090000-150000"),
    q("/studies", "S6", StudyDate="20200101", StudyTime="-100000"),
    q("/studies", "S4", AccessionNumber="ACC-103"),
    q("/studies", "", AccessionNumber="acc-103"),
    q("/studies", "S4", AccessionNumber="*3"),
    q("/studies", "S1 S2 S3 S4 S5 S6", AccessionNumber="ACC-10*"),
    q("/studies", "S1 S3 S5 S6", ModalitiesInStudy="CT"),
    q("/studies", "S3 S4", ModalitiesInStudy="US"),
    q("/studies", "S2", ModalitiesInStudy="MR", PatientName="Doe*"),
    q("/studies", "S2 S5", ReferringPhysicianName="House^Gregory"),
    q("/studies", "S1 S3 S4", StudyDescription="*abdomen*"),
    q("/studies", "", StudyDescription="*ABDOMEN*"),  # case-sensitive: C.2.2.2.1, -.4
    q("/studies", "S3", StudyID="S3"),
    q("/studies", "S1 S4", StudyInstanceUID="{S1},{S4}"),  # UID list, §8.3.4.1, C.2.2.2.2
    q("/studies", "", PatientID="PAT-999"),
    q("/studies", "", PatientName="Doe", StudyDate="20210710"),
    # Series of all studies (§10.6.1: study keys allowed) and of one study
    q("/series", "S1.1 S1.2 S3.1 S5.3 S6.1", Modality="CT"),
    q("/series", "S3.2 S4.1", Modality="US"),
    q("/series", "S1.2 S2.2 S3.2", SeriesNumber="2"),
    q("/series", "S2.1 S2.2", Modality="MR", PatientName="Doe*"),
    q("/series", "S1.1 S1.2", StudyInstanceUID="{S1}"),
    q("/series", "S5.3", StudyDate="-20191231", SeriesNumber="3"),
    q("/series", "", Modality="XA"),
    q("/series", "S3.2 S4.1", SeriesDescription="US*"),
    q("/series", "S4.1", PatientName="doe*"),
    q("/series", "", SeriesInstanceUID="{S1}"),  # a study's UID is no series'
    q("/studies/{S3}/series", "S3.1 S3.2"),
    q("/studies/{S3}/series", "S3.2", Modality="US"),
    q("/studies/{S5}/series", "S5.3", SeriesNumber="3"),
    q("/studies/{S5}/series", "", Modality="US"),
    # Instances
    q("/instances", "S2 S5.1", SOPClassUID=MR_IMAGE),
    q("/instances", "S3.2 S4.1", Modality="US"),
    q("/instances", "S4", SOPClassUID=US_IMAGE, PatientID="PAT-003"),
    q("/instances", "S6", StudyDescription="*head"),
    q("/instances", "S1.1.2 S1.2.2 S6.1.2", InstanceNumber="2", Modality="CT",
      StudyDate="-20200101"),
    q("/studies/{S3}/instances", "S3.2", SOPClassUID=US_IMAGE),
    q("/studies/{S3}/instances", "S3"),
    q("/studies/{S1}/series/{S1.1}/instances", "S1.1"),
    q("/studies/{S1}/series/{S1.1}/instances", "S1.1.3", InstanceNumber="3"),
    q("/studies/{S1}/series/{S1.1}/instances", "S1.1.1 S1.1.2",
      SOPInstanceUID="{S1.1.1},{S1.1.2}"),
    q("/studies/{S1}/series/{S1.1}/instances", "", SOPClassUID=MR_IMAGE),
]

#: Queries Orthanc 1.10 (DICOMweb plugin 1.7) answers against PS3.18 with no option to make it
#: follow the standard (each was tried against it): asked of dicomkit only.
ORTHANC_DEVIATIONS = [
    # PS3.18 §8.3.1 takes query parameters as RFC 3986 defines them, so a space is sent as %20
    # (RFC 3986 §2.1); Orthanc matches the value with "%20" still in it, and nothing matches.
    q("/studies", "S5", PatientName="Van Der Berg^Anna"),
    q("/studies", "S5", PatientName="Van Der*"),
    q("/studies", "S3", StudyDescription="CT abdomen and US abdomen"),
    # §8.3.4.1 makes a comma a value separator only for UIDs (uid-list-match); Orthanc splits
    # every value at commas ("*chest" or "abdomen" here).
    q("/studies", "S1", StudyDescription="*chest,abdomen"),
    # §10.6.1 (Table 10.6.1-5) lets series of all studies be searched by study attributes;
    # Orthanc takes Modalities in Study at the study level only, and finds no series.
    q("/series", "S3.1 S3.2 S4.1", ModalitiesInStudy="US"),
]
# Not compared at all: fuzzymatching=true (what it matches is the server's own choice, PS3.18
# §8.3.4.2; Orthanc accepts the parameter and ignores it), and a partial time as a single value
# (StudyTime=1010), which dicomkit matches as that whole minute and Orthanc as the literal text.


def resolve(population: Population, text: str) -> str:
    """``/studies/{S1}`` -> ``/studies/1.2.…``; ``{S1},{S4}`` -> two UIDs."""
    for label in sorted(population.uids, key=len, reverse=True):
        text = text.replace("{" + label + "}", population.uids[label])
    return text


def expected_uids(population: Population, query: Query) -> set[str]:
    if query.level != "instances":
        return {population.uids[label] for label in query.expected}
    return {population.uids[i] for label in query.expected
            for i in population.instances_under(label)}


def search(peer: Peer, population: Population, query: Query,
           **extra: str) -> list[dict[str, Any]]:
    params = {k: resolve(population, v) for k, v in query.params.items()} | extra
    return peer.get(resolve(population, query.path), params)


def uids(matches: list[dict[str, Any]], level: str) -> set[str]:
    key = UID_OF_LEVEL[level]
    return {m[key]["Value"][0] for m in matches}


@pytest.mark.parametrize("query", QUERIES, ids=Query.id)
def test_qido_rs_finds_what_orthanc_finds(dicomkit: Peer, orthanc: Peer, population: Population,
                                          query: Query) -> None:
    ours = uids(search(dicomkit, population, query), query.level)
    theirs = uids(search(orthanc, population, query), query.level)
    assert population.labels(ours) == population.labels(theirs), \
        f"{dicomkit.name} and Orthanc disagree on {query.id()}"
    assert population.labels(ours) == population.labels(expected_uids(population, query)), \
        f"both servers disagree with PS3.4 C.2.2.2 on {query.id()}"


@pytest.mark.parametrize("query", ORTHANC_DEVIATIONS, ids=Query.id)
def test_qido_rs_finds_what_the_standard_requires_where_orthanc_cannot_be_asked(
        dicomkit: Peer, population: Population, query: Query) -> None:
    ours = uids(search(dicomkit, population, query), query.level)
    assert population.labels(ours) == population.labels(expected_uids(population, query))


LIMITED = [
    ("/studies", {"limit": "2"}, 2),
    ("/studies", {"limit": "4", "offset": "4"}, 2),
    ("/studies", {"offset": "5"}, 1),
    ("/studies", {"offset": "6"}, 0),
    ("/series", {"Modality": "CT", "limit": "3", "offset": "1"}, 3),
    ("/instances", {"Modality": "MR", "limit": "10"}, 6),
    ("/studies/{S1}/instances", {"limit": "1", "offset": "4"}, 1),
]


@pytest.mark.parametrize(("path", "params", "count"), LIMITED,
                         ids=[f"{p}?{'&'.join(f'{k}={v}' for k, v in a.items())}"
                              for p, a, _ in LIMITED])
def test_limit_and_offset_cut_the_same_number_of_matches(
        dicomkit: Peer, orthanc: Peer, population: Population, path: str,
        params: dict[str, str], count: int) -> None:
    """PS3.18 §8.3.4.4: the order of matches is the server's own, so only counts compare."""
    level = path.rsplit("/", 1)[-1]
    query = Query(path, {k: v for k, v in params.items() if k not in ("limit", "offset")},
                  frozenset())
    extra = {k: v for k, v in params.items() if k in ("limit", "offset")}
    everything = uids(search(dicomkit, population, query), level)
    ours = search(dicomkit, population, query, **extra)
    theirs = search(orthanc, population, query, **extra)
    assert (len(ours), len(theirs)) == (count, count)
    assert uids(ours, level) <= everything
    assert uids(theirs, level) <= everything


# -- QIDO-RS: the same values ----------------------------------------------------------------------
#: Result attributes (PS3.18 Tables 10.6.3-3, -4, -5) compared value by value. Retrieve URL
#: is left out (the service roots differ), so are Instance Availability and Specific Character
#: Set (Orthanc leaves out the first, dicomkit the second: JSON text is Unicode anyway).
STUDY = ("00080020", "00080030", "00080050", "00080090", "00100010", "00100020", "00100030",
         "00100040", "0020000D", "00200010")
STUDY_COMPUTED = ("00080061", "00201206", "00201208")  # Modalities, Number of … in Study
SERIES = ("00080060", "0008103E", "0020000E", "00200011")
SERIES_COMPUTED = ("00201209",)  # Number of Series Related Instances
INSTANCE = ("00080016", "00080018", "00200013", "00280010", "00280011", "00280100")
#: Per resource, the levels §10.6.3.3 returns. The attributes the archive computes for the
#: level above are left out of /series and /instances: Orthanc returns them only at their own
#: level, where they are compared.
COMPARED = [
    (Query("/studies", {}, frozenset()), STUDY + STUDY_COMPUTED),
    (Query("/series", {}, frozenset()), SERIES + SERIES_COMPUTED + STUDY),
    (Query("/instances", {}, frozenset()), INSTANCE + SERIES + STUDY),
    (Query("/studies/{S3}/series", {}, frozenset()), SERIES + SERIES_COMPUTED),
    (Query("/studies/{S3}/instances", {}, frozenset()), INSTANCE + SERIES),
    (Query("/studies/{S1}/series/{S1.1}/instances", {}, frozenset()), INSTANCE),
    # §8.3.4.3: includefield adds attributes, from the index or from the instances
    (Query("/studies", {"includefield": "StudyDescription"}, frozenset()), ("00081030",)),
    (Query("/series", {"includefield": "Manufacturer"}, frozenset()), ("00080070",)),
    (Query("/instances", {"includefield": "00200032,00280030"}, frozenset()),
     ("00200032", "00280030")),
]
#: Multi-valued attributes whose order the standard leaves open: compared as sets.
UNORDERED = {"00080061"}


def comparable(element: dict[str, Any], tag: str) -> tuple[str, Any]:
    values = element.get("Value", [])
    if tag in UNORDERED:
        return element.get("vr", ""), sorted(values)
    return element.get("vr", ""), values


@pytest.mark.parametrize(("query", "tags"), COMPARED, ids=[q.id() for q, _ in COMPARED])
def test_qido_rs_returns_the_values_orthanc_returns(
        dicomkit: Peer, orthanc: Peer, population: Population, query: Query,
        tags: tuple[str, ...]) -> None:
    ours = {m[UID_OF_LEVEL[query.level]]["Value"][0]: m
            for m in search(dicomkit, population, query)}
    theirs = {m[UID_OF_LEVEL[query.level]]["Value"][0]: m
              for m in search(orthanc, population, query)}
    assert ours.keys() == theirs.keys()
    differences = []
    for uid, match in ours.items():
        for tag in tags:
            mine = comparable(match.get(tag, {}), tag)
            other = comparable(theirs[uid].get(tag, {}), tag)
            if mine != other or not mine[1]:
                differences.append(f"{population.label(uid)} {tag}: {dicomkit.name} {mine}, "
                                   f"Orthanc {other}")
    assert not differences, "\n".join(differences)


# -- WADO-RS metadata ----------------------------------------------------------------------------
def is_bulk(element: dict[str, Any]) -> bool:
    return "BulkDataURI" in element or "InlineBinary" in element


@pytest.mark.parametrize("path", ["/studies/{S3}/series/{S3.2}/instances/{S3.2.1}/metadata",
                                  "/studies/{S3}/metadata"])
def test_wado_rs_metadata_has_the_tags_and_values_orthanc_has(
        dicomkit: Peer, orthanc: Peer, population: Population, path: str) -> None:
    """PS3.18 §10.4 metadata in DICOM JSON (Annex F): the same attributes with the same values,
    bulk data aside (each server names its own bulk data URIs). DS and IS values are JSON
    numbers, so 1 and 1.0 are the same value."""
    ours = {i[SOP_UID]["Value"][0]: i for i in dicomkit.get(resolve(population, path))}
    theirs = {i[SOP_UID]["Value"][0]: i for i in orthanc.get(resolve(population, path))}
    assert population.labels(set(ours)) == population.labels(set(theirs))
    differences = []
    for uid, instance in ours.items():
        mine = {tag: element for tag, element in instance.items() if not is_bulk(element)}
        other = {tag: element for tag, element in theirs[uid].items() if not is_bulk(element)}
        differences += [f"{population.label(uid)} {tag}: {dicomkit.name} {mine.get(tag)}, "
                        f"Orthanc {other.get(tag)}"
                        for tag in sorted(mine.keys() | other.keys())
                        if mine.get(tag) != other.get(tag)]
    assert not differences, "\n".join(differences)
