"""``dicomkit storescp``: receive DICOM instances into a folder, a Storage SCP (PS3.4 Annex
B) like DCMTK's storescp."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from dicomkit.cli.net import (
    add_security_options,
    ae_title,
    command_parser,
    log,
    run,
    ssl_context,
    timeouts,
)


def add_parser(sub: Any) -> None:
    p = command_parser(sub, "storescp",
                       "receive DICOM instances (a Storage SCP, PS3.4 Annex B)", """\
  dicomkit storescp --port 11112 --out incoming/
  dicomkit storescp --port 0 --out in/ --bind 0.0.0.0     any free port, printed on stderr
  dicomkit storescp --port 2762 --out in/ --tls --cert server.pem --key server.key --ca ca.pem
""")
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on (0: any free)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the received files")
    p.add_argument("--aet", type=ae_title,
                   help="our AE title; when given, other called AE titles are refused")
    p.add_argument("--accept", action="append", metavar="AET", type=ae_title,
                   help="accept only these calling AE titles (repeatable)")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                   help="address to listen on [127.0.0.1]")
    add_security_options(p)
    p.set_defaults(run=lambda args: run(args, _storescp))


async def _storescp(args: argparse.Namespace) -> int:
    import asyncio

    from dicomkit.net.association import Association
    from dicomkit.net.server import Server
    from dicomkit.net.storage import StoredFile
    from dicomkit.services.storage import StorageHandler

    context = ssl_context(args, server=True)
    closing: set[asyncio.Task[None]] = set()

    def on_stored(stored: StoredFile, association: Association) -> None:
        association.user_data["stored"] = association.user_data.get("stored", 0) + 1

    async def log_end(association: Association) -> None:
        await association.wait_closed_forever()
        log.info("[%s] association ended (%s), %d instance(s) stored",
                 association.describe().rsplit(" ", 1)[0],
                 association.abort_reason or "released",
                 association.user_data.get("stored", 0))

    def on_association(association: Association) -> None:
        task = asyncio.get_running_loop().create_task(log_end(association))
        closing.add(task)
        task.add_done_callback(closing.discard)

    server = Server(handler=StorageHandler(args.out, on_stored=on_stored),
                    ae_title=args.aet or "DICOMKIT", host=args.bind, port=args.port,
                    accept_calling_aets=args.accept, require_called_aet=args.aet is not None,
                    timeouts=timeouts(args), ssl_context=context, on_association=on_association)
    await server.start()
    security = ""
    if context is not None:
        security = ", TLS, client certificates required" if args.ca else ", TLS"
    log.info("storing in %s%s", args.out, security)
    if args.quiet and args.port == 0:  # the port is news the caller needs even then
        print(f"dicomkit storescp: listening on {args.bind}:{server.port}", file=sys.stderr,
              flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        await stop.wait()
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
        await server.stop()
    log.info("stopped after %d association(s)", server.stats.associations)
    return 0
