"""What goes back over the wire: the response object, eMAG's envelope, and the request log entry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from emag.sandbox.ratelimit import retry_after_header

JSON_TYPE = "application/json; charset=utf-8"


class LogEntry(NamedTuple):
    """One request as the sandbox saw it.

    `time`: arrival, by the sandbox clock (epoch seconds by default); `duration`: handling time plus the
    simulated delay (latency, a slow fault, or hang_seconds for a hang); `status` 0 for a hang;
    `fault`: the injected fault kinds, comma-separated, or None; `sequence`: the request number that
    also seeds its faults.
    """

    time: float
    account: str | None
    route: str
    status: int
    duration: float
    fault: str | None
    method: str = "POST"
    sequence: int = 0

    def as_dict(self) -> dict:
        return self._asdict()


@dataclass
class SandboxResponse:
    """An answer; `delay` seconds to wait before sending it, or `hang` to never send it."""

    status: int
    headers: dict[str, str]
    body: bytes
    fault: str | None = None
    delay: float = 0.0
    hang: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    try:
        # A page of offers in a tenth of json.dumps' time: the sandbox shares the machine with the sync it serves.
        body = orjson.dumps(payload)
    except TypeError:  # what orjson does not write (an integer beyond 64 bits): the standard library
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return SandboxResponse(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)


def envelope(results: Any = None, *, messages: Iterable[str] = (), is_error: bool = False) -> dict:
    return {
        "isError": is_error,
        "messages": list(messages),
        "errors": [],
        "results": [] if results is None else results,
    }


def html_response(status: int, title: str) -> SandboxResponse:
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    return SandboxResponse(status, {"Content-Type": "text/html"}, body)


def method_not_allowed(method: str, route: str) -> SandboxResponse:
    return json_response(405, envelope(messages=[f"Method {method} is not allowed on {route}."], is_error=True))


def throttled_response(wait: float, retry_after: bool | float | None) -> SandboxResponse:
    """eMAG's 429; Retry-After only when configured (eMAG documents none)."""
    headers = {}
    if retry_after is True:
        headers["Retry-After"] = retry_after_header(wait)
    elif retry_after not in (None, False):
        headers["Retry-After"] = retry_after_header(float(retry_after))
    return json_response(429, {"message": "API rate limit exceeded"}, headers)
