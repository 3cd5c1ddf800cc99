"""Golden: why the billables bench shows a yen rounding remainder of about -265 while GBP/EUR/USD stay under 1.

The bench's hours are multiples of 0.05 h and its rates multiples of 5, so a line's exact value is a multiple of
0.25 (of the currency's major unit). In a 2-dp currency that is always whole pennies: nothing is rounded. The yen
has no minor unit, so every line whose value ends in ¥0.50 is a tie, and half-up (what the accounting system does)
takes it up by ¥0.50 every time; ¥0.25 / ¥0.75 endings round both ways and cancel. The remainder (billed value -
drafted amount, in major units) is therefore -0.5 x the number of tie lines, not a truncation or a 4-dp error.
"""

from decimal import Decimal as D

from sync_pipeline_tests.billing.helpers import bill, ecb, entity, entry

# (task, hours, rate): 0.05 x 90 = 4.5, 0.15 x 90 = 13.5, 0.25 x 90 = 22.5 (ties); 0.05 x 95 = 4.75, 0.35 x 95 = 33.25
LINES = [("1", "0.05", "90"), ("2", "0.15", "90"), ("3", "0.25", "90"), ("4", "0.05", "95"), ("5", "0.35", "95")]


def _rows(client: str, currency: str, project: str, first_id: int) -> list[dict]:
    return [entry(first_id + i, client=client, currency=currency, project=project, task=t, hours=h, rate=r)
            for i, (t, h, r) in enumerate(LINES)]


def test_yen_ties_at_half_a_yen_round_up_and_make_the_remainder_negative_while_pennies_stay_exact():
    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp"}, {"source_id": "8", "name": "Nippon KK"}],
                 projects=[{"source_id": "11", "client": "1"}, {"source_id": "81", "client": "8"}])
    rates = ecb([("GBP", "2026-10-30", "0.8338"), ("JPY", "2026-10-30", "175.68")])  # only for the base amounts
    b = bill(_rows("1", "GBP", "11", 100) + _rows("8", "JPY", "81", 200), ent, rates=rates)

    # GBP: every value is whole pennies, nothing to round
    assert b.lines("1") == [(D("0.0500"), D("90.0000"), D("4.50")), (D("0.1500"), D("90.0000"), D("13.50")),
                            (D("0.2500"), D("90.0000"), D("22.50")), (D("0.0500"), D("95.0000"), D("4.75")),
                            (D("0.3500"), D("95.0000"), D("33.25"))]
    assert D(b.conservation.per_currency["GBP"]["rounding_remainder"]) == 0
    # JPY: ¥4.5 → 5, ¥13.5 → 14, ¥22.5 → 23 (ties, half up: -0.5 each); ¥4.75 → 5 (-0.25); ¥33.25 → 33 (+0.25)
    # (truncation would give 4, 13, 22, 4, 33 and a remainder of +3.0)
    assert b.lines("8") == [(D("0.0500"), D("90.0000"), D("5")), (D("0.1500"), D("90.0000"), D("14")),
                            (D("0.2500"), D("90.0000"), D("23")), (D("0.0500"), D("95.0000"), D("5")),
                            (D("0.3500"), D("95.0000"), D("33"))]
    jpy = b.conservation.per_currency["JPY"]
    # billed 4.5 + 13.5 + 22.5 + 4.75 + 33.25 = 78.5; drafted 5 + 14 + 23 + 5 + 33 = 80; remainder -1.5 = 3 ties x -0.5
    assert (D(jpy["billed_value"]), D(jpy["drafted_time"]), D(jpy["rounding_remainder"])) == (D("78.5"), D(80),
                                                                                              D("-1.5"))
    t = b.drafts[(b.drafts["currency"] == "JPY") & (b.drafts["kind"] == "time")]
    assert sorted(D(r) for r in t["rounding_remainder"]) == [D("-0.5")] * 3 + [D("-0.25"), D("0.25")]
