"""Chaos: full syncs repeated under random faults, late changes between them, and the posting process killed
mid-batch (SIGKILL) and restarted. Asserted on the sandbox accounting system's own contents:

- zero duplicate invoices (no reference live twice, one live document per group and revision);
- zero lost lines: per invoice group, live invoice lines minus credit note lines are exactly the drafted lines;
- conservation to the cent per currency: what the accounting system holds = what billing drafted, and that is
  the exact billed value up to each line's rounding to the cent;
- every permanent failure (every item the sandbox refused) is in the dead-letter store, and after the fix every
  dead letter is posted by a replay;
- every billed entry is marked invoiced in the project system, naming the document that bills it, and every
  entry credited away (refunded, no longer billable) is unmarked.

Each test runs on every accounting system (``accounting_targets.TARGETS``: Xero and QuickBooks Online, each on its
sandbox); what differs between them (faults, the killer's batch write, refusals, the name clash) is in
``chaos_systems``, and what the system holds is read back through ``AccountingTarget``.

``make test`` runs a short version; ``make test-full`` (marker ``full``) the long one.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from dagster import AssetSelection

from sync_pipeline.cli import main as cli_main
from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.contracts.payloads.accounting import Document
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import MappingResource
from sync_pipeline.domain import ids
from sync_pipeline.domain.money import from_minor, to_minor
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.harvest import now_iso
from sync_pipeline.sandbox.run import start_sandboxes
from sync_pipeline.services.posting import desired_groups, target_line
from sync_pipeline.services.posting.contacts import SOURCE_SYSTEM
from sync_pipeline.services.posting_links import billed_entries, current_documents, entry_links_frame
from sync_pipeline.store.controls import PostingControls
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline_tests.accounting_targets import TARGETS
from sync_pipeline_tests.identity import sign_in, standing_policy, token_for
from sync_pipeline_tests.posting.chaos_systems import SYSTEMS, ChaosSystem, Killer, Refusals

ENTITY, PERIOD = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD
ACCOUNT = demo_data.HARVEST_ACCOUNT_ID
CLASH_CLIENT = 101  # a contact created by hand clashes with this client's (chaos_systems): a permanent failure
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandboxes(tmp_path):
    # the per-minute quota scaled up: these tests make hundreds of calls a minute on purpose
    sb = start_sandboxes(tmp_path / "sandbox", minute_limit=100_000, day_limit=1_000_000, concurrent_limit=20)
    try:
        yield sb
    finally:
        sb.stop()


# -- the source data ------------------------------------------------------------------------------
def entry_doc(eid: int, client: dict, project: dict, user: int, task: int, spent: str, hours: str, rate: str) -> dict:
    return {
        "id": eid, "spent_date": spent, "hours": Decimal(hours), "rounded_hours": Decimal(hours),
        "notes": f"chaos {eid}", "is_locked": True, "locked_reason": "Item Approved and Locked for this Time Period",
        "is_closed": True, "is_billed": False, "is_running": False, "billable": True, "budgeted": False,
        "billable_rate": Decimal(rate), "cost_rate": Decimal("50"), "created_at": now_iso(), "updated_at": now_iso(),
        "user": {"id": user, "name": {1: "Alice Archer", 2: "Bob Baker", 3: "Carol Chen"}[user]},
        "client": {"id": client["id"], "name": client["name"], "currency": client["currency"]},
        "project": {"id": project["id"], "name": project["name"], "code": project["code"]},
        "task": {"id": task, "name": {1: "Development", 2: "Design", 3: "Meetings"}[task]},
        "invoice": None, "external_reference": None,
    }


def chaos_mapping(world: World, path: Path) -> Path:
    """The demo mapping plus the chaos clients and projects (the mapping is the source of truth for clients)."""
    doc = yaml.safe_load((PROJECT_ROOT / "docs" / "mapping.example.yaml").read_text(encoding="utf-8"))
    ent = next(e for e in doc["entities"] if e["key"] == ENTITY)
    ent.setdefault("clients", []).extend({"source_id": str(c["id"]), "name": c["name"], "currency": c["currency"]}
                                         for c in world.clients)
    ent.setdefault("projects", []).extend({"source_id": str(p["id"]), "client": str(p["client"]["id"]),
                                           "name": p["name"]} for p in world.projects)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


class World:
    """The Harvest side of the chaos: extra clients with entries, and the late changes made between syncs."""

    def __init__(self, sb, rng: random.Random, n_clients: int) -> None:
        self.sb, self.rng = sb, rng
        h = sb.harvest
        self.clients = [{"id": 100 + i, "name": f"Chaos Client {100 + i}", "currency": rng.choice(["GBP", "EUR", "USD"]),
                         "is_active": True} for i in range(1, n_clients + 1)]
        self.projects = [{"id": 5000 + c["id"], "name": f"Build {c['id']}", "code": f"B{c['id']}", "is_billable": True,
                          "client": {"id": c["id"], "name": c["name"], "currency": c["currency"]}} for c in self.clients]
        h.upsert_many("clients", ACCOUNT, [dict(c) for c in self.clients])
        h.upsert_many("projects", ACCOUNT, [dict(p) for p in self.projects])
        self.next_id = 30000
        docs = []
        for c, p in zip(self.clients, self.projects, strict=True):
            for _ in range(rng.randint(1, 3)):
                docs.append(self.new_entry(c, p))
        h.upsert_many("time_entries", ACCOUNT, docs)

    def new_entry(self, c: dict, p: dict) -> dict:
        self.next_id += 1
        r = self.rng
        return entry_doc(self.next_id, c, p, r.randint(1, 3), r.randint(1, 3), f"2026-10-{r.randint(1, 28):02d}",
                         r.choice(["0.5", "1.0", "1.25", "2.0", "3.5", "0.33"]), r.choice(["95", "100", "120.50"]))

    def entries(self) -> list[dict]:
        return [d for d in self.sb.harvest.store.query("time_entries", ACCOUNT) if d["id"] >= 30000]

    def late_changes(self) -> list[str]:
        """Edited hours, a refund (hours made non-billable), a deleted entry, a late entry: the kinds of change that
        need credit notes and rebills."""
        h, r, done = self.sb.harvest, self.rng, []
        live = self.entries()
        for doc in r.sample(live, k=min(2, len(live))):
            doc["hours"] = max(Decimal("0.25"), doc["hours"] + r.choice([Decimal("-0.25"), Decimal("0.5")]))
            doc["rounded_hours"], doc["updated_at"] = doc["hours"], now_iso()
            h.store.put("time_entries", ACCOUNT, str(doc["id"]), doc)
            done.append(f"edit {doc['id']}")
        billable = [d for d in live if d.get("billable")]
        if len(billable) > 5:  # a refund: the client is not charged for these hours after all
            refunded = r.choice(billable)
            refunded["billable"], refunded["updated_at"] = False, now_iso()
            h.store.put("time_entries", ACCOUNT, str(refunded["id"]), refunded)
            done.append(f"refund {refunded['id']}")
            live = [d for d in live if d["id"] != refunded["id"]]
        if len(live) > 5:
            gone = r.choice(live)
            h.store.delete("time_entries", ACCOUNT, str(gone["id"]))
            h.store.kv_put(f"deleted:{ACCOUNT}", str(gone["id"]), {"id": gone["id"], "deleted_at": now_iso()})
            done.append(f"delete {gone['id']}")
        i = r.randrange(len(self.clients))
        h.upsert("time_entries", ACCOUNT, self.new_entry(self.clients[i], self.projects[i]))
        done.append(f"late entry {self.next_id}")
        return done


def posting_subprocess(sb, tmp_path: Path) -> subprocess.Popen:
    url = f"sqlite:///{tmp_path / 'operational.sqlite3'}"
    env = {**os.environ, **sb.env, "SYNC_PIPELINE_WAREHOUSE": str(tmp_path / "warehouse"),
           "SYNC_PIPELINE_STORE_URL": url,
           "SYNC_PIPELINE_TOKEN": token_for(url, "chaos-subprocess", "operator")}
    return subprocess.Popen([sys.executable, "-m", "sync_pipeline.cli", "posting", "run", "--entity", ENTITY,
                             "--period", PERIOD], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


# -- what the accounting system holds, read through AccountingTarget -----------------------------------
def live_docs(target: AccountingTarget, kind: str) -> list[Document]:
    """The period's documents of ``kind`` the target holds, neither voided nor deleted (duplicates included)."""
    listing = target.documents(kind, reference_prefix=ids.reference_prefix(ENTITY, PERIOD))
    assert not listing.rejected, listing.rejected
    return [d for d in listing.documents if d.status not in ("VOIDED", "DELETED")]


