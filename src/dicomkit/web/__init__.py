"""DICOMweb (PS3.18): QIDO-RS, WADO-RS, STOW-RS and WADO-URI on the archive.

- :mod:`dicomkit.web.app` — the Starlette application, its routes, capabilities, errors,
  CORS and authentication.
- :mod:`dicomkit.web.qido` — Search: query parameters to a C-FIND identifier, results.
- :mod:`dicomkit.web.wado` — Retrieve: instances, metadata, bulk data, frames, rendered.
- :mod:`dicomkit.web.stow` — Store: multipart parts streamed to the archive.
- :mod:`dicomkit.web.uri` — WADO-URI.
- :mod:`dicomkit.web.media` — Accept negotiation and multipart/related both ways.
- :mod:`dicomkit.web.server` — uvicorn in the event loop of ``dicomkit serve``.

Nothing is imported here: Starlette and uvicorn load only when ``dicomkit serve`` starts the
web service, so ``import dicomkit`` never pulls them in.
"""
