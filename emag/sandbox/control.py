"""`/_sandbox/...`: the truth and the controls, for benchmarks and tests in another process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from emag.sandbox.bodies import BadBody, TooManyInputVars, parse_body
from emag.sandbox.wire import SandboxResponse, json_response, method_not_allowed

if TYPE_CHECKING:
    from emag.sandbox.handler import Sandbox


def introspect(sandbox: Sandbox, method: str, path: str, headers: dict, body: Any, query: str = "") -> SandboxResponse:
    """`/_sandbox/...`: the truth and the controls, for benchmarks and tests in another process.

    GET /_sandbox/catalogue/<name> takes `?page=N&per_page=M` (from 1) so a large catalogue can be
    fetched in parts; without them it answers every offer.
    """
    parts = path.strip("/").split("/")
    if method == "POST":
        return control(sandbox, parts, headers, body)
    if method != "GET":
        return method_not_allowed(method, path)
    with sandbox.lock:
        if parts == ["_sandbox", "log"]:
            return json_response(200, [entry.as_dict() for entry in sandbox.request_log])
        if parts == ["_sandbox", "faults"]:
            return json_response(
                200,
                {
                    "faults": sandbox.fault_plan.spec(),
                    "corrupted_records": [r.__dict__ for r in sandbox.corrupted_records],
                    "drift_events": [e.__dict__ for e in sandbox.drift_events],
                },
            )
        if parts == ["_sandbox", "accounts"]:
            return json_response(
                200,
                [{"name": s.name, "is_fbe": s.is_fbe, "offers": len(s.catalogue)} for s in sandbox.accounts.values()],
            )
        if len(parts) == 3 and parts[1] == "catalogue" and parts[2] in sandbox.accounts:
            params = dict(parse_qsl(query))
            try:
                page, per_page = int(params.get("page", 1)), int(params.get("per_page", 0))
            except ValueError:
                return json_response(400, {"message": "page and per_page must be integers"})
            if per_page > 0:
                if page < 1:
                    return json_response(400, {"message": "page starts at 1"})
                catalogue = sandbox.accounts[parts[2]].catalogue
                offers = catalogue.slice((page - 1) * per_page, page * per_page)
                return json_response(200, [offer.to_row() for offer in offers])
            return json_response(200, sandbox.catalogue(parts[2]))
        if len(parts) == 3 and parts[1] == "orders" and parts[2] in sandbox.accounts:
            return json_response(200, sandbox.orders(parts[2]))
    return json_response(404, {"message": f"Unknown sandbox resource {path}"})


def control(sandbox: Sandbox, parts: list[str], headers: dict, body: Any) -> SandboxResponse:
    """POST /_sandbox/faults {"faults": SPEC}, /_sandbox/rate_limit {"enabled": bool},
    /_sandbox/orders/<name> {"lines": [[offer_id, quantity]], "status": 1}, /_sandbox/log/reset."""
    try:
        payload = parse_body(headers, body) or {}
    except (BadBody, TooManyInputVars, UnicodeDecodeError):
        return json_response(400, {"message": "Invalid JSON body"})
    if not isinstance(payload, dict):
        return json_response(400, {"message": "The body must be a JSON object"})
    try:
        if parts == ["_sandbox", "faults"]:
            sandbox.set_faults(payload.get("faults", ""))
            return json_response(200, {"faults": sandbox.fault_plan.spec()})
        if parts == ["_sandbox", "rate_limit"]:
            sandbox.set_rate_limit(bool(payload.get("enabled", True)))
            return json_response(200, {"enabled": sandbox.rate_limit})
        if parts == ["_sandbox", "log", "reset"]:
            sandbox.reset_log()
            return json_response(200, {"entries": 0})
        if len(parts) == 3 and parts[1] == "orders" and parts[2] in sandbox.accounts:
            lines = payload.get("lines")
            order = sandbox.create_order(
                parts[2],
                [(int(offer_id), int(quantity)) for offer_id, quantity in lines] if lines else None,
                status=int(payload.get("status", 1)),
            )
            return json_response(201, order)
    except (ValueError, TypeError) as exc:
        return json_response(400, {"message": str(exc)})
    return json_response(404, {"message": f"Unknown sandbox resource /{'/'.join(parts)}"})
