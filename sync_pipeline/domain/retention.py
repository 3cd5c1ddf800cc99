"""Retention: how long each class of record is kept, per jurisdiction, and what a purge may do to it.

Pure rules (no I/O). A record class has two clocks, both counted from the end of the calendar year of the
record's period (the usual start of tax retention periods, e.g. DE §147(4) AO, UK HMRC):

- ``personal_years``: after it the record's identity is removed (names, notes, who approved it are
  anonymized); the amounts stay while a tax or audit duty applies;
- ``keep_years``: after it the record is deleted. For tax records (``tax: true``) the jurisdiction's tax
  retention is a floor: ``keep_years`` is never shorter than it.

A purge never touches a record under legal hold, nor one referenced by an open (unpaid) document, whatever
its age (:func:`decide`). The defaults are in ``docs/retention.example.yaml`` and docs/data-protection.md:
they are common figures, not legal advice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

KEEP, ANONYMIZE, DELETE = "keep", "anonymize", "delete"

#: jurisdiction → years tax / commercial law asks businesses to keep invoices and books (defaults, not advice)
DEFAULT_TAX_YEARS: dict[str, int] = {
    "GB": 6,   # HMRC: company and VAT records 6 years
    "IE": 6,   # Revenue: 6 years
    "DE": 10,  # §147 AO, §257 HGB: books 10 years (vouchers 8 since 2025); 10 kept as the safe figure
    "FR": 10,  # Code de commerce L123-22: accounting documents 10 years
    "IT": 10,  # Codice civile art. 2220: 10 years
    "CH": 10,  # OR art. 958f: 10 years
    "NL": 7,   # AWR art. 52: 7 years
    "ES": 6,   # Código de Comercio art. 30: 6 years
    "US": 7,   # IRS: 3 to 7 years depending on the claim; 7 covers them
    "CA": 6,   # CRA: 6 years from the end of the tax year
    "AU": 5,   # ATO: 5 years
}
#: aliases people write for the same jurisdiction
ALIASES = {"UK": "GB", "EU": "DE"}
#: when an entity's jurisdiction has no figure: the longest common one (keep rather than lose)
FALLBACK_TAX_YEARS = 10


class RetentionError(ValueError):
    """A retention policy that cannot be applied (unknown class, negative years …)."""


@dataclass(frozen=True)
class RecordClass:
    name: str
    personal_years: int | None  # None: never anonymized by age (no personal data, or kept as it is)
    keep_years: int | None  # None: never deleted by age
    tax: bool = False  # a tax / audit record: the jurisdiction's tax years are the floor of keep_years
    description: str = ""


@dataclass(frozen=True)
class RetentionPolicy:
    classes: dict[str, RecordClass]
    tax_years: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TAX_YEARS))
    fallback_tax_years: int = FALLBACK_TAX_YEARS
    entity_jurisdictions: dict[str, str] = field(default_factory=dict)

    def record_class(self, name: str) -> RecordClass:
        try:
            return self.classes[name]
        except KeyError:
            raise RetentionError(f"no retention class {name!r}: add it under classes: in the retention file "
                                 f"(known: {', '.join(sorted(self.classes))})") from None

    def tax_years_for(self, jurisdiction: str | None) -> int:
        j = ALIASES.get((jurisdiction or "").upper(), (jurisdiction or "").upper())
        return self.tax_years.get(j, self.fallback_tax_years)

    def keep_years(self, cls: RecordClass, jurisdiction: str | None) -> int | None:
        if not cls.tax:
            return cls.keep_years
        floor = self.tax_years_for(jurisdiction)
        return floor if cls.keep_years is None else max(cls.keep_years, floor)


@dataclass(frozen=True)
class Verdict:
    action: str  # keep | anonymize | delete
    reason: str
    keep_until: date | None = None  # the first day it may be deleted (None: no deletion date)


def clock_start(period: str) -> date:
    """Retention runs from the end of the period's calendar year: 2026-10 → 2027-01-01."""
    year = int(str(period)[:4])
    return date(year + 1, 1, 1)


def _after(start: date, years: int) -> date:
    return date(start.year + years, start.month, start.day)


def decide(policy: RetentionPolicy, class_name: str, period: str, today: date, *, jurisdiction: str | None,
           legal_hold: str | None = None, open_documents: int = 0, anonymized: bool = False) -> Verdict:
    """What a purge may do today to the records of one class and period."""
    cls = policy.record_class(class_name)
    start = clock_start(period)
    keep = policy.keep_years(cls, jurisdiction)
    delete_on = None if keep is None else _after(start, keep)
    if legal_hold:
        return Verdict(KEEP, f"under legal hold: {legal_hold}", delete_on)
    if open_documents:
        return Verdict(KEEP, f"referenced by {open_documents} open (unpaid) document(s)", delete_on)
    if delete_on is not None and today >= delete_on:
        why = (f"{keep} year(s) after {start.year - 1} ended"
               + (f" (tax retention {policy.tax_years_for(jurisdiction)} y, {jurisdiction or 'unknown'})"
                  if cls.tax else ""))
        return Verdict(DELETE, f"past retention: {why}", delete_on)
    if cls.personal_years is not None and not anonymized and today >= _after(start, cls.personal_years):
        still = f"; kept for tax/audit until {delete_on}" if delete_on else ""
        return Verdict(ANONYMIZE, f"personal data past {cls.personal_years} year(s){still}", delete_on)
    if delete_on is not None:
        return Verdict(KEEP, f"within retention until {delete_on}", delete_on)
    return Verdict(KEEP, "no deletion date for this class", None)
