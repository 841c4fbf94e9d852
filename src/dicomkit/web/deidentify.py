"""``POST /dicom-web/studies/{study}/deidentify``: store a de-identified copy of a study as a
new study (PS3.15 Annex E; :func:`dicomkit.archive.deidentify.deidentify_study`).

Same authentication as the rest of the HTTP app (a POST: the write scope). The body is empty
or a JSON object ``{"options": ["retain-longitudinal-modified-dates", …], "key": "…"}``; the key
of the pseudonyms is the body's ``key``, else the server's ``DICOMKIT_DEID_KEY`` environment
variable, else a random one (then each call makes another copy). The answer (200) is JSON:
``{"StudyInstanceUID": new, "url": …, "stored": n, "changes": n, "failed": [{"SOPInstanceUID",
"reason"}]}``; 404 when the archive holds no such study, 400 for a bad body or option, 422
when no instance could be de-identified.
"""

from __future__ import annotations

import asyncio
import json
import os

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dicomkit.archive.deidentify import StudyNotFound, deidentify_study
from dicomkit.deid import OptionError
from dicomkit.web.context import ROOT, WebContext
from dicomkit.web.errors import WebError
from dicomkit.web.qido import check_uid

MAX_BODY = 64 * 1024


async def deidentify(request: Request) -> Response:
    ctx: WebContext = request.app.state.dicomweb
    study = check_uid(request.path_params["study"], "Study Instance UID")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise WebError(413, f"the request body is over {MAX_BODY} bytes")
    options: list[str] = []
    key = os.environ.get("DICOMKIT_DEID_KEY") or None
    if body.strip():
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise WebError(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(document, dict) or set(document) - {"options", "key"}:
            raise WebError(400, 'the body is a JSON object {"options": [...], "key": "..."}')
        options = document.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise WebError(400, "options: a list of option names")
        if document.get("key") is not None:
            if not isinstance(document["key"], str) or not document["key"]:
                raise WebError(400, "key: a non-empty string")
            key = document["key"]
    try:
        result = await asyncio.to_thread(deidentify_study, ctx.archive, study, options, key)
    except OptionError as exc:
        raise WebError(400, str(exc)) from exc
    except StudyNotFound as exc:
        raise WebError(404, str(exc)) from exc
    failed = [{"SOPInstanceUID": uid, "reason": reason} for uid, reason in result.failed]
    if not result.stored:
        return JSONResponse({"status": 422, "reason": "no instance could be de-identified",
                             "failed": failed}, status_code=422)
    return JSONResponse({"StudyInstanceUID": result.study_uid,
                         "url": f"{ctx.base(request)}/studies/{result.study_uid}",
                         "stored": result.stored, "changes": result.changes,
                         "failed": failed})


def routes() -> list[Route]:
    return [Route(ROOT + "/studies/{study}/deidentify", deidentify, methods=["POST"])]
