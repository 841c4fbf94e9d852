"""``dicomkit serve`` and the archive management commands: import, ls, rm, reindex, stats."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from dicomkit.cli.audit_trail import (
    AUDIT_SETTINGS,
    add_audit_options,
    audit_source,
    merge_audit_options,
    open_trail,
    operator,
)
from dicomkit.cli.ohif import (
    OHIF_EPILOG,
    OHIF_SETTINGS,
    add_ohif_options,
    check_ohif,
    merge_ohif_options,
    point_at,
    start_ohif,
)
from dicomkit.cli.tables import text_table

SERVE_HELP = ("run the archive: DIMSE Storage, Query/Retrieve, Modality Worklist, MPPS, "
              "Storage Commitment and Verification SCP, and DICOMweb (QIDO-RS, WADO-RS, "
              "STOW-RS, WADO-URI)")
SERVE_EPILOG = """examples:
  dicomkit serve                                   ./dicomkit-data, SQLite, port 11112
  dicomkit serve --data /srv/pacs --aet PACS --peer WS1=10.0.0.5:104
  dicomkit serve --index postgresql://user@db/pacs --data /shared/pacs
  dicomkit serve --config dicomkit.toml
  dicomkit serve --http-port 8080 --cors-origin https://viewer.example.org
  dicomkit serve --tls-cert pacs.pem --tls-key pacs.key --tls-only   DIMSE 2762, HTTPS 8443
  dicomkit serve --peer RIS=10.0.0.9:104 --ian-peer RIS --ian-stable 120
                        Instance Availability Notification to RIS once a study has had no
                        new instance for 2 minutes (docs/workflow.md)
  dicomkit serve --hl7-port 2575 --hl7-station CT1
                        the RIS feed: HL7 v2 orders (ORM^O01, OMI^O23) and patient updates
                        (ADT^A08, ADT^A40) over MLLP into the worklist (docs/workflow.md)
  dicomkit serve --peer RIS=10.0.0.9:104 --mpps-forward RIS
                        every accepted MPPS N-CREATE/N-SET forwarded to RIS, retried until
                        delivered (docs/workflow.md)
  dicomkit serve --peer RESEARCH=10.0.0.8:104 --deid-peer RESEARCH=clean-descriptors \\
                 --deid-key-file /etc/pacs/deid.key
                        RESEARCH gets de-identified copies (PS3.15 Annex E) on C-MOVE and
                        C-GET, keyed pseudonyms (docs/deidentification.md)
{ohif}
  dicomkit serve --print
                        a film printer too: Basic Grayscale/Color Print Management SCP, each
                        printed film kept as an Encapsulated PDF (docs/print.md)

DICOMweb is served at http://HOST:8042/dicom-web/ (WADO-URI at /wado) unless --no-http; see
docs/dicomweb.md. If the default port 8042 is taken the archive runs without it (a warning is
logged); a port given with --http-port or in the config file must be free.

config file (TOML), same names as the options:
  aet = "PACS"
  dimse_port = 11112
  data = "/srv/pacs"
  index = "postgresql://pacs@db/pacs"
  accept_aets = ["MODALITY1", "WS1"]     # calling AEs allowed (default: any)
  duplicates = "replace"                 # replace | ignore | keep
  fsync = false                          # as --no-fsync (tests, benchmarks only)
  max_inflated_size = "4G"               # deflated data sets: refused past this, inflated
  validate = "reject"                    # IOD validation on ingest: off | warn | reject
  http_port = 8042                       # DICOMweb; http = false turns it off
  http_bind = "127.0.0.1"                # default: bind
  cors_origins = ["https://viewer.example.org"]
  http_tokens = ["s3cret"]               # Authorization: Bearer …; off when empty
  http_users = { reader = "password" }   # Authorization: Basic …; off when empty
  http_base_url = "https://pacs.example.org/dicom-web"   # behind a reverse proxy
  http_jwt_issuer = "https://login.example.org/realms/pacs"   # OAuth 2.0 / OIDC access
  http_jwt_audience = "dicomkit"         #   tokens (JWT); keys from http_jwks (a file or
  http_jwks = "https://login.example.org/realms/pacs/certs"   # URL) or OIDC discovery
  http_jwt_scopes = { read = "dicomweb.read", write = "dicomweb.write" }
  qido_max_results = 10000
  tls_cert = "/etc/pacs/pacs.pem"        # TLS (PS3.15 B.1): DIMSE on dimse_tls_port (2762)
  tls_key = "/etc/pacs/pacs.key"         #   and DICOMweb on https_port (8443)
  tls_ca = "/etc/pacs/clients-ca.pem"    # require client certificates signed by this CA
  tls_only = true                        # no plaintext DIMSE or HTTP listener at all
  ae_default = "deny"                    # AEs not listed under [ae.…]: rejected ("allow")
  ian_peers = ["RIS"]                    # Instance Availability Notification (PS3.4 R) to
  ian_stable = 60                        #   these peers, once a study is stable (seconds)
  mpps_forward = ["RIS"]                 # MPPS N-CREATE/N-SET forwarded to these peers
  deid_peers = { RESEARCH = ["retain-longitudinal-modified-dates"] }   # these peers get
                                         #   de-identified copies on C-MOVE and C-GET (PS3.15
                                         #   Annex E, with these options; or a list of names)
  deid_key_file = "/etc/pacs/deid.key"   # the pseudonyms' secret (else DICOMKIT_DEID_KEY)
  commitment_report_delay = 0.05         # Storage Commitment: seconds before the report goes
                                         #   on the requestor's association (docs/workflow.md)
  hl7_port = 2575                        # the RIS feed, HL7 v2 over MLLP (off by default)
  hl7_bind = "10.0.0.2"                  #   its address (default: bind)
  hl7_station = "CT1"                    #   station AE for orders that name none (ORM^O01)
  hl7_max_message = "1M"                 #   larger messages are refused with an AR ACK
  ohif = "/srv/ohif/package/dist"        # the OHIF Viewer build (docs/ohif.md), served on
  ohif_port = 3000                       #   its own port, pointed at this DICOMweb service
  print = true                           # the Print SCP; or a [print] table: film_sizes,
                                         #   default_film_size, max_density, color,
                                         #   lp_destination ... (docs/print.md)
  audit_syslog = ["tls://audit.example.org:6514"]   # PS3.15 A.5 audit trail (docs/archive.md)
  audit_tls_ca = "/etc/pki/audit-ca.pem"
  audit_file = "/var/log/dicomkit-audit.log"
  [peers]                                # C-MOVE destinations, where commitment reports,
  WS1 = "10.0.0.5:104"                   #   notifications and forwarded MPPS go
  RIS = "10.0.0.9:104"
  MODALITY1 = "10.0.0.7:104"
  [ae.MODALITY1]                         # per calling AE: store, query, retrieve, delete,
  permissions = ["store", "query", "mpps", "commit"]   # mpps: N-CREATE/N-SET, commit: N-ACTION
  [ae.RIS]
  permissions = ["query"]                # "query": it may be sent availability notifications
  [ae.WS1]
  permissions = ["query", "retrieve"]
  move_destinations = ["WS1"]            # default: any peer
