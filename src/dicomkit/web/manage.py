"""Managing stored studies over HTTP, for the archive UI and scripts: delete and send to a
configured peer. (Download as ZIP is WADO-RS ``application/zip``, web/wado.py.)

- ``DELETE {root}/studies/{study}[/series/{series}[/instances/{instance}]]`` removes what it
  names (index rows, then files) and answers 200 with the number of instances removed. PS3.18
  defines no delete; the path is the resource's own WADO-RS path, as dcm4chee-arc and Orthanc's
  DICOMweb do. It needs the ``delete`` scope of a JWT (web/auth.py); 404 when nothing matches.
- ``POST /api/send`` with ``{"peer": AE, "study": UID[, "series": UID]}`` starts a C-STORE job
  to a peer of ``[peers]`` (the archive acting as storage SCU, as for a C-MOVE sub-operation,
  PS3.4 C.4.2.3.1, with the same presentation contexts, :func:`dicomkit.net.retrieve.
  move_contexts`) and answers 202 with the job; ``GET /api/jobs/{id}`` reports its progress.
  Jobs live in the serving process (a node of a cluster knows its own).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dicomkit.archive.records import InstanceRow
from dicomkit.net.association import AssociationError
from dicomkit.net.client import connect
from dicomkit.net.retrieve import SubOperation, move_contexts
from dicomkit.web.context import DELETED, ROOT, WebContext, context, request_uids
from dicomkit.web.errors import WebError

log = logging.getLogger("dicomkit.web.manage")
MAX_JOBS = 100  # finished jobs kept for GET /api/jobs


# -- delete ---------------------------------------------------------------------------------------
async def delete(request: Request) -> Response:
    ctx = context(request)
    study, series, instance = request_uids(request)
    rows = await ctx.locate(study, series, instance)  # 404 when nothing is there
    level, uid = (("IMAGE", instance) if instance else ("SERIES", series) if series
                  else ("STUDY", study))
    assert uid is not None
    # what the audit message names (PS3.15 A.5.3.6, A.5.3.8) is read before it is gone
    removing = {r.sop_uid for r in rows}
    summary = await asyncio.to_thread(ctx.archive.index.audit_summary, sop_uids=list(removing))
    request.scope[DELETED] = (level, summary)
    removed = await asyncio.to_thread(ctx.archive.delete, level, uid)
    log.info("DICOMweb DELETE %s %s: %d instance(s) removed", level.lower(), uid, removed)
    return JSONResponse({"removed": removed, "level": level, "uid": uid,
                         "instances": [r.sop_uid for r in rows]})


# -- send to a peer -------------------------------------------------------------------------------
@dataclass
class SendJob:
    """A C-STORE job to a peer and its progress."""

    id: int
    peer: str
    study: str
    series: str | None
    total: int = 0
    completed: int = 0
    failed: int = 0
    state: str = "pending"  # pending, running, done, failed
    error: str | None = None
    failed_uids: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float | None = None

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "peer": self.peer, "study": self.study, "series": self.series,
                "total": self.total, "completed": self.completed, "failed": self.failed,
                "state": self.state, "error": self.error,
                "failed_uids": self.failed_uids[:100], "started": self.started,
                "ended": self.ended}


class SendJobs:
    """The send jobs of this process: started as tasks of the server's event loop."""

    def __init__(self) -> None:
        self.jobs: dict[int, SendJob] = {}
        self.numbers = itertools.count(1)
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, ctx: WebContext, peer: str, rows: list[InstanceRow], study: str,
              series: str | None) -> SendJob:
        job = SendJob(next(self.numbers), peer, study, series, total=len(rows))
        self.jobs[job.id] = job
        finished = [k for k, j in self.jobs.items() if j.state in ("done", "failed")]
        for key in finished[:max(0, len(self.jobs) - MAX_JOBS)]:
            del self.jobs[key]
        task = asyncio.get_running_loop().create_task(self.run(ctx, job, rows),
                                                      name=f"dicomkit-send-{job.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    async def run(self, ctx: WebContext, job: SendJob, rows: list[InstanceRow]) -> None:
        host, port = ctx.settings.peers[job.peer]
        job.state = "running"
        items = [SubOperation(ctx.path_of(r), r.sop_class, r.sop_uid, r.transfer_syntax)
                 for r in rows]
        try:
            async with connect(host, port, calling_aet=ctx.settings.ae_title,
                               called_aet=job.peer, contexts=move_contexts(items)) as client:
                for item in items:
                    try:
                        rsp = await client.store(item.source)
                        status = int(rsp.get("Status") or 0)
                    except (OSError, ValueError, AssociationError) as exc:
                        log.warning("send to %s: %s failed: %s", job.peer, item.sop_instance,
                                    exc)
                        status = 0xC000
                    if status == 0 or 0xB000 <= status <= 0xBFFF:
                        job.completed += 1
                    else:
                        job.failed += 1
                        job.failed_uids.append(item.sop_instance)
            job.state = "done" if not job.failed else "failed"
            if job.failed:
                job.error = f"{job.failed} of {job.total} instance(s) not stored by {job.peer}"
        except Exception as exc:  # noqa: BLE001 - any failure ends the job with its reason
            job.state = "failed"
            job.error = f"{type(exc).__name__}: {exc}"
            job.failed = job.total - job.completed
        finally:
            job.ended = time.time()
            log.info("send to %s of study %s: %s, %d/%d stored", job.peer, job.study,
                     job.state, job.completed, job.total)


def jobs_of(request: Request) -> SendJobs:
    jobs: SendJobs = request.app.state.send_jobs
    return jobs


async def send(request: Request) -> Response:
    ctx = context(request)
    try:
        body = await request.json()
    except ValueError as exc:
        raise WebError(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise WebError(400, 'the body is {"peer": AE, "study": UID, "series": UID (optional)}')
    peer, study, series = body.get("peer"), body.get("study"), body.get("series")
    if not isinstance(peer, str) or peer not in ctx.settings.peers:
        known = ", ".join(sorted(ctx.settings.peers)) or "none: configure [peers]"
        raise WebError(400, f"peer {str(peer)[:64]!r} is not configured (known: {known})")
    if not isinstance(study, str) or not (series is None or isinstance(series, str)):
        raise WebError(400, "study (and series, when given) are UIDs")
    rows = await ctx.locate(study, series)
    job = jobs_of(request).start(ctx, peer, rows, study, series)
    return JSONResponse(job.summary(), status_code=202,
                        headers={"Location": f"/api/jobs/{job.id}"})


async def job_status(request: Request) -> Response:
    job = jobs_of(request).jobs.get(request.path_params["id"])
    if job is None:
        raise WebError(404, f"no job {request.path_params['id']}")
    return JSONResponse(job.summary())


async def list_jobs(request: Request) -> Response:
    return JSONResponse([j.summary() for j in reversed(jobs_of(request).jobs.values())])


def routes() -> list[Route]:
    study = ROOT + "/studies/{study}"
    series = study + "/series/{series}"
    return [
        Route(study, delete, methods=["DELETE"]),
        Route(series, delete, methods=["DELETE"]),
        Route(series + "/instances/{instance}", delete, methods=["DELETE"]),
        Route("/api/send", send, methods=["POST"]),
        Route("/api/jobs", list_jobs, methods=["GET"]),
        Route("/api/jobs/{id:int}", job_status, methods=["GET"]),
    ]


__all__ = ["SendJobs", "routes"]