def assert_no_duplicates(target: AccountingTarget) -> None:
    invs, cns = live_docs(target, "invoice"), live_docs(target, "credit_note")
    refs = Counter(d.reference for d in invs) + Counter(d.reference for d in cns)
    assert [r for r, n in refs.items() if n > 1] == [], "a document is live twice"
    numbers = Counter(c.number for c in target.documents("contact").documents if c.number)
    assert [n for n, k in numbers.items() if k > 1] == [], "a contact exists twice"


def assert_converged(sb, target: AccountingTarget, wh, store) -> None:
    drafts = wh.read("invoice_drafts", ENTITY, PERIOD)
    groups = desired_groups(drafts)
    tracked = target.capabilities.line_tracking  # a target without tracking is compared without it (plan.py)
    held: dict[str, Counter] = {}
    per_ccy_target: Counter = Counter()
    for sign, kind in ((1, "invoice"), (-1, "credit_note")):
        for doc in live_docs(target, kind):
            p = ids.parse_reference(doc.reference)
            base = ids.invoice_reference(ENTITY, p["client_id"], PERIOD)
            fps = [fingerprint_of(target_line(li, doc.currency), tracked) for li in doc.lines]
            if sign > 0:
                held.setdefault(base, Counter()).update(fps)
            else:
                held.setdefault(base, Counter()).subtract(fps)
            per_ccy_target[doc.currency] += sign * to_minor(doc.subtotal, doc.currency)
    # zero lost lines, zero extra lines: per group, net lines are exactly the drafted lines
    for base in sorted(set(groups) | set(held)):
        want = Counter(fingerprint_of(li, tracked) for li in groups[base].lines) if base in groups else Counter()
        got = +held.get(base, Counter())
        assert got == want and not -held.get(base, Counter()), f"{base}: lines differ from the drafts"
    # conservation to the cent per currency: target = drafted, drafted = source value up to per-line rounding
    drafted = Counter()
    for r in drafts.itertuples():
        drafted[r.currency] += int(r.line_amount_minor)
    assert +per_ccy_target == +drafted
    value = "billed_value" if "billed_value" in drafts.columns else "source_value"  # after time rounding rules
    for ccy in drafted:
        dl = drafts[drafts["currency"] == ccy]
        exact = sum((Decimal(v) for v in dl[value]), Decimal(0))
        assert abs(exact - from_minor(drafted[ccy], ccy)) <= from_minor(1, ccy) / 2 * len(dl), (ccy, exact)
    # every billable entry billed exactly once, and told so in the project system
    links = entry_links_frame(store, ENTITY, PERIOD)
    wanted = {e for s in drafts["source_entry_ids"] for e in str(s).split(",") if e}
    net = billed_entries(links)
    assert {e for e, n in net.items() if n == 1} == wanted and all(n in (0, 1) for n in net.values())
    billed_on = current_documents(links)
    once_billed = set(links["entry_id"])
    for doc in sb.harvest.store.query("time_entries", ACCOUNT):
        eid = str(doc["id"])
        if eid in wanted:
            assert doc["is_billed"] is True and doc["external_reference"]["group_id"] == billed_on[eid], eid
        elif eid in once_billed:  # billed once, then refunded or no longer billable: credited, and unmarked
            assert doc["is_billed"] is False and doc["external_reference"] is None, eid