An unknown key in the file is an error (exit status 2). Per-AE permissions and DICOMweb
bearer tokens (JWT) are configured in the file only: see docs/archive.md.

Stop it with SIGTERM or Ctrl-C: it stops listening, aborts the associations still open and
exits 0. A C-STORE is acknowledged only once its file and index row are committed, so no
acknowledged instance is lost; an aborted one is simply not acknowledged.""".replace(
    "{ohif}", OHIF_EPILOG)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help=SERVE_HELP, description=SERVE_HELP, epilog=SERVE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE.toml")
    p.add_argument("--data", metavar="DIR", help="files and SQLite index (./dicomkit-data)")
    p.add_argument("--index", metavar="URL", help="postgresql://… or a SQLite path")
    p.add_argument("--aet", help="our AE title (DICOMKIT)")
    p.add_argument("--dimse-port", type=int, help="DIMSE port (11112)")
    p.add_argument("--bind", help="address to listen on (0.0.0.0)")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=HOST:PORT",
                   help="a peer: C-MOVE destination, and where storage commitment "
                        "reports, --ian-peer and --mpps-forward go (repeatable)")
    p.add_argument("--deid-peer", action="append", default=[],
                   metavar="AET[=OPTION,OPTION…]",
                   help="this peer receives only de-identified copies (PS3.15 Annex E Basic "
                        "Profile, with the dicomkit deid options given) when it is the C-MOVE "
                        "destination or the C-GET requestor; the key from --deid-key-file or "
                        "DICOMKIT_DEID_KEY (repeatable; docs/deidentification.md)")
    p.add_argument("--deid-key-file", metavar="FILE",
                   help="the secret of the de-identified copies' pseudonyms (the file's "
                        "content, without the final newline)")
    p.add_argument("--ian-peer", action="append", default=[], metavar="AET",
                   help="send Instance Availability Notifications (PS3.4 R) to this peer, "
                        "named by --peer (repeatable)")
    p.add_argument("--ian-stable", type=float, metavar="SECONDS",
                   help="a study is notified once no instance arrived for SECONDS (60)")
    p.add_argument("--commitment-report-delay", type=float, metavar="SECONDS",
                   help="wait SECONDS after a Storage Commitment N-ACTION response before "
                        "the report goes on the requestor's association (default: "
                        "services.commitment.SAME_ASSOCIATION_DELAY; docs/workflow.md)")
    p.add_argument("--mpps-forward", action="append", default=[], metavar="AET",
                   help="forward each accepted MPPS N-CREATE/N-SET to this --peer, retried "
                        "until delivered (repeatable)")
    p.add_argument("--hl7-port", type=int, metavar="PORT",
                   help="listen for HL7 v2 orders and ADT over MLLP on PORT (off by default)")
    p.add_argument("--hl7-bind", metavar="ADDRESS", help="the HL7 listener's address (as "
                   "--bind)")
    p.add_argument("--hl7-station", metavar="AET", help="Scheduled Station AE Title of "
                   "ordered steps that name none (ORM^O01 has no field for it)")
    p.add_argument("--hl7-max-message", metavar="SIZE", type=_size_argument,
                   help="refuse HL7 messages larger than SIZE bytes with an AR ACK (suffix "
                        "K, M: powers of 1024; default 1M)")
    p.add_argument("--print", action="store_true",
                   help="the Print SCP: Basic Grayscale/Color Print Management; each film "
                   "stored as an Encapsulated PDF (docs/print.md)")
    p.add_argument("--print-aet", metavar="AET",
                   help="the printer's own AE title, on --print-port (implies --print)")
    p.add_argument("--print-port", type=int, metavar="PORT",
                   help="a DIMSE port for the printer alone: Print Management and "
                   "Verification (implies --print)")
    p.add_argument("--accept-aet", action="append", default=[], metavar="AET",
                   help="accept only these calling AE titles (repeatable; default any)")
    p.add_argument("--duplicates", choices=["replace", "ignore", "keep"])
    p.add_argument("--no-fsync", action="store_true", help="skip fsync (tests, benchmarks)")
    p.add_argument("--max-inflated-size", metavar="SIZE", type=_size_argument,
                   help="refuse a deflated data set (1.2.840.10008.1.2.1.99) that inflates "
                        "past SIZE bytes (suffix K, M, G, T: powers of 1024; default 4G)")
    p.add_argument("--validate", choices=["off", "warn", "reject"],
                   help="check each received instance against its IOD (dicomkit validate): "
                        "warn logs the errors and keeps it; reject refuses it (C-STORE A900 "
                        "with the first error as Error Comment, STOW-RS Failure Reason A900); "
                        "default off")
    p.add_argument("--http-port", type=int, help="DICOMweb HTTP port (8042)")
    p.add_argument("--http-bind", metavar="ADDRESS", help="DICOMweb address (as --bind)")
    p.add_argument("--no-http", action="store_true", help="no DICOMweb service")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser requests from this origin, or * (repeatable)")
    p.add_argument("--http-token", action="append", default=[], metavar="TOKEN",
                   help="require Authorization: Bearer TOKEN (repeatable; also "
                        "DICOMKIT_HTTP_TOKEN)")
    p.add_argument("--http-user", action="append", default=[], metavar="USER:PASSWORD",
                   help="require HTTP Basic authentication (repeatable)")
    p.add_argument("--jwt-issuer", metavar="URL",
                   help="accept OAuth 2.0/OIDC access tokens (JWT) from this issuer")
    p.add_argument("--jwt-audience", metavar="AUD", help="the audience tokens must name")
    p.add_argument("--jwks", metavar="FILE|URL",
                   help="the issuer's signing keys (default: OIDC discovery)")
    p.add_argument("--tls-cert", metavar="PEM", help="our certificate (chain): turns on the "
                   "TLS DIMSE port and HTTPS (PS3.15 B.1)")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--tls-ca", metavar="PEM",
                   help="CA certificates: require client certificates they signed")
    p.add_argument("--dimse-tls-port", type=int, help="DIMSE TLS port (2762)")
    p.add_argument("--https-port", type=int, help="DICOMweb HTTPS port (8443)")
    p.add_argument("--tls-only", action="store_true",
                   help="no plaintext DIMSE or HTTP listener (needs --tls-cert)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="DEBUG logging of dicomkit (each PDU sent); default INFO")
    add_ohif_options(p)
    add_audit_options(p)
    p.set_defaults(run=run_serve)
    _management(sub)


DEFAULT_SETTINGS: dict[str, Any] = {
    "aet": "DICOMKIT", "dimse_port": 11112, "data": "./dicomkit-data", "index": None,
    "bind": "0.0.0.0", "peers": {}, "accept_aets": None, "duplicates": "replace", "fsync": True,
    "http": True, "http_port": 8042, "http_bind": None, "cors_origins": [], "http_tokens": [],
    "http_users": {}, "http_base_url": None, "qido_max_results": 10000,
    "tls_cert": None, "tls_key": None, "tls_ca": None, "dimse_tls_port": 2762,
    "https_port": 8443, "tls_only": False, "ae": {}, "ae_default": "allow",
    "http_jwt_issuer": None, "http_jwt_audience": None, "http_jwks": None,
    "http_jwt_leeway": 60, "http_jwks_refresh": 300, "http_jwt_scopes": {},
    "max_inflated_size": "4G", "validate": "off", "ian_peers": [], "ian_stable": 60,
    "mpps_forward": [], "deid_peers": [], "deid_key_file": None,
    "commitment_report_delay": None,
    "hl7_port": None, "hl7_bind": None, "hl7_station": "", "hl7_max_message": "1M",
    "print": False, "print_aet": None, "print_port": None, **OHIF_SETTINGS, **AUDIT_SETTINGS}
"""Every key a ``--config`` TOML file may set, with its default."""
BOOLEAN_SETTINGS = ("fsync", "http", "tls_only")


def config_error(path: str, message: str) -> SystemExit:
    """A bad config file is reported like a bad option: a message, then exit status 2."""
    print(f"dicomkit: error: config file {path}: {message}", file=sys.stderr)
    return SystemExit(2)


def read_config(path: str) -> dict[str, Any]:
    """The settings of a TOML file; an unknown key (a typo) is an error, not ignored."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            loaded = tomllib.load(handle)
    except OSError as exc:
        raise config_error(path, exc.strerror or str(exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise config_error(path, f"not valid TOML: {exc}") from exc
    unknown = sorted(set(loaded) - set(DEFAULT_SETTINGS))
    if unknown:
        raise config_error(path, f"unknown setting{'s' if len(unknown) > 1 else ''} "
                           + ", ".join(repr(key) for key in unknown)
                           + f" (known: {', '.join(sorted(DEFAULT_SETTINGS))})")
    for key in BOOLEAN_SETTINGS:
        if key in loaded and not isinstance(loaded[key], bool):
            raise config_error(path, f"{key} must be true or false, not {loaded[key]!r}")
    if "ae" in loaded or "ae_default" in loaded:
        from dicomkit.services.access import AccessConfigError, AccessPolicy

        try:
            if not isinstance(loaded.get("ae", {}), dict):
                raise AccessConfigError("ae must be a table of [ae.TITLE] tables")
            AccessPolicy.from_config(loaded.get("ae", {}), loaded.get("ae_default", "allow"))
        except AccessConfigError as exc:
            raise config_error(path, str(exc)) from exc
    peers = loaded.get("ian_peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, str) and p.strip() for p in peers):
        raise config_error(path, f"ian_peers is a list of AE titles, not {peers!r}")
    stable = loaded.get("ian_stable", 60)
    if isinstance(stable, bool) or not isinstance(stable, (int, float)) or not stable >= 0:
        raise config_error(path, f"ian_stable is seconds (0 or more), not {stable!r}")
    delay = loaded.get("commitment_report_delay", 0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 60:
        raise config_error(path, "commitment_report_delay is seconds (0 to 60), not "
                           f"{delay!r}")
    scopes = loaded.get("http_jwt_scopes", {})
    if not isinstance(scopes, dict) or not set(scopes) <= {"read", "write", "delete"} or \
            not all(isinstance(v, str) and v for v in scopes.values()):
        raise config_error(path, "http_jwt_scopes maps read, write, delete to scope names, "
                           f"not {scopes!r}")
    if loaded.get("validate", "off") not in ("off", "warn", "reject"):
        raise config_error(path, f"validate is off, warn or reject, not {loaded['validate']!r}")
    if loaded.get("print", False) is not False:
        from dicomkit.archive.print_queue import capabilities_from_config

        try:
            capabilities_from_config(loaded["print"])
        except (ValueError, TypeError) as exc:
            raise config_error(path, str(exc)) from exc
    if "max_inflated_size" in loaded:
        try:
            parse_size(loaded["max_inflated_size"])
        except ValueError as exc:
            raise config_error(path, f"max_inflated_size: {exc}") from exc
    return loaded


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: Any) -> int:
    """A size in bytes: an integer, or digits with a K, M, G or T suffix (powers of 1024;
    ``KiB``, ``MiB``... and ``KB``, ``MB``... are read the same way)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = value, ""
    else:
        text = str(value).strip().upper().replace("IB", "").removesuffix("B")
        digits = text.rstrip("KMGT")
        unit = text[len(digits):]
        if not digits.strip().isdigit() or unit not in _UNITS:
            raise ValueError(f"{value!r} is not a size (e.g. 4294967296, 512M, 4G)")
        number = int(digits)
    if number <= 0:
        raise ValueError(f"{value!r}: the size must be positive")
    return number * _UNITS[unit]


def _size_argument(text: str) -> int:
    """argparse type of --max-inflated-size: a bad size is a usage error (exit 2), as a bad
    max_inflated_size in the configuration file is."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def load_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = dict(DEFAULT_SETTINGS)
    loaded: dict[str, Any] = {}
    if getattr(args, "config", None):
        loaded = read_config(args.config)
        settings.update(loaded)
    if getattr(args, "no_fsync", False):
        settings["fsync"] = False
    options = ("aet", "dimse_port", "data", "index", "bind", "duplicates", "http_port",
               "http_bind", "tls_cert", "tls_key", "tls_ca", "dimse_tls_port", "https_port",
               "max_inflated_size", "hl7_port", "hl7_bind", "hl7_station",
               "hl7_max_message", "validate")
    for name, key in [(o, o) for o in options] + [
            ("jwt_issuer", "http_jwt_issuer"), ("jwt_audience", "http_jwt_audience"),
            ("jwks", "http_jwks")]:
        value = getattr(args, name, None)
        if value is not None:
            settings[key] = value
    for name in ("http_port", "https_port"):
        settings[f"{name}_explicit"] = name in loaded or getattr(args, name, None) is not None
    if getattr(args, "no_http", False):
        settings["http"] = False
    if getattr(args, "print", False) and not settings["print"]:
        settings["print"] = True
    for name in ("print_aet", "print_port"):
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
            settings["print"] = settings["print"] or True
    if getattr(args, "tls_only", False):
        settings["tls_only"] = True
    settings["cors_origins"] = list(settings["cors_origins"]) + list(
        getattr(args, "cors_origin", []) or [])
    tokens = list(settings["http_tokens"]) + list(getattr(args, "http_token", []) or [])
    if os.environ.get("DICOMKIT_HTTP_TOKEN"):
        tokens.append(os.environ["DICOMKIT_HTTP_TOKEN"])
    settings["http_tokens"] = tokens
    users = dict(settings["http_users"])
    for spec in getattr(args, "http_user", []) or []:
        user, colon, password = spec.partition(":")
        if not colon or not user:
            raise SystemExit(f"dicomkit: --http-user {user!r}…: expected USER:PASSWORD")
        users[user] = password
    settings["http_users"] = users
    peers = dict(settings.get("peers") or {})
    for spec in getattr(args, "peer", []) or []:
        name, _, address = spec.partition("=")
        peers[name] = address
    settings["peers"] = {name: _address(value) for name, value in peers.items()}
    if getattr(args, "accept_aet", None):
        settings["accept_aets"] = list(args.accept_aet)
    settings["ian_peers"] = list(settings["ian_peers"]) + list(
        getattr(args, "ian_peer", []) or [])
    if getattr(args, "ian_stable", None) is not None:
        settings["ian_stable"] = args.ian_stable
    stable = settings["ian_stable"]
    if isinstance(stable, bool) or not isinstance(stable, (int, float)) or not stable >= 0:
        raise SystemExit(f"dicomkit: ian_stable {stable!r}: expected seconds, 0 or more")
    if getattr(args, "commitment_report_delay", None) is not None:
        settings["commitment_report_delay"] = args.commitment_report_delay
    delay = settings["commitment_report_delay"]
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float))
                              or not 0 <= delay <= 60):
        raise SystemExit(f"dicomkit: commitment_report_delay {delay!r}: expected seconds, 0 "
                         "to 60")
    forward = settings["mpps_forward"]
    settings["mpps_forward"] = ([forward] if isinstance(forward, str) else list(forward)) + list(
        getattr(args, "mpps_forward", []) or [])
    unknown = [aet for aet in settings["mpps_forward"] if aet not in settings["peers"]]
    if unknown:
        raise SystemExit(f"dicomkit: MPPS forwarding to {', '.join(unknown)}: no such peer "
                         "(--peer NAME=HOST:PORT)")
    _check_hl7(settings)
    _check_deid(settings, args)
    merge_ohif_options(settings, args)
    merge_audit_options(settings, args)
    try:
        settings["max_inflated_size"] = parse_size(settings["max_inflated_size"])
    except ValueError as exc:
        raise SystemExit(f"dicomkit: --max-inflated-size: {exc}") from exc
    return settings


