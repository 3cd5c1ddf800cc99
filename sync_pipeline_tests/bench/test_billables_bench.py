"""``sync-pipeline bench billables`` end to end at small scale (the 5M run is recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse

from sync_pipeline.bench import billables


def test_bench_billables_runs_the_assets_functions_and_conservation_holds(tmp_path):
    p = argparse.ArgumentParser()
    billables.add_arguments(p)
    figures = billables.run(p.parse_args(["--entries", "20000", "--workdir", str(tmp_path / "w")]))
    assert figures["conservation"] == "holds", figures["conservation_problems"]
    assert sum(figures["dispositions"].values()) == 20000
    assert figures["billable_rows"] == figures["dispositions"]["billable"] > 15000
    assert {"held", "non_billable", "quarantined"} <= set(figures["dispositions"])
    assert figures["invoices"] == 200 and figures["draft_lines"] > 200
    assert set(figures["required_work_alone"]) == {"local_date_across_dst", "person_day_totals_for_24h_rule",
                                                   "rewrite_raw_once_as_parquet"}
    assert figures["entries_per_second"] > 0 and figures["ratio_to_floor"] > 1
    assert not (tmp_path / "w").exists()  # the work directory is removed unless --keep


def test_bench_billables_encrypt_alternates_plain_and_protected_runs_and_prints_the_ratio(tmp_path):
    p = argparse.ArgumentParser()
    billables.add_arguments(p)
    figures = billables.run(p.parse_args(["--entries", "20000", "--workdir", str(tmp_path / "w"), "--encrypt",
                                          "--pairs", "2"]))
    # with people protected (pseudonyms, person keys) the same invoices come out and conservation holds
    assert figures["encrypted_same_invoices_and_conservation"] is True
    assert figures["encrypted_people"] > 10000 and figures["encrypted_approvers"] == 20
    # pair 1 runs plain first, pair 2 protected first; each run is its own process with its own figures
    assert [k for k in figures if k.startswith("pair_")] == ["pair_1_plain_first", "pair_2_protected_first"]
    assert all("ratio" in figures[k] and "load" in figures[k] for k in ("pair_1_plain_first", "pair_2_protected_first"))
    assert figures["protected_seconds_median"] > figures["protection_pass_seconds_median"] > 0
    assert figures["ratio_wall_median"] > 0 and figures["ratio_cpu_median"] > figures["ratio_cpu_median_pipeline_alone"] > 0
    assert 0 < figures["peak_rss_mb_plain"] and 0 < figures["peak_rss_mb_protected"]
    assert set(figures["target_met"]) == {"time_wall", "time_cpu", "peak_rss"}
    assert figures["extract_row_protection_us_per_row_with_notes"] > 0
    assert not (tmp_path / "w").exists()


def test_bench_billables_through_dagster_runs_the_assets_and_their_blocking_checks(tmp_path):
    p = argparse.ArgumentParser()
    billables.add_arguments(p)
    figures = billables.run(p.parse_args(["--entries", "20000", "--dagster", "--workdir", str(tmp_path / "w")]))
    assert figures["run_succeeded"]
    assert figures["checks_passed"] == {"clean_time_entries_contract": True, "billables_contract": True,
                                        "invoice_drafts_contract": True, "conservation": True}
    assert figures["rows"]["clean_time_entries"] == 20000
    assert 15000 < figures["rows"]["billables"] < 20000 and figures["rows"]["invoice_drafts"] > 200
