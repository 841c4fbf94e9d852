"""The fixtures shared by the test folders; their helper code lives in :mod:`tests.support`.

- ``pydicom_files`` / ``charset_files``: pydicom's bundled sample files (a test-time reference
  only).
- ``dcmtk`` (the DCMTK file tools) and ``dcmtk_net`` (the network tools, by absolute path). Tests
  marked ``@pytest.mark.dcmtk`` or using either fixture FAIL, not skip, when the tools are
  missing: CI installs them.
- ``serve`` / ``module_serve``: ``dicomkit serve`` subprocesses on free ports, stopped by PID.
- ``backend``: each module runs on both index back ends, SQLite and PostgreSQL at
  127.0.0.1:5432 (fresh databases, dropped afterwards); ``index_url`` / ``archive`` / ``add`` do
  the same per test for the archive through its Python API. PostgreSQL being unreachable is a
  failure, never a skip.
- ``study_set``: the instances the archive tests send; ``web``: a ``dicomkit serve`` with
  DICOMweb loaded by storescu and STOW-RS.
- ``chromium`` (one headless Debian chromium per session), ``browser`` (Playwright attached to
  it, per module) and ``page`` (a fresh context and page per test): tests/support/browser.py.
  A missing chromium or playwright is a failure, never a skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from tests.support.browser import Chromium, connect, new_page, start_chromium
from tests.support.databases import BACKENDS, Backend, emptied, index_database, pg_admin
from tests.support.datasets import (
    StudySet,
    make_instance,
    make_study_set,
    pydicom_data_dir,
    pydicom_file,
    write_instance,
)
from tests.support.dcmtk import DCMTK_TOOLS, Dcmtk, check_dcmtk_net, missing_tools, run_tool
from tests.support.servers import ServeFactory
from tests.support.web import STOWED, WebArchive, start_web, stow


# -- pydicom's sample files ------------------------------------------------------------------
@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    return pydicom_data_dir() / "test_files"


@pytest.fixture(scope="session")
def charset_files() -> Path:
    return pydicom_data_dir() / "charset_files"


# -- DCMTK -------------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dcmtk: needs the DCMTK tools (dcmdump, dcmconv, dump2dcm, dcmodify); "
        "fails when they are missing"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("dcmtk") is not None:
        missing = missing_tools()
        if missing:
            pytest.fail(f"DCMTK tools not found on PATH: {', '.join(missing)} "
                        "(install the Debian package 'dcmtk')", pytrace=False)


@pytest.fixture(scope="session")
def dcmtk() -> Dcmtk:
    import shutil

    missing = missing_tools()
    if missing:
        pytest.fail(f"DCMTK tools not found on PATH: {', '.join(missing)} "
                    "(install the Debian package 'dcmtk')", pytrace=False)
    return Dcmtk({tool: shutil.which(tool) or tool for tool in DCMTK_TOOLS})


@pytest.fixture(scope="session")
def dcmtk_net() -> dict[str, str]:
    return check_dcmtk_net()


# -- dicomkit serve ------------------------------------------------------------------------------
@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    factory = ServeFactory(tmp_path)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module")
def module_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFactory]:
    factory = ServeFactory(tmp_path_factory.mktemp("serve"))
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    chosen = Backend(request.param, module)
    if chosen.is_postgresql:
        pg_admin().close()  # unreachable: fail now, with the reason
    yield chosen
    chosen.drop_all()


@pytest.fixture(scope="session")
def study_set(tmp_path_factory: pytest.TempPathFactory) -> StudySet:
    return make_study_set(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def web(backend: Backend, module_serve: ServeFactory, study_set: StudySet,
        dcmtk_net: dict[str, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[WebArchive]:
    """``dicomkit serve`` with DICOMweb, loaded by storescu and STOW-RS."""
    data = tmp_path_factory.mktemp(f"web-{backend.name}")
    server, http_port = start_web(module_serve, data, backend.new_index())
    result = run_tool("storescu", "-v", "-aec", "PACS", "127.0.0.1", server.port, "+sd",
                      study_set.folder)
    output = result.stdout + result.stderr
    assert output.count("Received Store Response (Success)") == len(study_set.instances), \
        output[-2000:] + server.log_tail()
    archive = WebArchive(server, http_port, study_set,
                         {name: pydicom_file(name) for name in STOWED})
    response = stow(archive.root, list(archive.stowed.values()))
    assert response.status_code == 200, response.text + server.log_tail()
    yield archive
    assert server.stop() == 0, server.log_tail()


# -- a real browser -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    running = start_chromium()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(chromium: Chromium) -> Iterator[Any]:
    with connect(chromium) as attached:
        yield attached


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with new_page(browser) as opened:
        yield opened


# -- the archive through its Python API ----------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One new PostgreSQL database for the session (per xdist worker); emptied per test."""
    with index_database("postgresql", tmp_path_factory.getbasetemp()) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty index: a SQLite file in ``tmp_path``, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "index.sqlite")
    return emptied(request.getfixturevalue("postgres_database"))


@pytest.fixture
def archive(tmp_path: Path, index_url: str) -> Iterator[Archive]:
    store = Archive(str(tmp_path / "data"), index_url, fsync=False)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def add(archive: Archive, tmp_path: Path) -> Callable[..., Dataset]:
    """``add(**make_instance_arguments)``: make an instance, write it, import it."""

    def add_one(**kwargs: Any) -> Dataset:
        ds = make_instance(**kwargs)
        archive.import_file(str(write_instance(ds, tmp_path / "incoming")))
        return ds

    return add_one
