"""Items and tracking categories of the Xero sandbox, as far as posting uses them.

An invoice or credit note line may name an ``ItemCode`` and up to two ``Tracking`` entries (category and
option, by name or id). Xero refuses an item code the organisation does not have and a tracking option
that does not exist or is archived; so does the sandbox. ``Items`` (``GET``/``PUT``/``POST``) and
``TrackingCategories`` (``GET``, ``PUT`` a category, ``PUT /TrackingCategories/{id}/Options``) are there
to create them; :func:`seed` adds them without HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any

MAX_ACTIVE_TRACKING_CATEGORIES = 2  # Xero: "You can only have 2 active tracking categories"


def build_item(item: dict[str, Any], existing: dict[str, Any] | None, code_taken: bool) -> tuple[dict, list[str]]:
    errors: list[str] = []
    doc = dict(existing or {})
    doc.update({k: v for k, v in item.items() if k not in ("ItemID", "UpdatedDateUTC")})
    code = doc.get("Code")
    if not code or not str(code).strip():
        errors.append("Item code must be specified.")
    elif code_taken:
        errors.append(f"Item code '{code}' already exists.")
    doc["ItemID"] = (existing or {}).get("ItemID") or str(uuid.uuid4())
    doc.setdefault("Name", code)
    doc.setdefault("IsSold", True)
    doc.setdefault("IsPurchased", True)
    doc.setdefault("IsTrackedAsInventory", False)
    return doc, errors


def build_category(item: dict[str, Any], existing: dict[str, Any] | None,
                   others: list[dict[str, Any]]) -> tuple[dict, list[str]]:
    errors: list[str] = []
    doc = dict(existing or {})
    doc.update({k: v for k, v in item.items() if k not in ("TrackingCategoryID", "UpdatedDateUTC", "Options")})
    name = str(doc.get("Name") or "").strip()
    if not name:
        errors.append("Tracking category name must be specified.")
    elif any(o["Name"].lower() == name.lower() for o in others):
        errors.append(f"Tracking category name '{name}' is already used.")
    doc.setdefault("Status", "ACTIVE")
    if doc["Status"] == "ACTIVE" and sum(o.get("Status") == "ACTIVE" for o in others) >= \
            MAX_ACTIVE_TRACKING_CATEGORIES:
        errors.append(f"You can only have {MAX_ACTIVE_TRACKING_CATEGORIES} active tracking categories.")
    doc["TrackingCategoryID"] = (existing or {}).get("TrackingCategoryID") or str(uuid.uuid4())
    doc.setdefault("Options", [])
    for opt in item.get("Options") or []:
        errors.extend(add_option(doc, opt))
    return doc, errors


def add_option(category: dict[str, Any], option: dict[str, Any]) -> list[str]:
    """Add ``option`` ({Name}) to ``category`` in place; the problems, if any."""
    name = str(option.get("Name") or "").strip()
    if not name:
        return ["Tracking option name must be specified."]
    if any(o["Name"].lower() == name.lower() for o in category["Options"]):
        return [f"Tracking option '{name}' already exists in '{category['Name']}'."]
    category["Options"].append({"TrackingOptionID": str(uuid.uuid4()), "Name": name,
                                "Status": option.get("Status") or "ACTIVE"})
    return []


def resolve_tracking(entries: Any, categories: list[dict[str, Any]], n: int,
                     errors: list[str]) -> list[dict[str, Any]]:
    """A line's ``Tracking`` checked against the organisation's categories, with ids and names filled in."""
    out = []
    for t in entries or []:
        cat = next((c for c in categories if t.get("TrackingCategoryID") and
                    c["TrackingCategoryID"].lower() == str(t["TrackingCategoryID"]).lower()
                    or t.get("Name") and c["Name"].lower() == str(t["Name"]).lower()), None)
        if cat is None or cat.get("Status") != "ACTIVE":
            errors.append(f"Line {n}: the tracking category '{t.get('Name') or t.get('TrackingCategoryID')}' "
                          "does not exist or is not active.")
            continue
        opt = next((o for o in cat["Options"] if t.get("TrackingOptionID") and
                    o["TrackingOptionID"].lower() == str(t["TrackingOptionID"]).lower()
                    or t.get("Option") and o["Name"].lower() == str(t["Option"]).lower()), None)
        if opt is None or opt.get("Status") != "ACTIVE":
            errors.append(f"Line {n}: the tracking option '{t.get('Option') or t.get('TrackingOptionID')}' "
                          f"does not exist or is not active in '{cat['Name']}'.")
            continue
        out.append({"TrackingCategoryID": cat["TrackingCategoryID"], "TrackingOptionID": opt["TrackingOptionID"],
                    "Name": cat["Name"], "Option": opt["Name"]})
    if len(out) > MAX_ACTIVE_TRACKING_CATEGORIES:
        errors.append(f"Line {n}: a line can be tracked by at most {MAX_ACTIVE_TRACKING_CATEGORIES} categories.")
    return out
