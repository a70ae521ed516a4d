"""Request bodies as eMAG accepts them: JSON, or PHP-style form encoding (`data[0][id]=5`)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

# PHP's default max_input_vars; eMAG answers "Maximum input vars of 4000 exceeded" past it.
MAX_INPUT_VARS = 4000
_KEY_PART = re.compile(r"\[([^\]]*)\]")


class BadBody(ValueError):
    """The body is neither valid JSON nor a form."""


class TooManyInputVars(ValueError):
    """A form body with more variables than PHP accepts."""


def header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def parse_body(headers: dict[str, str], body: bytes | str | None) -> Any:
    """The payload as Python values; form bodies become nested dicts and lists of strings."""
    if body is None:
        return {}
    text = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else body
    if not text.strip():
        return {}
    content_type = header(headers, "Content-Type").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" or (
        content_type != "application/json" and not text.lstrip().startswith(("{", "["))
    ):
        return parse_php_form(text)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadBody(str(exc)) from exc


def parse_php_form(text: str) -> Any:
    """`data[0][stock][0][value]=7&data[0][id]=5` -> {"data": [{"id": "5", "stock": [{"value": "7"}]}]}."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=None)
    except ValueError as exc:
        raise BadBody(str(exc)) from exc
    if len(pairs) > MAX_INPUT_VARS:
        raise TooManyInputVars(f"Maximum input vars of {MAX_INPUT_VARS} exceeded")
    root: dict = {}
    for key, value in pairs:
        bracket = key.find("[")
        if bracket <= 0:
            root[key] = value
            continue
        parts = [key[:bracket]] + _KEY_PART.findall(key[bracket:])
        node = root
        for part, next_part in zip(parts, parts[1:], strict=False):
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
            if next_part == "":
                break
        last = parts[-1]
        if last == "":
            node[str(len(node))] = value
        else:
            node[last] = value
    return _lists_from_numeric_dicts(root)


def _lists_from_numeric_dicts(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _lists_from_numeric_dicts(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value
