"""The sandbox behind `responses`: answers `requests` calls in tests without a server."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from emag.sandbox.handler import Sandbox

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _read_timeout(timeout: Any) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[1] if len(timeout) > 1 else timeout[0]
    return timeout


def install(sandbox: Sandbox, responses_mock: Any, base_url: str, client_ip: str = "127.0.0.1") -> None:
    """Answer every `requests` call under base_url (such as https://sandbox.emag.test/api-3) with the sandbox.

    `hang` raises ReadTimeout at once (a real hang would block the test); `slow` raises ReadTimeout
    when the caller's read timeout is shorter than `sandbox.slow_seconds`, and otherwise sleeps
    `sandbox.mock_slow_seconds` before answering.
    """
    # Imported here: the sandbox needs `requests` only when installed into a `responses` mock.
    from requests.exceptions import ReadTimeout

    base_url = base_url.rstrip("/")
    base_path = urlsplit(base_url).path.rstrip("/")
    pattern = re.compile(re.escape(base_url) + r"(/.*)?$")

    def callback(request: Any) -> Any:
        url = urlsplit(request.url)
        rest = url.path[len(base_path) :] if url.path.startswith(base_path) else url.path
        path = rest if rest.startswith("/_sandbox/") else "/api-3" + rest
        if url.query:
            path += "?" + url.query
        response = sandbox.handle(request.method, path, dict(request.headers), request.body, client_ip)
        timeout = _read_timeout(getattr(request, "req_kwargs", {}).get("timeout"))
        if response.hang:
            raise ReadTimeout(f"The eMAG sandbox did not answer (hang fault) within {timeout} s.", request=request)
        if response.fault and "slow" in response.fault.split(","):
            if timeout is not None and timeout < sandbox.slow_seconds:
                raise ReadTimeout(
                    f"The eMAG sandbox answered after {sandbox.slow_seconds} s (slow fault), "
                    f"past the {timeout} s timeout.",
                    request=request,
                )
            time.sleep(sandbox.mock_slow_seconds)
        elif response.delay:
            time.sleep(response.delay)
        return response.status, response.headers, response.body

    for method in METHODS:
        responses_mock.add_callback(method, pattern, callback=callback)
