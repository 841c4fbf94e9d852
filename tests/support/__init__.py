"""Helpers shared by the test modules (the fixtures that use them are in ``tests/conftest.py``).

- ``paths``: the repository, ``src`` and ``tests/data``.
- ``datasets``: pydicom's sample files, instances made by dicomkit, value comparisons.
- ``dcmtk``: DCMTK's file and network tools, ``dcmdump`` output.
- ``databases``: the SQLite and PostgreSQL index back ends.
- ``servers``: ``dicomkit serve`` subprocesses on free ports, stopped by PID.
- ``dimse``: a dicomkit Server in a thread, a small archive handler, ``dcmqrscp``.
- ``web``: DICOMweb (``serve --http-port``, STOW-RS, multipart).
- ``certs``: a throwaway PKI; ``audit``: audit record receivers and the A.5.1 schema.
- ``pixels``, ``images``, ``png``: PSNR, pydicom's arrays, DCMTK's codecs, small images, PNG.
- ``encoding``: byte-level data sets crafted for the reader tests.
"""
