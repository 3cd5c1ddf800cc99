"""Names out of the warehouse: pseudonyms for people, notes under the person's own key."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_pipeline.services.pseudonymize import protect_frame, protect_parquet, protect_rows
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.protection import protector


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = OperationalStore(f"sqlite:///{tmp_path_factory.mktemp('pseudo') / 'op.sqlite3'}")
    yield s
    s.dispose()


def test_worker_and_approver_become_the_same_pseudonyms_and_notes_are_encrypted(store):
    p = protector(store)
    rows = [{"source": "harvest", "user_id": "1", "user_name": "Alice Archer", "approved_by": "Carol Chen (3)",
             "notes": "Checkout flow"},
            {"source": "harvest", "user_id": "3", "user_name": "Carol Chen", "approved_by": None, "notes": None}]
    protect_rows(p, rows, "raw_time_entries.notes")
    alice, carol = p.pseudonym_of("harvest", "1"), p.pseudonym_of("harvest", "3")
    assert [r["user_name"] for r in rows] == [alice, carol] and rows[0]["approved_by"] == carol
    assert rows[0]["notes"].startswith("enc1:" + alice) and rows[1]["notes"] is None
    assert p.decrypt_field(rows[0]["notes"], "raw_time_entries.notes") == "Checkout flow"
    assert p.identity(carol)["name"] == "Carol Chen" and p.identity(carol)["source_person_id"] == "3"


def test_an_erased_person_seen_again_keeps_the_pseudonym_and_loses_the_notes(store):
    p = protector(store)
    rows = [{"source": "harvest", "user_id": "9", "user_name": "Erin Erased", "notes": "one"}]
    protect_rows(p, rows, "raw_time_entries.notes")
    p.destroy_person_key(rows[0]["user_name"], actor="dpo")
    again = [{"source": "harvest", "user_id": "9", "user_name": "Erin Erased", "notes": "two"}]
    protect_rows(p, again, "raw_time_entries.notes")
    assert again[0]["user_name"] == rows[0]["user_name"] and again[0]["notes"] is None
    assert p.identity(rows[0]["user_name"]) is None


@given(name=st.text(min_size=3).filter(lambda s: s.strip() == s and "(" not in s), uid=st.integers(0, 10**6),
       approver=st.text(min_size=3).filter(lambda s: s.strip() == s), notes=st.none() | st.text(min_size=3))
def test_no_name_or_note_from_the_source_survives(store, name, uid, approver, notes):
    p = protector(store)
    row = {"source": "harvest", "user_id": str(uid), "user_name": name, "approved_by": approver, "notes": notes}
    protect_rows(p, [row], "raw_time_entries.notes")
    assert row["user_name"].startswith("P-") and row["approved_by"].startswith("P-")
    assert name not in row["user_name"] + row["approved_by"] and approver not in row["approved_by"]
    if notes is not None:
        assert p.decrypt_field(row["notes"], "raw_time_entries.notes") == notes


def test_a_frame_keeps_its_other_columns(store):
    df = pd.DataFrame({"source": ["harvest"], "expense_id": ["e1"], "user_id": ["2"], "user_name": ["Bob Baker"],
                       "approved_by": [None], "notes": [float("nan")]})
    out = protect_frame(store, df, "raw_expenses.notes")
    assert out["expense_id"].tolist() == ["e1"] and out["user_name"][0] == protector(store).pseudonym_of("harvest", "2")
    assert out["notes"][0] is None and df["user_name"][0] == "Bob Baker"


def test_a_whole_file_is_protected_like_its_rows(store, tmp_path):
    rows = [{"source": "harvest", "entry_id": str(i), "user_id": str(i % 3), "user_name": f"Person {i % 3}",
             "approved_by": "Carol Chen (3)" if i % 2 else None, "notes": "n" if i == 4 else None} for i in range(6)]
    src, dest = tmp_path / "raw.parquet", tmp_path / "protected.parquet"
    pd.DataFrame(rows).to_parquet(src)
    assert protect_parquet(store, src, dest) == {"people": 3, "approvers": 1, "notes": 1}
    out = pd.read_parquet(dest)
    expected = [dict(r) for r in rows]
    protect_rows(protector(store), expected, "raw_time_entries.notes")
    assert list(out.columns) == list(pd.DataFrame(rows).columns)
    got = out.sort_values("entry_id").astype(object).where(out.notna(), None).to_dict("records")
    assert [(g["user_name"], g["approved_by"]) for g in got] == [(e["user_name"], e["approved_by"]) for e in expected]
    assert protector(store).decrypt_field(got[4]["notes"], "raw_time_entries.notes") == "n"


_people = st.sampled_from([("1", "Alice Archer"), ("2", "Bob Baker"), ("3", "Carol Chen"), (None, "Dan Nobody"),
                           (None, None)])
_approvers = st.sampled_from([None, "Carol Chen (3)", "Manager 7", "Erin (x)"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_people, _approvers, st.none() | st.text(min_size=1, max_size=8)),
                     min_size=1, max_size=12))
def test_a_file_is_protected_exactly_like_its_rows_one_by_one(store, tmp_path_factory, rows):
    """The file path (one scan, one join, keys made beside the rewrite) agrees with the row path, the reference."""
    src = tmp_path_factory.mktemp("f") / "raw.parquet"
    dest = src.with_name("protected.parquet")
    table = [{"source": "harvest", "entry_id": str(i), "user_id": uid, "user_name": name, "approved_by": approver,
              "notes": notes} for i, ((uid, name), approver, notes) in enumerate(rows)]
    pd.DataFrame(table, dtype=object).to_parquet(src)
    protect_parquet(store, src, dest)
    expected = [dict(r) for r in table]
    p = protector(store)
    protect_rows(p, expected, "raw_time_entries.notes")
    got = pd.read_parquet(dest).astype(object)
    got = got.where(got.notna(), None).to_dict("records")
    assert [g["entry_id"] for g in got] == [r["entry_id"] for r in table]  # rows stay in the file's order
    assert [(g["user_name"], g["approved_by"]) for g in got] == [(e["user_name"], e["approved_by"]) for e in expected]
    for g, r in zip(got, table, strict=True):  # notes: sealed under the worker's key (fresh nonces: compare opened)
        assert (g["notes"] is None) == (r["notes"] is None or (r["user_id"] is None and r["user_name"] is None))
        if g["notes"] is not None:
            assert g["notes"] != r["notes"] and p.decrypt_field(g["notes"], "raw_time_entries.notes") == r["notes"]
    for uid in {r["user_id"] for r in table if r["user_id"] is not None}:
        assert p.identity(p.pseudonym_of("harvest", uid))["source_person_id"] == uid  # keys stored with the file
    assert not list(dest.parent.glob("*.protecting"))


def test_a_file_without_notes_keeps_its_notes_column_empty(store, tmp_path):
    src, dest = tmp_path / "raw.parquet", tmp_path / "protected.parquet"
    pd.DataFrame({"source": ["harvest"] * 3, "user_id": ["1", "2", "1"], "user_name": ["A", "B", "A"],
                  "approved_by": [None, "A (1)", None], "notes": pd.Series([None] * 3, dtype=object)}).to_parquet(src)
    assert protect_parquet(store, src, dest) == {"people": 2, "approvers": 1, "notes": 0}
    out = pd.read_parquet(dest)
    assert out["notes"].isna().all() and out["approved_by"][1] == out["user_name"][0] == out["user_name"][2]