def fingerprint_of(line, tracked: bool) -> str:
    """A line's identity as the target can hold it."""
    return (line if tracked else replace(line, tracking=())).fingerprint


# -- the chaos ------------------------------------------------------------------------------------------
class Chaos:
    """One chaos run on one accounting system: the world, the faults, the killer, and what the system holds."""

    def __init__(self, system: ChaosSystem, resources, instance, tmp_path, *, n_clients: int, seed: int) -> None:
        self.system, self.sb, self.instance, self.tmp_path = system, system.sb, instance, tmp_path
        self.rng = random.Random(seed)
        self.t0 = time.perf_counter()
        self.refusals = Refusals(system)
        self.killer = Killer(system)
        self.world = World(self.sb, self.rng, n_clients)
        self.clash = next(c for c in self.world.clients if c["id"] == CLASH_CLIENT)
        mapping = chaos_mapping(self.world, tmp_path / "mapping.yaml")
        system.mapping(mapping)
        os.environ["SYNC_PIPELINE_MAPPING"] = str(mapping)  # the posting subprocess and the CLI read it (restored)
        self.resources = {**resources, "mapping": MappingResource(path=str(mapping)),
                          "xero": system.resource(resources)}
        system.make_clash(self.resources, self.clash)
        defs = build_defs(self.resources)
        self.graph = defs.resolve_asset_graph()
        self.job = defs.resolve_job_def("sync_job")
        # a full sync of the posting path: extract → billing → plan → post → lines → marks (reconciliation, which
        # has its own tests, is left out to keep the repetitions cheap)
        self.full = list(AssetSelection.groups("extract", "billing", "posting").resolve(self.graph))
        self.pk = partition_key(ENTITY, PERIOD)
        self.store, self.wh = self.resources["opstore"].get(), self.resources["warehouse"].get()
        standing_policy(self.store, ENTITY)  # each repetition's late changes are a new plan: auto-approved
        self.target = self.resources["xero"].target(self.resources["mapping"].load().entity(ENTITY))
        self.log: list[str] = []

    def note(self, text: str) -> None:
        self.log.append(f"{text} at {time.perf_counter() - self.t0:.0f} s")

    def sync(self, tag: str, assets: list | None = None):
        return self.job.execute_in_process(instance=self.instance, partition_key=self.pk, raise_on_error=False,
                                           asset_selection=assets or self.full, tags={"triggered_by": tag})

    def repetition(self, rep: int, *, kill: bool, probability: float, retry_after: int) -> None:
        if rep:
            self.log.append(f"rep {rep}: " + ", ".join(self.world.late_changes()))
        self.note(f"rep {rep}: faults {self.system.inject(self.rng, probability, retry_after)}")
        if kill:
            self.paused_sync(rep)
            self.killed_posting(rep)
        else:
            res = self.sync(f"chaos rep {rep}")
            failed = sorted({e.step_key for e in res.all_events if e.is_step_failure})
            self.note(f"rep {rep}: sync {'ok' if res.success else f'failed in {failed}'}")
        self.system.clear()
        assert_no_duplicates(self.target)

    def paused_sync(self, rep: int) -> None:
        """A full sync with the kill switch on: extraction, billing and the plan run, nothing is posted."""
        controls, wh = PostingControls(self.store), self.wh
        controls.pause(ENTITY, reason="chaos: the posting subprocess takes over", actor="chaos")
        for attempt in range(3):  # the faults may stop extraction or billing: then there is nothing new to post
            res = self.sync(f"chaos rep {rep} paused")
            held = wh.read("posted_invoices", ENTITY, PERIOD) if wh.exists("posted_invoices", ENTITY, PERIOD) else None
            assert held is None or not res.is_node_success("posted_invoices") or \
                set(held["outcome"]) <= {"held", "already_posted", "found_in_target"}, held
            if res.is_node_success("invoice_drafts"):
                break
            self.log.append(f"rep {rep}: paused sync {attempt + 1} stopped before invoice_drafts; again")
        controls.resume(ENTITY, actor="chaos")
        self.note(f"rep {rep}: paused sync done")

    def killed_posting(self, rep: int) -> None:
        """A posting process SIGKILLed in the middle of a batch write, then restarted."""
        killer, kills = self.killer, len(self.killer.fired)
        for _ in range(3):  # it may give up on the faults before its first batch write: start it again
            proc = posting_subprocess(self.sb, self.tmp_path)
            killer.arm(proc, after_commit=self.rng.random() < 0.5)
            out, _ = proc.communicate(timeout=180)
            killer.proc = None
            killed = len(killer.fired) > kills
            self.note(f"rep {rep}: {killer.fired[-1] if killed else 'not killed'} (exit {proc.returncode})"
                      + ("" if killed else f": {out.strip().splitlines()[-2:]}"))
            if killed:
                break
        proc = posting_subprocess(self.sb, self.tmp_path)  # the restart
        out, _ = proc.communicate(timeout=180)
        self.note(f"rep {rep}: restarted posting exit {proc.returncode}: {out.strip().splitlines()[-1:]}")

    def converge(self) -> dict:
        """The faults stop; one more sync converges everything except what needs a person; the person fixes the
        clash, the dead letters are replayed, and everything is asserted."""
        self.note("converging")
        store, system = self.store, self.system
        res = self.sync("chaos final")
        failed = [e.step_key for e in res.all_events if e.is_step_failure]
        assert not set(failed) & {"invoice_plan", "posted_invoices", "posted_lines", "source_entries_marked"}, \
            (failed, self.log)
        letters = DeadLetters(store).open_for(ENTITY)
        # every permanent failure the sandbox answered is in the dead-letter store
        assert self.refusals.items, ("the clash must have been refused", self.log, DeadLetters(store).list(entity=ENTITY))
        parked = {x["reference"] for x in DeadLetters(store).list(entity=ENTITY)}
        for ref, message in self.refusals.items:
            assert ref in parked or ref == system.clash_name(self.clash), (ref, message)
        assert {x["client_id"] for x in letters} == {str(CLASH_CLIENT)}
        assert {x["kind"] for x in letters} >= {"contact", "invoice"}
        # the fix (an accountant links the contact), then the replay posts every dead letter
        system.fix_clash(self.resources, self.clash, ids.contact_number(SOURCE_SYSTEM, str(CLASH_CLIENT)))
        assert cli_main(["dlq", "replay", "--entity", ENTITY]) == 0
        assert DeadLetters(store).open_for(ENTITY) == []
        assert {x["status"] for x in DeadLetters(store).list(entity=ENTITY)} <= {"replayed", "superseded"}
        # the project system learns about the replayed documents too
        self.sync("chaos marks", list(AssetSelection.assets("source_entries_marked").resolve(self.graph)))
        assert_no_duplicates(self.target)
        assert_converged(self.sb, self.target, self.wh, store)
        self.note(f"done; {self.refusals.replayed} writes answered again for their idempotency key")
        return {"log": self.log, "kills": self.killer.fired, "replayed_writes": self.refusals.replayed,
                "credit_notes": len(live_docs(self.target, "credit_note")),
                "invoices": len(live_docs(self.target, "invoice")), "seconds": time.perf_counter() - self.t0}


