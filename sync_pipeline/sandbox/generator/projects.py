"""The project-system side of the synthetic world: deterministic by seed, streamed in chunks.

``World(seed, entries)`` holds the small reference data (clients, projects, tasks, users, assignments,
expense categories: thousands of records at most) and generates time entries and expenses chunk by
chunk with numpy, each chunk from its own seeded generator, so 5 million entries need no more memory
than one chunk and any chunk can be regenerated alone.

The realistic mess, with the fractions in ``Mess``:
- duplicate clients under name variants ("Acme Corp", "ACME Corporation", "Acme, Inc.");
- projects without codes; an internal client with non-billable projects; non-billable tasks;
- fixed-fee projects (``is_fixed_fee``, ``fee``) and retainers (``x_retainer``: monthly hours and fee);
- clients in USD, EUR, GBP, JPY and CHF (JPY rates without decimals);
- task rates and per-user rates that change on effective dates (``x_rate_history``); the entry's
  ``billable_rate`` is the one in force on its ``spent_date``, as Harvest records it;
- users in several time zones; entries starting near local midnight and on DST-change days; ``spent_date``
  is the user's local date and ``x_started_at`` the start with the local UTC offset, ``x_timezone`` the zone;
- unapproved entries (``is_closed`` false, ``approval_status`` submitted; approved ones name their approver in
  ``x_approved_by``/``x_approved_at``), zero, negative and over-24-hour durations;
- entries already billed (``is_billed``, ``invoice``) and some edited after billing (``updated_at`` long
  after, hours changed, the billed hours kept in ``x_billed_hours``);
- expenses with receipts (or without), unit-priced mileage, a project markup (``x_markup_percent``),
  and refunds (negative amounts).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

CURRENCIES = ("GBP", "EUR", "USD", "JPY", "CHF")
CURRENCY_WEIGHTS = (0.35, 0.25, 0.25, 0.07, 0.08)
# hourly rate ranges in minor units ×100 of the currency's main unit ("cents" of a rate), JPY whole yen
RATE_RANGE = {"GBP": (8_000, 18_000), "EUR": (9_000, 20_000), "USD": (10_000, 22_000), "CHF": (12_000, 25_000),
              "JPY": (1_200_000, 2_500_000)}
TIMEZONES = ("Europe/London", "America/New_York", "Europe/Zurich", "Asia/Tokyo", "Australia/Sydney",
             "America/Los_Angeles")
COMPANIES: list[tuple[str, ...]] = [
    ("Acme Corp", "ACME Corporation", "Acme, Inc."),
    ("Globex GmbH", "Globex GMBH", "Globex Gesellschaft mbH"),
    ("Initech Ltd", "INITECH LIMITED", "Initech"),
    ("Umbrella Corporation", "Umbrella Corp.", "Umbrella Corp"),
    ("Stark Industries", "Stark Industries Inc", "STARK IND."),
    ("Wayne Enterprises", "Wayne Enterprises, Inc.", "Wayne Ent."),
    ("Tyrell Corporation", "Tyrell Corp", "The Tyrell Corporation"),
    ("Cyberdyne Systems", "Cyberdyne Systems Corp.", "CyberDyne"),
    ("Soylent AG", "Soylent A.G.", "SOYLENT AG"),
    ("Hooli K.K.", "Hooli KK", "Hooli Japan"),
    ("Zürich Käse SA", "Zurich Kase SA", "Zürich Käse S.A."),
    ("Müller & Söhne GmbH", "Mueller und Soehne GmbH", "Müller + Söhne"),
]
WORDS_A = ("Northwind", "Blue Harbor", "Vandelay", "Oceanic", "Pied Piper", "Aperture", "Monarch", "Gringotts",
           "Wonka", "Nakatomi", "Rekall", "Virtucon", "Dunder", "Sterling", "Prestige", "Halcyon")
WORDS_B = ("Traders", "Industries", "Labs", "Holdings", "Partners", "Logistics", "Media", "Foods", "Analytics",
           "Ventures", "Systems", "Group")
FIRST = ("Alice", "Bob", "Carol", "Dmitri", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jamal", "Kaito", "Lena",
         "Mateo", "Nadia", "Olu", "Priya", "Quentin", "Rosa", "Sven", "Tomoko", "Uma", "Viktor", "Wen", "Yusuf", "Zoë")
LAST = ("Archer", "Baker", "Chen", "Dubois", "Eze", "Fischer", "García", "Hoffmann", "Ito", "Jones", "Kowalski",
        "López", "Müller", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka", "Umeh", "Varga")
TASKS = [(1, "Development", True), (2, "Design", True), (3, "Project Management", True), (4, "Meetings", True),
         (5, "QA", True), (6, "Support", True), (7, "Travel", False), (8, "Training", False)]
NOTES = ("Checkout flow", "API integration", "Weekly sync", "Bug triage", "Landing page mock-ups", "Data migration",
         "Sprint planning", "Code review", "Release prep", 'Fix "login" bug', "Café menu redesign — phase 2",
         "Incident #4711 follow-up", "Onboarding workshop", "Performance tuning", "", None)
EXPENSE_CATEGORIES = [(1, "Travel", None, None), (2, "Lodging", None, None), (3, "Meals", None, None),
                      (4, "Mileage", "mile", "0.45"), (5, "Software", None, None)]


@dataclass(frozen=True)
class Mess:
    """How much of each kind of trouble the generated entries carry (fractions of entries)."""

    unapproved: float = 0.06
    near_midnight: float = 0.04
    dst_day: float = 0.01
    zero_hours: float = 0.003
    negative_hours: float = 0.003
    over_24_hours: float = 0.002
    billed_share_of_old: float = 0.9  # of approved billable entries older than 60 days
    late_edit_of_billed: float = 0.01
    duplicate_client_variants: float = 0.7  # chance a company also appears under its name variants
    project_without_code: float = 0.15
    fixed_fee: float = 0.1
    retainer: float = 0.08
    expense_per_entry: float = 0.025
    refund_share_of_expenses: float = 0.02
    expense_without_receipt: float = 0.2


@dataclass
class Client:
    id: int
    name: str
    currency: str
    internal: bool = False


@dataclass
class Project:
    id: int
    client: Client
    name: str
    code: str | None
    billable: bool
    bill_by: str
    rate: int | None  # project rate (rate cents) when bill_by == "Project"
    fixed_fee: int | None
    retainer: dict[str, Any] | None
    markup: int
    task_assignments: list[int] = field(default_factory=list)  # indexes into World.task_assignments


@dataclass
class User:
    id: int
    first: str
    last: str
    timezone: str
    default_rate: int  # rate cents, in GBP terms
    cost_rate: int  # rate cents, in the account's currency

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Assignment:
    """A task or user assignment: the rate history as (effective_from day index, rate cents)."""

    id: int
    project: Project
    subject: int  # task id or user index
    billable: bool
    history: list[tuple[int, int]]
    override: bool = True  # user assignments: False = use default rates


def _rate_str(cents: int, currency: str) -> str:
    return f"{cents // 100}" if currency == "JPY" else f"{cents // 100}.{cents % 100:02d}"


class World:
    """The reference data of one Harvest account, and generators of its time entries and expenses."""

    def __init__(self, seed: int, entries: int, *, start: date = date(2025, 1, 1), days: int = 730,
                 base_currency: str = "GBP", mess: Mess = Mess(), first_entry_id: int = 1_000_001) -> None:
        self.seed, self.entries, self.start, self.days = seed, entries, start, days
        self.base_currency, self.mess, self.first_entry_id = base_currency, mess, first_entry_id
        self.end = start + timedelta(days=days - 1)
        rng = random.Random(seed)
        n_companies = max(3, min(2000, entries // 25_000 + 3))
        n_users = max(len(TIMEZONES), min(1500, entries // 4_000 + 3))
        self.clients: list[Client] = []
        cid = 1
        for i in range(n_companies):
            if i < len(COMPANIES):
                names = COMPANIES[i]
            else:
                base = f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)} {i}"
                names = (base, base.upper(), base + " Ltd.")
            currency = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
            self.clients.append(Client(cid, names[0], currency))
            cid += 1
            if rng.random() < mess.duplicate_client_variants:
                for variant in names[1:1 + rng.randint(1, len(names) - 1)]:
                    # the same company entered again, usually in the same currency
                    ccy = currency if rng.random() < 0.85 else rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
                    self.clients.append(Client(cid, variant, ccy))
                    cid += 1
        internal = Client(cid, "Internal", base_currency, internal=True)
        self.clients.append(internal)
        self.tasks = TASKS
        self.users = [User(i + 1, FIRST[i % len(FIRST)], LAST[(i * 7 + i // len(FIRST)) % len(LAST)],
                           # every zone appears even in a small world; then mostly London and New York
                           TIMEZONES[i] if i < len(TIMEZONES) else
                           rng.choices(TIMEZONES, (0.4, 0.2, 0.15, 0.1, 0.08, 0.07))[0],
                           rng.randrange(8_000, 16_000, 500), rng.randrange(3_000, 9_000, 250))
                      for i in range(n_users)]
        self._user_cost = np.array([u.cost_rate for u in self.users], dtype=np.int64)
        self.projects: list[Project] = []
        self.task_assignments: list[Assignment] = []
        pid = ta_id = 1
        for client in self.clients:
            n_proj = 3 if client.internal else rng.randint(1, 4)
            for j in range(n_proj):
                if client.internal:
                    name = ("Internal Operations", "Training", "Pre-sales")[j]
                    code, billable, bill_by = None, False, "none"
                else:
                    name = f"{client.name.split()[0]} {rng.choice(('Website', 'Data Platform', 'Support', 'Mobile App', 'Audit', 'Migration'))} {j + 1}"  # noqa: E501
                    code = None if rng.random() < mess.project_without_code else f"{client.name[:3].upper()}-{pid:04d}"
                    billable = True
                    bill_by = rng.choices(("Tasks", "People", "Project"), (0.6, 0.25, 0.15))[0]
                lo, hi = RATE_RANGE[client.currency]
                step = 100_000 if client.currency == "JPY" else 500
                fixed = rng.random() < mess.fixed_fee if billable else False
                retainer = None
                if billable and not fixed and rng.random() < mess.retainer:
                    hours = rng.choice((10, 20, 40))
                    retainer = {"monthly_hours": hours,
                                "monthly_fee": _rate_str(hours * rng.randrange(lo, hi, step), client.currency)}
                proj = Project(pid, client, name, code, billable, bill_by,
                               rng.randrange(lo, hi, step) if bill_by == "Project" else None,
                               rng.randrange(lo, hi, step) * rng.randint(50, 400) if fixed else None,
                               retainer, rng.choice((0, 0, 10, 15)) if billable else 0)
                for task_id, _tname, task_billable in rng.sample(TASKS, rng.randint(2, 5)):
                    history = [(0, rng.randrange(lo, hi, step))]
                    for _ in range(rng.choice((0, 0, 1, 2))):  # rate rises on effective dates
                        day = rng.randrange(30, days)
                        history.append((day, int(history[-1][1] * rng.choice((1.05, 1.1, 1.15))) // 100 * 100))
                    history.sort()
                    self.task_assignments.append(Assignment(ta_id, proj, task_id, billable and task_billable,
                                                            history))
                    proj.task_assignments.append(len(self.task_assignments) - 1)
                    ta_id += 1
                self.projects.append(proj)
                pid += 1
        self.user_assignments: list[Assignment] = []
        ua_id = 1
        billable_projects = [p for p in self.projects if p.billable]
        internal_projects = [p for p in self.projects if not p.billable]
        for ui in range(len(self.users)):
            mine = rng.sample(billable_projects, min(len(billable_projects), rng.randint(2, 6)))
            mine.append(rng.choice(internal_projects))
            for proj in mine:
                override = proj.billable and rng.random() < 0.25
                lo, hi = RATE_RANGE[proj.client.currency]
                step = 100_000 if proj.client.currency == "JPY" else 500
                history = [(0, rng.randrange(lo, hi, step))]
                if override and rng.random() < 0.5:
                    day = rng.randrange(30, days)
                    history.append((day, int(history[0][1] * 1.1) // 100 * 100))
                self.user_assignments.append(Assignment(ua_id, proj, ui, proj.billable, history, override))
                ua_id += 1
        # per-assignment arrays for vectorised generation
        ua = self.user_assignments
        self._ua_weight = np.array([3.0 if a.project.billable else 0.5 for a in ua])
        self._ua_weight /= self._ua_weight.sum()
        self._ua_user = np.array([a.subject for a in ua], dtype=np.int32)
        pidx = {id(p): i for i, p in enumerate(self.projects)}
        self._ua_project = np.array([pidx[id(a.project)] for a in ua], dtype=np.int32)
        counts = [len(p.task_assignments) for p in self.projects]
        self._proj_ta_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._proj_ta_count = np.array(counts, dtype=np.int64)
        self._proj_ta_flat = np.array([i for p in self.projects for i in p.task_assignments], dtype=np.int32)
        self._ta_hist = _history_arrays([a.history for a in self.task_assignments])
        self._ta_billable = np.array([a.billable for a in self.task_assignments])
        self._ua_hist = _history_arrays([a.history for a in self.user_assignments])
        self._ua_override = np.array([a.override for a in self.user_assignments])
        self._proj_rate = np.array([p.rate if p.bill_by == "Project" and p.rate is not None else -1
                                    for p in self.projects], dtype=np.int64)
        self._proj_none = np.array([p.bill_by == "none" for p in self.projects])
        self._tz_of_user = np.array([TIMEZONES.index(u.timezone) for u in self.users], dtype=np.int8)
        self._offsets = self._offset_table()
        self._dst_days = [self._dst_changes(ZoneInfo(tz)) for tz in TIMEZONES]

    # -- time zones ----------------------------------------------------------------------------
    def _offset_table(self) -> np.ndarray:
        """UTC offset in minutes of each zone at each local (day, hour) of the range: [tz, day, hour]."""
        table = np.zeros((len(TIMEZONES), self.days + 2, 24), dtype=np.int16)
        for t, name in enumerate(TIMEZONES):
            z = ZoneInfo(name)
            for d in range(self.days + 2):
                day = self.start + timedelta(days=d)
                noon = datetime(day.year, day.month, day.day, 12, tzinfo=z).utcoffset()
                table[t, d, :] = int(noon.total_seconds() // 60)  # type: ignore[union-attr]
                midnight = datetime(day.year, day.month, day.day, 0, tzinfo=z).utcoffset()
                if midnight != noon:  # a DST change that day: set hour by hour
                    for h in range(24):
                        off = datetime(day.year, day.month, day.day, h, tzinfo=z).utcoffset()
                        table[t, d, h] = int(off.total_seconds() // 60)  # type: ignore[union-attr]
        return table

    def _dst_changes(self, z: ZoneInfo) -> np.ndarray:
        days = []
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            a = datetime(day.year, day.month, day.day, 0, tzinfo=z).utcoffset()
            b = datetime(day.year, day.month, day.day, 23, tzinfo=z).utcoffset()
            if a != b:
                days.append(d)
        return np.array(days or [0], dtype=np.int32)

    # -- time entries --------------------------------------------------------------------------
    BLOCK = 10_000  # rows per seeded block: the data does not depend on the chunk size a reader asks for

    def chunks(self, chunk: int = 100_000) -> Iterator[dict[str, np.ndarray]]:
        """Time entries as columns (numpy arrays, one row per entry), ``chunk`` rows at a time.

        Rows come from fixed blocks of ``BLOCK`` rows, each from its own seeded generator, so any chunk
        size yields the same rows; memory holds at most one chunk plus one block."""
        pending: list[dict[str, np.ndarray]] = []
        have = 0
        for k, lo in enumerate(range(0, self.entries, self.BLOCK)):
            pending.append(self._chunk(k, lo, min(self.BLOCK, self.entries - lo)))
            have += len(pending[-1]["id"])
            while have >= chunk:
                merged = _concat(pending)
                yield {key: v[:chunk] for key, v in merged.items()}
                rest = {key: v[chunk:] for key, v in merged.items()}
                have -= chunk
                pending = [rest] if have else []
        if have:
            yield _concat(pending)

    def _chunk(self, k: int, lo: int, n: int) -> dict[str, np.ndarray]:
        m = self.mess
        rng = np.random.default_rng([self.seed, 1, k])
        ua = rng.choice(len(self.user_assignments), size=n, p=self._ua_weight)
        user = self._ua_user[ua]
        proj = self._ua_project[ua]
        pick = rng.random(n)  # a task of the entry's project
        ta = self._proj_ta_flat[self._proj_ta_start[proj] + (pick * self._proj_ta_count[proj]).astype(np.int64)]
        # local start: mostly office hours on weekdays; some near midnight; some on DST-change days
        day = rng.integers(0, self.days, size=n, dtype=np.int32)
        weekday = (np.datetime64(self.start) + day.astype("timedelta64[D]")).astype("datetime64[D]").view("int64")
        weekend = ((weekday + 3) % 7) >= 5  # 1970-01-01 was a Thursday
        day = np.where(weekend & (rng.random(n) < 0.9), np.maximum(day - 2, 0), day)
        minute = rng.integers(8 * 60, 18 * 60, size=n, dtype=np.int32)
        tz = self._tz_of_user[user]
        near = rng.random(n) < m.near_midnight
        minute = np.where(near, np.where(rng.random(n) < 0.5, rng.integers(23 * 60, 24 * 60, size=n),
                                         rng.integers(0, 60, size=n)), minute)
        dst = rng.random(n) < m.dst_day
        if dst.any():
            for t in range(len(TIMEZONES)):
                sel = dst & (tz == t)
                if sel.any():
                    day[sel] = rng.choice(self._dst_days[t], size=int(sel.sum()))
            minute = np.where(dst, rng.integers(0, 4 * 60, size=n), minute)
        # durations in hundredths of an hour: quarter hours, with zero, negative and > 24 h mistakes
        centi = rng.integers(1, 33, size=n, dtype=np.int64) * 25
        r = rng.random(n)
        centi = np.where(r < m.zero_hours, 0, centi)
        centi = np.where((r >= m.zero_hours) & (r < m.zero_hours + m.negative_hours), -centi, centi)
        lim = m.zero_hours + m.negative_hours
        centi = np.where((r >= lim) & (r < lim + m.over_24_hours), rng.integers(2401, 3600, size=n), centi)
        # rates in force on the day (rate cents): user override > project rate > task rate; none when bill_by none
        rate = _rate_on(self._ta_hist, ta, day)
        rate = np.where(self._proj_rate[proj] >= 0, self._proj_rate[proj], rate)
        override = self._ua_override[ua]
        rate = np.where(override, _rate_on(self._ua_hist, ua, day), rate)
        has_rate = override | ~self._proj_none[proj]
        billable = self._ta_billable[ta]
        approved = rng.random(n) >= m.unapproved
        recent = day >= self.days - 14
        approved &= ~(recent & (rng.random(n) < 0.5))  # the last two weeks are half unapproved
        billed = approved & billable & (day < self.days - 60) & (rng.random(n) < m.billed_share_of_old)
        late = billed & (rng.random(n) < m.late_edit_of_billed)
        billed_centi = centi.copy()
        centi = np.where(late, np.maximum(centi + rng.choice([-50, -25, 25, 50, 100], size=n), 0), centi)
        # instants: local start → UTC; created at the end of the entry; updated later when approved/edited
        off = self._offsets[tz, day, np.minimum(minute // 60, 23)].astype(np.int64)
        start_utc = (np.datetime64(self.start, "s").astype(np.int64) + day.astype(np.int64) * 86400
                     + minute.astype(np.int64) * 60 - off * 60)
        created = start_utc + np.clip(centi, 0, 2400) * 36
        updated = created + np.where(approved, rng.integers(3600, 7 * 86400, size=n), 0)
        updated = np.where(late, updated + rng.integers(40, 120, size=n) * 86400, updated)
        note = rng.integers(0, len(NOTES), size=n, dtype=np.int16)
        return {"id": np.arange(self.first_entry_id + lo, self.first_entry_id + lo + n, dtype=np.int64),
                "ua": ua, "ta": ta, "user": user, "project": proj, "tz": tz, "day": day, "minute": minute,
                "offset": off, "centi": centi, "billed_centi": billed_centi, "rate": rate, "has_rate": has_rate,
                "billable": billable, "approved": approved, "billed": billed, "late_edit": late,
                "created": created, "updated": updated, "note": note}

    # -- expenses ------------------------------------------------------------------------------
    def expense_chunks(self, chunk: int = 100_000) -> Iterator[list[dict[str, Any]]]:
        total = int(self.entries * self.mess.expense_per_entry)
        for k, lo in enumerate(range(0, total, chunk)):
            yield self._expenses(k, lo, min(chunk, total - lo))

    def _expenses(self, k: int, lo: int, n: int) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.seed}:expenses:{k}")
        billable_uas = [a for a in self.user_assignments if a.project.billable]
        out = []
        for i in range(n):
            a = rng.choice(billable_uas)
            proj, user = a.project, self.users[a.subject]
            cat_id, cat, unit_name, unit_price = rng.choice(EXPENSE_CATEGORIES)
            ccy = proj.client.currency
            d = self.start + timedelta(days=rng.randrange(self.days))
            units = None
            if unit_price is not None:
                units = Decimal(rng.randint(5, 300))
                cost = (units * Decimal(unit_price)).quantize(Decimal("0.01"))
            elif ccy == "JPY":
                cost = Decimal(rng.randrange(500, 80_000, 100))
            else:
                cost = Decimal(rng.randrange(500, 60_000)).scaleb(-2)
            refund = rng.random() < self.mess.refund_share_of_expenses
            if refund:
                cost = -cost
            ts = datetime(d.year, d.month, d.day, 18, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            eid = 5_000_001 + lo + i
            approved = rng.random() > self.mess.unapproved
            receipt = None if rng.random() < self.mess.expense_without_receipt else {
                "url": f"https://sandbox.invalid/receipts/{eid}.pdf", "file_name": f"receipt-{eid}.pdf",
                "file_size": rng.randint(20_000, 900_000), "content_type": "application/pdf"}
            out.append({
                "id": eid, "spent_date": d.isoformat(), "notes": f"Refund: {cat.lower()}" if refund else cat,
                "total_cost": cost, "units": units, "billable": True, "is_closed": approved, "is_locked": approved,
                "is_billed": False, "locked_reason": "Item Approved and Locked for this Time Period" if approved else None,
                "created_at": ts, "updated_at": ts,
                "user": {"id": user.id, "name": user.name}, "user_assignment": {"id": a.id},
                "project": {"id": proj.id, "name": proj.name, "code": proj.code},
                "client": {"id": proj.client.id, "name": proj.client.name, "currency": ccy},
                "expense_category": {"id": cat_id, "name": cat, "unit_price": None if unit_price is None else
                                     Decimal(unit_price), "unit_name": unit_name},
                "receipt": receipt, "invoice": None, "x_markup_percent": Decimal(proj.markup),
            })
        return out

    # -- reference documents in Harvest's shapes ---------------------------------------------------
    def _stamp(self) -> str:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def client_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        return [{"id": c.id, "name": c.name, "currency": c.currency, "is_active": True, "address": None,
                 "statement_key": f"sk{c.id:06d}", "created_at": ts, "updated_at": ts} for c in self.clients]

    def project_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        out = []
        for p in self.projects:
            ccy = p.client.currency
            out.append({
                "id": p.id, "name": p.name, "code": p.code, "is_active": True, "is_billable": p.billable,
                "is_fixed_fee": p.fixed_fee is not None, "bill_by": p.bill_by,
                "hourly_rate": Decimal(_rate_str(p.rate, ccy)) if p.rate is not None else None,
                "fee": Decimal(_rate_str(p.fixed_fee, ccy)) if p.fixed_fee is not None else None,
                "budget": None, "budget_by": "none", "notes": "", "starts_on": self.start.isoformat(),
                "ends_on": None, "created_at": ts, "updated_at": ts,
                "client": {"id": p.client.id, "name": p.client.name, "currency": ccy},
                "x_retainer": p.retainer, "x_markup_percent": Decimal(p.markup)})
        return out

    def task_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        return [{"id": i, "name": n, "billable_by_default": b, "default_hourly_rate": None, "is_default": True,
                 "is_active": True, "created_at": ts, "updated_at": ts} for i, n, b in self.tasks]

    def user_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        return [{"id": u.id, "first_name": u.first, "last_name": u.last,
                 "email": f"{u.first.lower()}.{u.id}@sandbox.invalid", "timezone": u.timezone,
                 "is_contractor": u.id % 9 == 0, "is_active": True, "weekly_capacity": 126000,
                 "default_hourly_rate": Decimal(_rate_str(u.default_rate, "GBP")),
                 "cost_rate": Decimal(_rate_str(u.cost_rate, "GBP")),
                 "roles": [], "access_roles": ["member"], "created_at": ts, "updated_at": ts} for u in self.users]

    def _history(self, a: Assignment, ccy: str) -> list[dict[str, Any]]:
        return [{"effective_from": (self.start + timedelta(days=d)).isoformat(),
                 "hourly_rate": Decimal(_rate_str(r, ccy))} for d, r in a.history]

    def task_assignment_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        names = {i: n for i, n, _ in self.tasks}
        return [{"id": a.id, "is_active": True, "billable": a.billable,
                 "hourly_rate": Decimal(_rate_str(a.history[-1][1], a.project.client.currency)),
                 "budget": None, "created_at": ts, "updated_at": ts,
                 "project": {"id": a.project.id, "name": a.project.name, "code": a.project.code},
                 "task": {"id": a.subject, "name": names[a.subject]},
                 "x_rate_history": self._history(a, a.project.client.currency)} for a in self.task_assignments]

    def user_assignment_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        out = []
        for a in self.user_assignments:
            u = self.users[a.subject]
            doc = {"id": a.id, "is_active": True, "is_project_manager": a.id % 11 == 0,
                   "use_default_rates": not a.override, "budget": None, "created_at": ts, "updated_at": ts,
                   "hourly_rate": Decimal(_rate_str(a.history[-1][1], a.project.client.currency))
                   if a.override else None,
                   "project": {"id": a.project.id, "name": a.project.name, "code": a.project.code},
                   "user": {"id": u.id, "name": u.name}}
            if a.override:
                doc["x_rate_history"] = self._history(a, a.project.client.currency)
            out.append(doc)
        return out

    def expense_category_docs(self) -> list[dict[str, Any]]:
        ts = self._stamp()
        return [{"id": i, "name": n, "unit_name": un, "unit_price": None if up is None else Decimal(up),
                 "is_active": True, "created_at": ts, "updated_at": ts} for i, n, un, up in EXPENSE_CATEGORIES]

    # -- time entries as Harvest JSON documents ------------------------------------------------------
    def time_entry_json(self, c: dict[str, np.ndarray]) -> Iterator[tuple[int, str]]:
        """(id, Harvest time-entry JSON) per row of a chunk; rendered from templates, not json.dumps per row."""
        users = [f'{{"id":{u.id},"name":{json.dumps(u.name)}}}' for u in self.users]
        costs = [_rate_str(u.cost_rate, "GBP") for u in self.users]
        approver = users[0]
        projects = [(f'{{"id":{p.id},"name":{json.dumps(p.name)},"code":{json.dumps(p.code)}}}',
                     f'{{"id":{p.client.id},"name":{json.dumps(p.client.name)},"currency":"{p.client.currency}"}}',
                     p.client.currency) for p in self.projects]
        task_names = {i: n for i, n, _ in self.tasks}
        tasks = [f'{{"id":{a.subject},"name":{json.dumps(task_names[a.subject])}}}' for a in self.task_assignments]
        notes = [json.dumps(n) for n in NOTES]
        tzs = [json.dumps(t) for t in TIMEZONES]
        spent = np.datetime_as_string(np.datetime64(self.start) + c["day"].astype("timedelta64[D]"), unit="D").tolist()
        created = np.datetime_as_string(c["created"].astype("datetime64[s]"), unit="s").tolist()
        updated = np.datetime_as_string(c["updated"].astype("datetime64[s]"), unit="s").tolist()
        col = {k: v.tolist() for k, v in c.items()}  # Python scalars: indexing numpy per row is slow
        ua_ids = [a.id for a in self.user_assignments]
        ta_ids = [a.id for a in self.task_assignments]
        for i in range(len(col["id"])):
            eid = col["id"][i]
            p = projects[col["project"][i]]
            centi = col["centi"][i]
            hours = f"{'-' if centi < 0 else ''}{abs(centi) // 100}.{abs(centi) % 100:02d}"
            rate = _rate_str(col["rate"][i], p[2]) if col["has_rate"][i] else "null"
            approved, billed = col["approved"][i], col["billed"][i]
            minute, off = col["minute"][i], col["offset"][i]
            sign = "+" if off >= 0 else "-"
            started = f"{spent[i]}T{minute // 60:02d}:{minute % 60:02d}:00{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}"
            locked = "true" if (approved or billed) else "false"
            reason = ('"Item Invoiced and Locked for this Time Period"' if billed else
                      '"Item Approved and Locked for this Time Period"' if approved else "null")
            invoice = f'{{"id":{700000 + eid % 9973},"number":"H-{eid % 9973:05d}"}}' if billed else "null"
            # approved entries say so as Harvest does (approval_status) and, as the sandbox's approvals do,
            # who approved them and when (the first user is everyone's manager here; approved when last updated)
            extra = (f',"approval_status":"approved","x_approved_by":{approver},"x_approved_at":"{updated[i]}Z"'
                     if approved else ',"approval_status":"submitted"')
            if col["late_edit"][i]:
                b = col["billed_centi"][i]
                extra = f',"x_billed_hours":{b // 100}.{b % 100:02d}'
            yield eid, (
                f'{{"id":{eid},"spent_date":"{spent[i]}","hours":{hours},"rounded_hours":{hours},'
                f'"notes":{notes[col["note"][i]]},"is_locked":{locked},"locked_reason":{reason},'
                f'"is_closed":{"true" if approved else "false"},"is_billed":{"true" if billed else "false"},'
                f'"is_running":false,"billable":{"true" if col["billable"][i] else "false"},"budgeted":false,'
                f'"billable_rate":{rate},"cost_rate":{costs[col["user"][i]]},"created_at":"{created[i]}Z","updated_at":"{updated[i]}Z",'
                f'"timer_started_at":null,"started_time":"{minute // 60:02d}:{minute % 60:02d}","ended_time":null,'
                f'"user":{users[col["user"][i]]},"client":{p[1]},"project":{p[0]},"task":{tasks[col["ta"][i]]},'
                f'"user_assignment":{{"id":{ua_ids[col["ua"][i]]}}},"task_assignment":{{"id":{ta_ids[col["ta"][i]]}}},'
                f'"invoice":{invoice},"external_reference":null,'
                f'"x_started_at":"{started}","x_timezone":{tzs[col["tz"][i]]}{extra}}}')

    def time_entry_docs(self, chunk: int = 100_000) -> Iterator[dict[str, Any]]:
        """Time entries as Harvest documents (decoded; for small worlds and tests)."""
        from sync_pipeline.contracts.codec import loads

        for c in self.chunks(chunk):
            for _, text in self.time_entry_json(c):
                yield loads(text)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _history_arrays(histories: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Rate histories padded into (effective-from days, rates) matrices; missing changes never take effect."""
    width = max(len(h) for h in histories)
    days = np.full((len(histories), width), np.iinfo(np.int32).max, dtype=np.int64)
    rates = np.zeros((len(histories), width), dtype=np.int64)
    for i, h in enumerate(histories):
        for j, (d, r) in enumerate(h):
            days[i, j], rates[i, j] = d, r
    return days, rates