def _check_deid(settings: dict[str, Any], args: argparse.Namespace) -> None:
    """``deid_peers`` (a list of AE titles, or a table AE title -> options) and the
    ``--deid-peer`` options merged into ``deid_peers``: {AE title: [options]}; the key read
    (``deid_key``). Exit with the reason when something is wrong."""
    from dicomkit.deid.table import OptionError, check_options

    given = settings["deid_peers"]
    if isinstance(given, list) and all(isinstance(p, str) for p in given):
        peers: dict[str, list[str]] = {p.strip(): [] for p in given}
    elif isinstance(given, dict) and all(
            isinstance(v, list) and all(isinstance(o, str) for o in v) for v in given.values()):
        peers = {str(k).strip(): list(v) for k, v in given.items()}
    else:
        raise SystemExit("dicomkit: deid_peers is a list of AE titles or a table of AE title = "
                         f"[options], not {given!r}")
    for spec in getattr(args, "deid_peer", []) or []:
        name, _, options = spec.partition("=")
        peers[name.strip()] = [o for o in options.split(",") if o.strip()]
    for name, options in peers.items():
        if not name or len(name) > 16 or "\\" in name:
            raise SystemExit(f"dicomkit: deid peer {name!r}: expected an AE title")
        try:
            check_options(options)
        except OptionError as exc:
            raise SystemExit(f"dicomkit: deid peer {name}: {exc}") from exc
    settings["deid_peers"] = peers
    path = getattr(args, "deid_key_file", None) or settings["deid_key_file"]
    key = os.environ.get("DICOMKIT_DEID_KEY") or None
    if path:
        try:
            with open(path, "rb") as handle:
                key = handle.read(4096).rstrip(b"\r\n").decode("utf-8", "surrogateescape")
        except OSError as exc:
            raise SystemExit(f"dicomkit: deid_key_file {path}: {exc.strerror or exc}") from exc
        if not key:
            raise SystemExit(f"dicomkit: deid_key_file {path} is empty")
    if peers and not key:
        raise SystemExit("dicomkit: de-identifying peers (" + ", ".join(peers) + ") need a "
                         "key: --deid-key-file FILE or DICOMKIT_DEID_KEY")
    settings["deid_key"] = key