def run_chaos(system: ChaosSystem, resources, instance, tmp_path, *, reps: int, kill_reps: set[int], n_clients: int,
              seed: int, probability: float, retry_after: int = 1) -> dict:
    chaos = Chaos(system, resources, instance, tmp_path, n_clients=n_clients, seed=seed)
    try:
        for rep in range(reps):
            chaos.repetition(rep, kill=rep in kill_reps, probability=probability, retry_after=retry_after)
        return chaos.converge()
    finally:
        chaos.target.close()


def cli_env(monkeypatch, sb, tmp_path) -> None:
    """The CLI (dlq replay) works on this test's warehouse, store, mapping and sandboxes."""
    for k, v in {**sb.env, "SYNC_PIPELINE_WAREHOUSE": str(tmp_path / "warehouse"),
                 "SYNC_PIPELINE_STORE_URL": f"sqlite:///{tmp_path / 'operational.sqlite3'}",
                 "SYNC_PIPELINE_MAPPING": str(tmp_path / "mapping.yaml")}.items():
        monkeypatch.setenv(k, v)
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'operational.sqlite3'}", "olivia", "operator")


@pytest.fixture(params=TARGETS)
def system(request, sandboxes) -> ChaosSystem:
    """Each accounting system in turn, on its sandbox (``chaos_systems``)."""
    return SYSTEMS[request.param](sandboxes)


def test_chaos_short(system, resources, instance, tmp_path, monkeypatch):
    cli_env(monkeypatch, system.sb, tmp_path)
    out = run_chaos(system, resources, instance, tmp_path, reps=2, kill_reps={0}, n_clients=24, seed=7,
                    probability=0.08, retry_after=0)
    assert out["kills"] and out["invoices"] >= 24 and out["credit_notes"] >= 1, "\n".join(out["log"])
    print(f"chaos short on {system.name}: {out['seconds']:.0f} s; {out}")


@pytest.mark.full
@pytest.mark.parametrize("seed", [11, 23, 37])
def test_chaos_long(system, resources, instance, tmp_path, monkeypatch, seed):
    cli_env(monkeypatch, system.sb, tmp_path)
    out = run_chaos(system, resources, instance, tmp_path, reps=8, kill_reps={0, 2, 5}, n_clients=120, seed=seed,
                    probability=0.12)
    print(f"chaos long on {system.name}, seed {seed}: {out['seconds']:.0f} s, {out['invoices']} invoices, "
          f"{out['credit_notes']} credit notes; kills {out['kills']}")
    assert len(out["kills"]) == 3 and out["credit_notes"] >= 3, "\n".join(out["log"])
