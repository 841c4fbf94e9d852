"""Fixtures for the archive tests: an index on SQLite and on PostgreSQL, an archive on it, and
synthetic instances.

``index_url`` runs each test twice: on a SQLite file in ``tmp_path`` and on a uniquely named
PostgreSQL database at 127.0.0.1:5432 (user ``postgres``, trust authentication), created through
the ``test`` database for the session, emptied before each test and dropped at the end. Set
``DICOMKIT_TEST_POSTGRES`` to a libpq connection string to use another server. When PostgreSQL
cannot be reached the tests FAIL, they never skip: CI must exercise both index back ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dicomkit import write
from dicomkit.archive.store import Archive
from dicomkit.cli.sample import make_ct
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid

BACKENDS = ("sqlite", "postgresql")
POSTGRES_ADMIN = os.environ.get(
    "DICOMKIT_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test")
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable with {POSTGRES_ADMIN!r}: {exc}. The archive "
                    "tests need it (CI runs them on both index back ends).", pytrace=False)


def _postgres_url(database: str) -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_ADMIN)
    user = info.get("user") or "postgres"
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or "5432"
    return f"postgresql://{user}@{host}:{port}/{database}"


@contextmanager
def index_database(backend: str, folder: Path) -> Iterator[str]:
    """An empty index: a SQLite file under ``folder`` or a new PostgreSQL database."""
    if backend == "sqlite":
        yield str(folder / "index.sqlite")
        return
    name = f"dicomkit_test_{uuid.uuid4().hex[:16]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One new PostgreSQL database for the session (per xdist worker); emptied per test."""
    with index_database("postgresql", tmp_path_factory.getbasetemp()) as url:
        yield url


def _emptied(url: str) -> str:
    """Drop every table, so each test meets a database as new as a created one (and faster)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return url


@pytest.fixture(params=BACKENDS)
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty index: a SQLite file in ``tmp_path``, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "index.sqlite")
    return _emptied(request.getfixturevalue("postgres_database"))


@pytest.fixture
def archive(tmp_path: Path, index_url: str) -> Iterator[Archive]:
    store = Archive(str(tmp_path / "data"), index_url, fsync=False)
    try:
        yield store
    finally:
        store.close()


def make_instance(*, patient_id: str = "DK-1", patient_name: str = "Doe^Jane",
                  study_uid: str | None = None, series_uid: str | None = None,
                  sop_uid: str | None = None, sop_class: str = CT_IMAGE_STORAGE,
                  study_date: str = "20240105", study_time: str = "081500",
                  modality: str = "CT", number: int = 1, **attributes: Any) -> Dataset:
    """A small CT-like instance (4x4 pixels) with the identifying attributes given; other
    keywords set attributes, and ``None`` removes one."""
    ds = make_ct(4, number, study_uid or generate_uid(), series_uid or generate_uid())
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.SOPClassUID = sop_class
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.Modality = modality
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                del ds[keyword]
        else:
            setattr(ds, keyword, value)
    return ds


def write_instance(ds: Dataset, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    write(ds, path)
    return path


@pytest.fixture
def add(archive: Archive, tmp_path: Path) -> Callable[..., Dataset]:
    """``add(**make_instance_arguments)``: make an instance, write it, import it."""

    def add_one(**kwargs: Any) -> Dataset:
        ds = make_instance(**kwargs)
        archive.import_file(str(write_instance(ds, tmp_path / "incoming")))
        return ds

    return add_one
