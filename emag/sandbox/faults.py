"""Fault injection: `KIND:RATE[,KIND:RATE...]`, drawn from the seed and the request number.

Request faults (one at most per request) replace or spoil the answer; `badrecord` spoils single
records of a read page (its rate is per record); `drift` changes the catalogue just before a read.
Every draw comes from `random.Random(f"{seed}:{purpose}:{sequence}")`, so two sandboxes with the
same seed that receive the same requests in the same order inject exactly the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

REQUEST_FAULTS = ("429", "500", "502", "504", "slow", "hang", "truncated", "badjson", "iserror")
RECORD_FAULTS = ("badrecord",)
CATALOGUE_FAULTS = ("drift",)
FAULT_KINDS = REQUEST_FAULTS + RECORD_FAULTS + CATALOGUE_FAULTS

# What a badrecord fault does to a record; the record's true id is logged with the kind.
BADRECORD_KINDS = ("missing_id", "wrong_types", "negative_price", "overlong", "duplicate")
DRIFT_KINDS = ("price", "stock", "add", "remove")


class FaultSpecError(ValueError):
    """A --faults value that does not follow KIND:RATE[,KIND:RATE...]."""


@dataclass(frozen=True)
class FaultPlan:
    rates: dict[str, float]

    @property
    def request_rates(self) -> list[tuple[str, float]]:
        return [(k, self.rates[k]) for k in REQUEST_FAULTS if self.rates.get(k)]

    def rate(self, kind: str) -> float:
        return self.rates.get(kind, 0.0)

    def __bool__(self) -> bool:
        return any(self.rates.values())

    def spec(self) -> str:
        return ",".join(f"{k}:{v:g}" for k, v in self.rates.items())


def parse_faults(spec: str | dict[str, float] | FaultPlan | None) -> FaultPlan:
    """`"429:0.05,500:0.03,badrecord:0.05"` -> FaultPlan; raises FaultSpecError with the reason."""
    if isinstance(spec, FaultPlan):
        return spec
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = []
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            kind, sep, rate = part.partition(":")
            if not sep:
                raise FaultSpecError(f"Fault {part!r} needs a rate: KIND:RATE, for example 500:0.05.")
            items.append((kind.strip(), rate.strip()))
    rates: dict[str, float] = {}
    for kind, raw_rate in items:
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"Unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_KINDS)}.")
        try:
            rate = float(raw_rate)
        except (TypeError, ValueError):
            raise FaultSpecError(f"Fault rate {raw_rate!r} for {kind} is not a number.")
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"Fault rate for {kind} must lie between 0 and 1, not {rate}.")
        if kind in rates:
            raise FaultSpecError(f"Fault kind {kind} given twice.")
        rates[kind] = rate
    request_total = sum(rates.get(k, 0.0) for k in REQUEST_FAULTS)
    if request_total > 1.0 + 1e-9:
        raise FaultSpecError(f"The request fault rates add up to {request_total:g}, more than 1.")
    return FaultPlan(rates)


def rng_for(seed: int, purpose: str, sequence: int) -> random.Random:
    return random.Random(f"emag-sandbox:{seed}:{purpose}:{sequence}")


def draw_request_fault(plan: FaultPlan, seed: int, sequence: int) -> str | None:
    """At most one request fault, by cumulative rates over a single draw."""
    request_rates = plan.request_rates
    if not request_rates:
        return None
    u = rng_for(seed, "request", sequence).random()
    cumulative = 0.0
    for kind, rate in request_rates:
        cumulative += rate
        if u < cumulative:
            return kind
    return None


def draws_drift(plan: FaultPlan, seed: int, sequence: int) -> bool:
    rate = plan.rate("drift")
    return bool(rate) and rng_for(seed, "drift", sequence).random() < rate


_WRONG_TYPES = {
    "product_offer/read": (
        ("sale_price", []),
        ("status", "active"),
        ("stock", "12 buc"),
        ("general_stock", "n/a"),
        ("vat_id", {"rate": 21}),
        ("ean", 5941234567892),
    ),
    "order/read": (("status", "new"), ("products", "none"), ("payment_mode_id", "card"), ("date", 20250929)),
}


def spoil_record(row: dict, kind: str, rng: random.Random, route: str, other: dict | None) -> str:
    """Spoil one wire record in place (a duplicate is swapped in by the caller); returns what was done."""
    is_order = route == "order/read"
    if kind == "missing_id":
        row.pop("id", None)
        return "id removed"
    if kind == "wrong_types":
        key, value = rng.choice(_WRONG_TYPES[route])
        row[key] = value
        return f"{key} set to {value!r}"
    if kind == "negative_price":
        target = row["products"][0] if is_order and row.get("products") else row
        price = target.get("sale_price") or "1.0000"
        target["sale_price"] = "-" + str(price).lstrip("-")
        return f"sale_price set to {target['sale_price']}"
    if kind == "overlong":
        if is_order:
            row["customer"]["name"] = (row["customer"]["name"] + " ") * 80
            return "customer name over 1000 characters"
        key = rng.choice(("part_number", "name"))
        length = 300 if key == "part_number" else 1200
        row[key] = (str(row[key]) + "-") * (length // max(1, len(str(row[key]))) + 1)
        return f"{key} of {len(row[key])} characters"
    if kind == "duplicate" and other is not None:
        return f"replaced by a copy of record {other.get('id')}"
    raise ValueError(f"Unknown badrecord kind {kind}")
