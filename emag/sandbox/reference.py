"""vat/read, handling_time/read and category/read (item shapes are not fully documented by eMAG)."""

from __future__ import annotations

from emag.sandbox.offers import ApiError, InvalidValue, as_int, paging
from emag.sandbox.vocabulary import CATEGORIES, CATEGORY_BY_ID, COLOR, HANDLING_TIMES, VAT_RATES

# Categories a seller may not list in, so `is_allowed` is not always 1.
CLOSED_CATEGORIES = ((9101, "Medicamente", 9100), (9205, "Arme și muniție", 9200))


def vat_rates() -> list[dict]:
    return [
        {"vat_id": vat_id, "vat_rate": f"{rate:.4f}", "is_default": 1 if vat_id == 1 else 0}
        for vat_id, rate in VAT_RATES.items()
    ]


def handling_times() -> list[dict]:
    return [{"id": days} for days in HANDLING_TIMES]


def _category_row(category_id: int) -> dict:
    category = CATEGORY_BY_ID.get(category_id)
    if category is None:
        name, parent = next((n, p) for i, n, p in CLOSED_CATEGORIES if i == category_id)
        return {
            "id": category_id,
            "name": name,
            "is_allowed": 0,
            "parent_id": parent,
            "is_ean_mandatory": 1,
            "is_warranty_mandatory": 1,
        }
    return {
        "id": category.id,
        "name": category.name,
        "is_allowed": 1,
        "parent_id": category.parent_id,
        "is_ean_mandatory": category.is_ean_mandatory,
        "is_warranty_mandatory": category.is_warranty_mandatory,
    }


def _category_details(category_id: int) -> dict:
    row = _category_row(category_id)
    category = CATEGORY_BY_ID.get(category_id)
    if category is None:
        row.update(characteristics=[], family_types=[])
        return row
    characteristics = []
    for order, spec in enumerate((category.spec, COLOR), start=1):
        characteristics.append(
            {
                "id": spec.id,
                "name": spec.name,
                "type_id": 1 if spec is COLOR else 2,
                "display_order": order,
                "is_mandatory": spec.is_mandatory,
                "is_filter": 1,
                "allow_new_value": 1 if spec is COLOR else 0,
                "values": list(spec.values),
            }
        )
    row["characteristics"] = characteristics
    row["family_types"] = (
        [
            {
                "id": category.family_type_id,
                "name": f"{category.spec.name}",
                "characteristics": [
                    {"characteristic_id": category.spec.id, "characteristic_family_type_id": 1, "is_foldable": 0}
                ],
            }
        ]
        if category.family_type_id
        else []
    )
    return row


def all_category_ids() -> list[int]:
    return sorted([c.id for c in CATEGORIES] + [i for i, _, _ in CLOSED_CATEGORIES])


def read_categories(params: dict) -> list[dict]:
    page, per_page = paging(params)
    if params.get("id") not in (None, ""):
        try:
            category_id = as_int(params["id"])
        except InvalidValue:
            raise ApiError(f"Invalid value {params['id']!r} for filter id.")
        if category_id not in all_category_ids():
            return []
        return [_category_details(category_id)] if page == 1 else []
    ids = all_category_ids()[(page - 1) * per_page : page * per_page]
    return [_category_row(i) for i in ids]


def count_categories() -> int:
    return len(all_category_ids())