def _check_hl7(settings: dict[str, Any]) -> None:
    """The RIS feed's settings (``hl7_*``) checked and normalised, or exit with the reason."""
    port = settings["hl7_port"]
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 <= port <= 65535):
        raise SystemExit(f"dicomkit: hl7_port {port!r}: expected a TCP port (0-65535)")
    station = settings["hl7_station"]
    if not isinstance(station, str) or len(station.strip()) > 16 or "\\" in station:
        raise SystemExit(f"dicomkit: hl7_station {station!r}: expected an AE title (at most "
                         "16 characters)")
    try:
        settings["hl7_max_message"] = parse_size(settings["hl7_max_message"])
    except ValueError as exc:
        raise SystemExit(f"dicomkit: hl7_max_message: {exc}") from exc
    if settings["hl7_max_message"] < 64:
        raise SystemExit("dicomkit: hl7_max_message: at least 64 bytes")


def _address(text: Any) -> tuple[str, int]:
    if isinstance(text, (list, tuple)):
        return str(text[0]), int(text[1])
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"dicomkit: peer address {text!r} is not HOST:PORT")
    return host, int(port)


def open_archive(args: argparse.Namespace, **kwargs: Any) -> Any:
    from dicomkit.archive.store import Archive

    settings = load_settings(args)
    return Archive(settings["data"], settings["index"], duplicates=settings["duplicates"],
                   fsync=settings["fsync"], max_inflated=settings["max_inflated_size"],
                   **kwargs)


