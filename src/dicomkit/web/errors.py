"""HTTP errors of the DICOMweb services (PS3.18 §8.5): a status code and a readable reason."""

from __future__ import annotations


class WebError(Exception):
    """Ends a request with ``status`` (400 bad request, 404 unknown, 406 not acceptable,
    415 unsupported media type, 501 not implemented …) and ``reason`` for a person to read."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


def warning_header(reason: str) -> str:
    """PS3.18 §8.6.2 / RFC 7234 §5.5: ``299 <agent>: "<text>"``, Latin-1 safe, one line."""
    text = " ".join(reason.split()).replace('"', "'").replace("§", "section ")
    return f'299 dicomkit: "{text.encode("ascii", "replace").decode("ascii")}"'