def _rate_on(hist: tuple[np.ndarray, np.ndarray], which: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The rate in force on each row's day: the last history entry whose effective day is <= the day."""
    days, rates = hist
    pos = (days[which] <= day[:, None]).sum(axis=1) - 1
    return rates[which, pos]


# -- sinks ------------------------------------------------------------------------------------------
def load_harvest(sandbox: Any, world: World, account_id: str, *, name: str = "Generated Ltd",
                 chunk: int = 50_000, with_expenses: bool = True) -> dict[str, int]:
    """Load a world into a HarvestSandbox: reference data, then time entries with bulk inserts."""
    sandbox.add_account(account_id, name, world.base_currency)
    counts: dict[str, int] = {}
    for coll, docs in (("clients", world.client_docs()), ("projects", world.project_docs()),
                       ("tasks", world.task_docs()), ("users", world.user_docs()),
                       ("task_assignments", world.task_assignment_docs()),
                       ("user_assignments", world.user_assignment_docs()),
                       ("expense_categories", world.expense_category_docs())):
        counts[coll] = sandbox.bulk_load(coll, account_id, docs)
    store = sandbox.store
    n = 0
    spent_cache: dict[int, str] = {}
    for c in world.chunks(chunk):
        ids = c["id"]
        projects = world.projects
        for d in np.unique(c["day"]):
            spent_cache.setdefault(int(d), (world.start + timedelta(days=int(d))).isoformat())
        index = {
            "updated_at": np.char.add(np.datetime_as_string(c["updated"].astype("datetime64[s]"), unit="s"), "Z"),
            "spent_date": [spent_cache[int(d)] for d in c["day"]],
            "project__id": [projects[p].id for p in c["project"]],
            "client__id": [projects[p].client.id for p in c["project"]],
            "user__id": [world.users[u].id for u in c["user"]],
            "task__id": [world.task_assignments[t].subject for t in c["ta"]],
            "is_billed": c["billed"].astype(np.int8),
            "num": ids,
        }
        n += store.bulk_put_encoded("time_entries", account_id, world.time_entry_json(c), index)
    sandbox._changed("time_entries")
    counts["time_entries"] = n
    if with_expenses:
        counts["expenses"] = sum(sandbox.bulk_load("expenses", account_id, docs)
                                 for docs in world.expense_chunks(chunk))
    return counts


def write_raw_time_entries(world: World, path: str | Path, *, chunk: int = 200_000,
                           extracted_at: str | None = None) -> int:
    """Write the world's time entries as one ``raw_time_entries`` Parquet file (the contract's columns and
    Arrow types), a row group per chunk; memory stays at one chunk."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sync_pipeline.contracts.warehouse import RawTimeEntry
    from sync_pipeline.store.warehouse import arrow_schema

    schema = arrow_schema(RawTimeEntry)
    extracted_at = extracted_at or datetime.now(UTC).isoformat(timespec="seconds")

    def strings(values: list[Any]) -> Any:
        return pa.array(values, pa.string())

    # lookup tables as Arrow arrays: each column is a ``take`` by index (in C, no Python per row)
    user_id, user_name = strings([str(u.id) for u in world.users]), strings([u.name for u in world.users])
    pr = world.projects
    project_id, project_name = strings([str(p.id) for p in pr]), strings([p.name for p in pr])
    project_code = strings([p.code for p in pr])
    client_id, client_name = strings([str(p.client.id) for p in pr]), strings([p.client.name for p in pr])
    client_ccy = strings([p.client.currency for p in pr])
    task_names = {i: n for i, n, _ in world.tasks}
    ta_task_id = strings([str(a.subject) for a in world.task_assignments])
    ta_task_name = strings([task_names[a.subject] for a in world.task_assignments])
    notes = strings(list(NOTES))
    dates = strings([(world.start + timedelta(days=d)).isoformat() for d in range(world.days)])
    # instants may fall a day before the range (UTC of an early local start) or months after it (late edits)
    instant_dates = strings([(world.start + timedelta(days=d)).isoformat() for d in range(-2, world.days + 400)])
    clock = strings([f"{h:02d}:{m:02d}:{x:02d}Z" for h in range(24) for m in range(60) for x in range(60)])
    epoch_day = int(np.datetime64(world.start, "D").astype(np.int64))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".parquet.tmp")
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for c in world.chunks(chunk):
            n = len(c["id"])
            p, t, u = pa.array(c["project"]), pa.array(c["ta"]), pa.array(c["user"])
            # "YYYY-MM-DDTHH:MM:SSZ" from two lookups (pc.strftime is ten times slower)
            upd_day, upd_sec = np.divmod(c["updated"], 86400)
            updated = pc.binary_join_element_wise(instant_dates.take(pa.array(upd_day - epoch_day + 2)),
                                                  clock.take(pa.array(upd_sec)), "T")
            # rates in rate cents → decimal(18,6) unscaled = cents × 10^4 (JPY rates are whole yen ×100 too)
            cols = {
                "source": pa.repeat(pa.scalar("harvest"), n),
                "entry_id": pc.cast(pa.array(c["id"]), pa.string()),
                "spent_date": dates.take(pa.array(c["day"])),
                "user_id": user_id.take(u),
                "user_name": user_name.take(u),
                "client_id": client_id.take(p),
                "client_name": client_name.take(p),
                "client_currency": client_ccy.take(p),
                "project_id": project_id.take(p),
                "project_name": project_name.take(p),
                "project_code": project_code.take(p),
                "task_id": ta_task_id.take(t),
                "task_name": ta_task_name.take(t),
                "hours": _decimal_array(c["centi"] * 10_000, None, schema.field("hours").type),
                "billable": pa.array(c["billable"], pa.bool_()),
                "billable_rate": _decimal_array(c["rate"] * 10_000, c["has_rate"], schema.field("billable_rate").type),
                "cost_rate": _decimal_array(world._user_cost[c["user"]] * 10_000, None,
                                            schema.field("cost_rate").type) if "cost_rate" in schema.names else None,
                "is_closed": pa.array(c["approved"], pa.bool_()),
                "notes": notes.take(pa.array(c["note"])),
                "updated_at": updated.cast(pa.string()),
                "extracted_at": pa.repeat(pa.scalar(extracted_at), n),
            }
            # a contract column this generator does not know (added later, nullable) is written as nulls
            cols = {f.name: cols[f.name] if cols.get(f.name) is not None else pa.nulls(n, f.type) for f in schema}
            writer.write_table(pa.table(cols, schema=schema))
            rows += n
    tmp.replace(out)
    return rows


def _decimal_array(unscaled: np.ndarray, valid: np.ndarray | None, typ: Any) -> Any:
    """A decimal128 Arrow array straight from int64 unscaled values (no Python Decimal per row)."""
    import pyarrow as pa

    n = len(unscaled)
    words = np.empty(n * 2, dtype=np.int64)
    words[0::2] = unscaled
    words[1::2] = np.where(unscaled < 0, -1, 0)
    if valid is None:
        return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(words.tobytes())])
    bitmap = np.packbits(valid.astype(bool), bitorder="little")
    return pa.Array.from_buffers(typ, n, [pa.py_buffer(bitmap.tobytes()), pa.py_buffer(words.tobytes())],
                                 null_count=int(n - valid.sum()))