def configure_logging(verbose: int) -> None:
    """INFO on stderr; ``-v``: DEBUG for the ``dicomkit`` loggers only (alembic, SQLAlchemy,
    uvicorn and asyncio stay at INFO)."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("dicomkit").setLevel(logging.DEBUG if verbose else logging.INFO)


def jwt_settings(settings: dict[str, Any]) -> Any:
    """OAuth 2.0 / OIDC access token validation (web/auth.py), or None when not configured;
    an issuer and an audience are both required (RFC 9068 §4)."""
    issuer, audience = settings["http_jwt_issuer"], settings["http_jwt_audience"]
    if not (issuer or audience or settings["http_jwks"]):
        return None
    if not issuer or not audience:
        raise SystemExit("dicomkit serve: JWT access tokens need both an issuer and an "
                         "audience (--jwt-issuer, --jwt-audience)")
    from dicomkit.web.auth import DEFAULT_SCOPES, JWTSettings

    return JWTSettings(str(issuer), str(audience), settings["http_jwks"] or None,
                       float(settings["http_jwt_leeway"]), float(settings["http_jwks_refresh"]),
                       {**DEFAULT_SCOPES, **settings["http_jwt_scopes"]})


def server_tls(settings: dict[str, Any]) -> Any:
    """The TLS settings (PS3.15 B.1) checked before anything listens: None without a
    certificate; ``tls_only`` without one, or a key or CA without a certificate, is an error."""
    from dicomkit.net.tls import ServerTLS, TLSConfigError

    if not settings["tls_cert"]:
        if settings["tls_only"] or settings["tls_key"] or settings["tls_ca"]:
            raise SystemExit("dicomkit serve: --tls-only, --tls-key and --tls-ca need "
                             "--tls-cert (tls_cert in the config file)")
        return None
    tls = ServerTLS(str(settings["tls_cert"]), settings["tls_key"] and str(settings["tls_key"]),
                    settings["tls_ca"] and str(settings["tls_ca"]))
    try:
        tls.context()
    except TLSConfigError as exc:
        raise SystemExit(f"dicomkit serve: {exc}") from exc
    return tls


def run_serve(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    settings = load_settings(args)
    tls = server_tls(settings)
    check_ohif(settings)
    if settings["http"]:
        jwt_settings(settings)  # a bad setting stops serve before anything listens
    from dicomkit.archive.scp import ArchiveHandler
    from dicomkit.archive.store import Archive
    from dicomkit.encoding import deflate
    from dicomkit.net.server import Server

    # One limit for every inflation in this process: received C-STORE and STOW-RS instances,
    # DIMSE identifiers, and the stored files read back (WADO, retrieve, transcoding).
    limit = settings["max_inflated_size"]
    deflate.set_default_limit(limit)
    archive = Archive(settings["data"], settings["index"], duplicates=settings["duplicates"],
                      fsync=settings["fsync"], max_inflated=limit,
                      validation=settings["validate"])
    access = None
    if settings["ae"] or settings["ae_default"] != "allow":
        from dicomkit.services.access import AccessPolicy

        access = AccessPolicy.from_config(settings["ae"], settings["ae_default"])
    handler = ArchiveHandler(archive, peers=settings["peers"], ae_title=settings["aet"],
                             access=access)
    from dicomkit.archive import ian

    try:
        ian.install(handler, settings["ian_peers"], stable=float(settings["ian_stable"]))
    except ValueError as exc:
        archive.close()
        raise SystemExit(f"dicomkit: {exc}") from exc
    handler.mpps.forward_to = tuple(settings["mpps_forward"])
    if settings["deid_peers"]:
        from dicomkit.archive.deid_export import DeidExport, DeidPeer

        handler.deid_export = DeidExport(
            [DeidPeer(name, tuple(options)) for name, options in settings["deid_peers"].items()],
            settings["deid_key"], max_inflated=limit)
    printer: Any = None
    print_aet = print_port = None
    if settings["print"]:
        from dicomkit.archive import print_queue

        try:
            capabilities, options = print_queue.capabilities_from_config(settings["print"])
        except ValueError as exc:
            archive.close()
            raise SystemExit(f"dicomkit: {exc}") from exc
        print_aet = settings["print_aet"] or options.pop("aet", None)
        print_port = settings["print_port"] or options.pop("port", None)
        options.pop("aet", None)
        options.pop("port", None)
        if print_aet and not print_port:
            archive.close()
            raise SystemExit("dicomkit: the printer's own AE title (--print-aet, print.aet) "
                             "needs its own port (--print-port, print.port)")
        printer = print_queue.install(handler, capabilities, **options)
    if settings["commitment_report_delay"] is not None:
        handler.commitment.same_association_delay = float(settings["commitment_report_delay"])
    ris_feed = None
    if settings["hl7_port"] is not None:
        from dicomkit.archive.ris import RisFeed

        ris_feed = RisFeed(handler.worklist, default_station=settings["hl7_station"].strip(),
                           max_message=int(settings["hl7_max_message"]))
    servers = []  # (the listener, what it is called in the log)
    accept = settings["accept_aets"]
    from dicomkit.pixels.transcode import lossless

    common = {"handler": handler, "ae_title": settings["aet"], "host": settings["bind"],
              "transcoder": lossless,
              "max_inflated": limit,
              "accept_calling_aets": accept if access is None else
              access.accepted_calling_aets(accept)}
    trail = open_trail(settings)
    web_audit = None
    if trail is not None:
        common["observer"], web_audit = _audit_serve(trail, settings, archive, handler)
    if not settings["tls_only"]:
        servers.append((Server(port=int(settings["dimse_port"]), **common), ""))
    if printer is not None and print_port:
        from dicomkit.archive.print_queue import PrinterListener

        servers.append((Server(port=int(print_port), **{
            **common, "handler": PrinterListener(printer),
            "ae_title": print_aet or settings["aet"]}), " (the printer)"))
    if tls is not None:
        servers.append((Server(port=int(settings["dimse_tls_port"]),
                               ssl_context=tls.context(), **common),
                        " (TLS, client certificates required)" if tls.ca else " (TLS)"))
    log = logging.getLogger("dicomkit")

    async def main() -> None:
        # Signals first: a SIGTERM as soon as the port answers must still stop us cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        for server, security in servers:
            await server.start()
            log.info("dicomkit serve: AE %s on %s:%s%s, data %s, index %s", server.ae_title,
                     settings["bind"], server.port, security, archive.data_dir,
                     archive.index.url.split("@")[-1])
        if ris_feed is not None:
            host = settings["hl7_bind"] or settings["bind"]
            try:
                await ris_feed.start(host, int(settings["hl7_port"]))
            except OSError as exc:
                raise SystemExit(f"dicomkit: cannot listen for HL7 on {host}:"
                                 f"{settings['hl7_port']}: {exc}") from exc
            log.info("dicomkit serve: HL7 v2 (MLLP) on %s:%s, orders into the worklist",
                     host, ris_feed.port)
        https = []
        ohif = None
        if settings["ohif"] is not None:  # first: its origins join the DICOMweb CORS list
            ohif, ohif_settings = await start_ohif(settings)
        if settings["http"]:
            plain = secure = None
            if not settings["tls_only"]:
                plain = await _start_http(settings, archive, None, web_audit)
            if tls is not None:
                secure = await _start_http(settings, archive, tls, web_audit)
            https += [plain, secure]
            if ohif is not None:
                point_at(ohif_settings, plain, secure)
                log.info("dicomkit serve: OHIF viewer (%s) on http://%s:%s/",
                         settings["ohif_build"], settings["http_bind"] or settings["bind"],
                         ohif.port)
        if trail is not None:
            trail.record(_application_activity(settings, start=True))
        background = asyncio.create_task(handler.run_background(stop))
        await stop.wait()
        log.info("dicomkit serve: shutting down")
        try:
            await asyncio.wait_for(background, 5)
        except (TimeoutError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - shutting down regardless
            log.exception("dicomkit serve: background work failed")
        for http in [*https, ohif]:
            if http is not None:
                await http.stop()
        if ris_feed is not None:
            await ris_feed.close()
        for server, _ in servers:
            await server.stop()

    try:
        asyncio.run(main())
    finally:
        if trail is not None:
            trail.record(_application_activity(settings, start=False))
            trail.close()
        archive.close()
    return 0


def _audit_serve(trail: Any, settings: dict[str, Any], archive: Any,
                 handler: Any) -> tuple[Any, Any]:
    """What makes the DIMSE servers and DICOMweb report to the audit trail (PS3.15 A.5.3):
    the servers' observer and what the web application needs."""
    import socket

    from dicomkit.audit.messages import ActiveParticipant
    from dicomkit.services.audit import AssociationAudit
    from dicomkit.web.audit import WebAudit

    source = audit_source(settings)
    host = socket.gethostname()
    export = handler.deid_export
    observer = AssociationAudit(
        trail, source, settings["aet"], host, lambda uids: archive.index.audit_summary(
            sop_uids=uids if export is None else export.originals(uids)))
    if export is not None:
        observer.transfer_note = export.note
    service = ActiveParticipant(f"{settings['aet']}@{host}", False,
                                alternative_user_id=f"AETITLES={settings['aet']}",
                                user_name="dicomkit serve (DICOMweb)", network_access_point=host)
    return observer, WebAudit(trail, source, service)


