"""The print queue on the HTTP port (same authentication and CORS as DICOMweb): the films
``dicomkit serve --print`` has printed (:mod:`dicomkit.archive.print_queue`).

- ``GET /api/print``: the printed films, oldest first, as JSON objects (``limit`` caps them).
- ``GET /api/print/{uid}.pdf`` / ``{uid}.png``: a film's PDF (unwrapped from its Encapsulated
  PDF instance) and its PNG.
- ``GET /print-queue``: an HTML page listing them, each with its PNG and a link to the PDF.
"""

from __future__ import annotations

import asyncio
import html
import os
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dicomkit.archive.print_queue import PrintedRecord, printed_films, stored_pdf
from dicomkit.web.context import WebContext
from dicomkit.web.errors import WebError

MAX_LIMIT = 10000


def _films(request: Request) -> list[PrintedRecord]:
    ctx: WebContext = request.app.state.dicomweb
    text = request.query_params.get("limit", "")
    if text and (not text.isdigit() or not 0 < int(text) <= MAX_LIMIT):
        raise WebError(400, f"limit {text!r}: expected 1 to {MAX_LIMIT}")
    return printed_films(ctx.archive, int(text) if text else None)


def _summary(film: PrintedRecord) -> dict[str, object]:
    out: dict[str, object] = asdict(film)
    out["png"] = f"/api/print/{film.sop_uid}.png" if film.png else None
    out["pdf"] = f"/api/print/{film.sop_uid}.pdf"
    return out


async def list_films(request: Request) -> Response:
    films = await asyncio.to_thread(_films, request)
    return JSONResponse([_summary(film) for film in films])


def _uid(request: Request) -> tuple[str, str]:
    name = str(request.path_params["name"])
    uid, _, kind = name.rpartition(".")
    if kind not in ("pdf", "png") or not uid or len(uid) > 64 or \
            not all(c.isdigit() or c == "." for c in uid):
        raise WebError(404, f"no printed film {name[:80]!r} (expected UID.pdf or UID.png)")
    return uid, kind


async def film_file(request: Request) -> Response:
    uid, kind = _uid(request)
    ctx: WebContext = request.app.state.dicomweb
    if kind == "png":
        path = os.path.join(ctx.archive.data_dir, "print", f"{uid}.png")
        if not os.path.isfile(path):
            raise WebError(404, f"no PNG of printed film {uid}")
        return FileResponse(path, media_type="image/png")
    pdf = await asyncio.to_thread(stored_pdf, ctx.archive, uid)
    if pdf is None:
        raise WebError(404, f"no printed film {uid}")
    return Response(pdf, media_type="application/pdf")


async def page(request: Request) -> Response:
    films = await asyncio.to_thread(_films, request)
    rows = []
    for film in reversed(films):
        e = html.escape
        picture = (f'<img src="/api/print/{e(film.sop_uid)}.png" alt="film" height="160">'
                   if film.png else "")
        rows.append(f"<tr><td>{e(film.date)} {e(film.time[:6])}</td><td>{e(film.patient_id)}"
                    f"<br>{e(film.patient_name)}</td><td>{e(film.title)}<br>"
                    f"<small>{e(film.description)}</small></td><td>{picture}</td><td>"
                    f'<a href="/api/print/{e(film.sop_uid)}.pdf">PDF</a></td></tr>')
    body = "\n".join(rows) or '<tr><td colspan="5">no printed films</td></tr>'
    return HTMLResponse(f"""<!doctype html><html><head><meta charset="utf-8">
<title>Print queue</title><style>body{{font-family:sans-serif}}td{{padding:4px 8px;
vertical-align:top;border-bottom:1px solid #ccc}}</style></head><body>
<h1>Printed films</h1><table><tr><th>printed</th><th>patient</th><th>film</th><th></th>
<th></th></tr>
{body}
</table></body></html>""")


def routes() -> list[Route]:
    return [Route("/api/print", list_films, methods=["GET"]),
            Route("/api/print/{name}", film_file, methods=["GET"]),
            Route("/print-queue", page, methods=["GET"])]