def _application_activity(settings: dict[str, Any], *, start: bool) -> Any:
    """PS3.15 A.5.3.1: the archive started or stopped, and who launched it."""
    import socket

    from dicomkit.audit.messages import application_activity, application_entity

    app = application_entity(settings["aet"], socket.gethostname(), requestor=False,
                             user_name="dicomkit serve")
    return application_activity(audit_source(settings), app, start=start, launcher=operator())


async def _start_http(settings: dict[str, Any], archive: Any, tls: Any,
                      audit: Any = None) -> Any:
    """DICOMweb on uvicorn in this event loop (imported only here: ``import dicomkit`` stays
    free of Starlette and uvicorn): plain HTTP on http_port, or HTTPS on https_port when
    ``tls`` is given."""
    from dicomkit.web.app import create_app
    from dicomkit.web.context import WebSettings
    from dicomkit.web.server import HttpServer

    web = WebSettings(base_url=settings["http_base_url"],
                      max_results=int(settings["qido_max_results"]),
                      cors_origins=list(settings["cors_origins"]),
                      bearer_tokens=[str(t) for t in settings["http_tokens"]],
                      basic_users={str(k): str(v) for k, v in settings["http_users"].items()},
                      jwt=jwt_settings(settings), ae_title=str(settings["aet"]),
                      peers=dict(settings["peers"]))
    host = settings["http_bind"] or settings["bind"]
    name = "https_port" if tls is not None else "http_port"
    http = HttpServer(create_app(archive, web, audit), host, int(settings[name]), tls=tls)
    log = logging.getLogger("dicomkit")
    try:
        await http.start()
    except OSError as exc:
        if settings[f"{name}_explicit"]:
            raise SystemExit(f"dicomkit serve: DICOMweb cannot listen on {host}:"
                             f"{settings[name]}: {exc}") from exc
        log.warning("dicomkit serve: DICOMweb not started, %s:%s is taken (%s); give "
                    "--%s or --no-http", host, settings[name], exc, name.replace("_", "-"))
        return None
    auth = ", ".join(name for name, on in (
        ("bearer tokens", web.bearer_tokens), ("basic users", web.basic_users),
        (f"JWT from {web.jwt.issuer}" if web.jwt else "", web.jwt)) if on) or \
        "no authentication"
    scheme = "https" if tls is not None else "http"
    log.info("dicomkit serve: DICOMweb on %s://%s:%s/dicom-web/ (%s)", scheme, host, http.port,
             auth)
    return http


# -- management commands -------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml")
    p.add_argument("--data", metavar="DIR")
    p.add_argument("--index", metavar="URL")


def _management(sub: Any) -> None:
    p = sub.add_parser("import", help="copy files into the archive and index them",
                       description="copy DICOM files into the archive and index them; a "
                       "DICOMDIR, or a folder with one at its top (a CD or USB File-set), "
                       "imports the files it lists, each checked against its record",
                       epilog="examples:\n  dicomkit import /media/cdrom --data ./dicomkit-data"
                       "\n  dicomkit import /media/cdrom/DICOMDIR --data ./dicomkit-data"
                       "\n  dicomkit import incoming/ -r --data ./dicomkit-data",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-r", "--recursive", action="store_true")
    p.add_argument("-j", "--jobs", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--duplicates", choices=["replace", "ignore", "keep"])
    p.set_defaults(run=run_import)

    p = sub.add_parser("ls", help="list patients, studies or series in the archive",
                       description="list what the archive holds as a table",
                       epilog="examples:\n  dicomkit ls\n  dicomkit ls --series",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    level = p.add_mutually_exclusive_group()
    level.add_argument("--patient", dest="level", action="store_const", const="PATIENT")
    level.add_argument("--study", dest="level", action="store_const", const="STUDY")
    level.add_argument("--series", dest="level", action="store_const", const="SERIES")
    p.set_defaults(run=run_ls, level="STUDY")

    p = sub.add_parser("rm", help="delete a study, series or instance (index and files)",
                       description="delete a study, series or instance from the archive",
                       epilog="example:\n  dicomkit rm --study 1.2.3.4",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--study", metavar="UID")
    what.add_argument("--series", metavar="UID")
    what.add_argument("--instance", metavar="UID")
    add_audit_options(p)
    p.set_defaults(run=run_rm)

    p = sub.add_parser("reindex", help="rebuild the index from the stored files",
                       description="rebuild the index from the files (after losing the DB)")
    _common(p)
    p.set_defaults(run=run_reindex)

    p = sub.add_parser("stats", help="counts and size of the archive",
                       description="print counts of patients, studies, series, instances")
    _common(p)
    p.set_defaults(run=run_stats)


class Progress:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.done, self.label = total, 0, label
        self.tty = sys.stderr.isatty()

    def __call__(self) -> None:
        self.done += 1
        if self.tty and (self.done == self.total or self.done % 10 == 0):
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                             f"{self.done}/{self.total}")
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _files(paths: list[str], recursive: bool) -> list[str]:
    found = []
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                found += [os.path.join(folder, f) for f in sorted(files)]
                if not recursive:
                    dirs.clear()
        else:
            found.append(path)
    return found


def _import_sources(paths: list[str], recursive: bool
                    ) -> tuple[list[str], dict[str, Callable[[], Any]]]:
    """The files to import, and for those a DICOMDIR lists, the check that each is there and
    is the instance its record names. A DICOMDIR, or a folder with one at its top (the root of
    a CD or USB File-set), stands for the files it lists, not for every file under it."""
    from dicomkit.media import FileSet, MediaError

    files: list[str] = []
    listed: dict[str, Callable[[], Any]] = {}
    for path in paths:
        is_dicomdir = os.path.isfile(path) and os.path.basename(path).upper() in (
            "DICOMDIR", "DICOMDIR.")
        has_dicomdir = os.path.isdir(path) and any(
            name.upper() in ("DICOMDIR", "DICOMDIR.") for name in os.listdir(path))
        if not (is_dicomdir or has_dicomdir):
            files += _files([path], recursive)
            continue
        fs = FileSet.read(path)
        for problem in fs.problems:
            print(f"dicomkit import: {path}: {problem}", file=sys.stderr)
        for record in fs.instances():
            try:
                target = str(fs.path(record))
            except MediaError as exc:
                raise MediaError(f"{path}: {exc}") from None
            files.append(target)
            listed[target] = functools.partial(fs.verify, record)
    return files, listed


def run_import(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.exc import SQLAlchemyError

    from dicomkit.errors import DicomError

    try:
        files, listed = _import_sources(args.paths, args.recursive)
    except (DicomError, OSError) as exc:
        print(f"dicomkit import: {exc}", file=sys.stderr)
        return 1
    archive = open_archive(args)
    progress = Progress(len(files), "import")
    counts = {"added": 0, "replaced": 0, "ignored": 0}
    failed: list[tuple[str, str]] = []

    def one(path: str) -> None:
        try:
            check = listed.get(path)
            if check is not None:
                check()  # the file a DICOMDIR lists exists and is the instance it says
            done = archive.import_file(path)
            counts[done.result.status] = counts.get(done.result.status, 0) + 1
        except (DicomError, OSError, ValueError, SQLAlchemyError) as exc:
            failed.append((path, str(exc).splitlines()[0]))
        progress()

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, files))
    archive.close()
    print(f"{counts['added']} added, {counts['replaced']} replaced, {counts['ignored']} skipped "
          f"(duplicates), {len(failed)} failed")
    for path, reason in failed[:50]:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def run_ls(args: argparse.Namespace) -> int:
    from dicomkit.archive.matching import compile_query
    from dicomkit.core.dataset import Dataset

    archive = open_archive(args, migrate=True)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = args.level
    columns = {
        "PATIENT": ["PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "NumberOfPatientRelatedStudies"],
        "STUDY": ["PatientID", "PatientName", "StudyDate", "ModalitiesInStudy",
                  "StudyDescription", "NumberOfStudyRelatedInstances", "StudyInstanceUID"],
        "SERIES": ["StudyInstanceUID", "SeriesNumber", "Modality", "SeriesDescription",
                   "NumberOfSeriesRelatedInstances", "SeriesInstanceUID"],
    }[args.level]
    for keyword in columns:
        identifier.set(keyword, None)
    query = compile_query(identifier, "patient")
    from dicomkit.core.dictionary import tag_for_keyword

    rows = []
    for attrs in archive.index.search(query):
        row = []
        for keyword in columns:
            entry = attrs.get(f"{tag_for_keyword(keyword):08X}", {})
            values = entry.get("Value") or []
            row.append("\\".join(v.get("Alphabetic", "") if isinstance(v, dict) else str(v)
                                 for v in values))
        rows.append(row)
    archive.close()
    print(text_table(columns, rows))
    return 0


def run_rm(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    archive = open_archive(args)
    level, uid = (("STUDY", args.study) if args.study else ("SERIES", args.series)
                  if args.series else ("IMAGE", args.instance))
    trail = open_trail(settings)
    # What goes is looked up before it goes: the messages name its study and patient.
    summary = _summary_of(archive, level, uid) if trail is not None else []
    removed = archive.delete(level, uid)
    archive.close()
    if trail is not None:
        if removed:
            for message in _deletion_messages(settings, level, summary):
                trail.record(message)
        trail.close()
    print(f"{removed} instance(s) removed")
    return 0 if removed else 1


def _summary_of(archive: Any, level: str, uid: str) -> list[dict[str, Any]]:
    from dicomkit.archive.matching import compile_query
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.element import DataElement

    tag = {"STUDY": 0x0020000D, "SERIES": 0x0020000E, "IMAGE": 0x00080018}[level]
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier[tag] = DataElement(tag, "UI", uid)
    return list(archive.index.audit_summary(where=compile_query(identifier, "study").where))


def _deletion_messages(settings: dict[str, Any], level: str,
                       summary: list[dict[str, Any]]) -> list[Any]:
    """PS3.15 A.5.3.8 DICOM Study Deleted for a study, A.5.3.6 DICOM Instances Accessed
    (action D) for series and instances."""
    from dicomkit.audit import messages as m

    source, actor = audit_source(settings), operator()
    out = []
    for patient, studies in m.by_patient(summary):
        if level == "STUDY":
            out += [m.study_deleted(source, actor, study, patient) for study in studies]
        else:
            out.append(m.instances_accessed(source, actor, studies, patient, action="D"))
    return out


def run_reindex(args: argparse.Namespace) -> int:
    archive = open_archive(args)
    files = archive.scan_files()
    done, failed, removed = archive.reindex(Progress(len(files), "reindex"))
    archive.close()
    print(f"{done} indexed, {removed} removed (file gone), {len(failed)} failed")
    for path, reason in failed[:50]:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def run_stats(args: argparse.Namespace) -> int:
    archive = open_archive(args)
    stats = archive.index.stats()
    archive.close()
    for name, value in stats.items():
        print(f"{name:10} {value}")
    return 0
