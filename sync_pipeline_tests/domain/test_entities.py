"""Entity names: standardized for comparison; similar names become scored merge proposals, never merges."""

from sync_pipeline.domain.entities import DEFAULT_THRESHOLD, MergeProposal, merge_proposals, standardize_name


def test_names_are_standardized_before_matching():
    assert standardize_name("Acme Corp.") == "acme"
    assert standardize_name("ACME  Corporation Ltd") == "acme"
    assert standardize_name("Müller & Söhne GmbH") == "muller and sohne"
    assert standardize_name("The Company") == "the company"  # nothing but legal words: keep them
    assert standardize_name("Ōtsuka KK") == "otsuka"
    assert standardize_name("R&D-Labs, Inc.") == "r and d labs"
    assert standardize_name("ｆｕｌｌｗｉｄｔｈ") == "fullwidth"  # compatibility forms fold too (NFKD)
    assert standardize_name("") == "" and standardize_name(None) == ""
    assert standardize_name("日本") == ""


def test_similar_names_are_proposed_with_the_lower_id_kept():
    records = {"10": "Acme Corp", "9": "ACME Corporation Ltd", "2": "Globex GmbH", "11": "Globex Data"}
    props = merge_proposals(records, threshold=90)
    assert props == [MergeProposal("9", "ACME Corporation Ltd", "10", "Acme Corp", 100.0, "acme")]
    assert props[0].how_to_accept == "add '10' to aliases of the client with source_id '9' in the mapping"
    # "globex" vs "globex data": 2 x 6 / (6 + 11) = 70.59
    low = merge_proposals(records, threshold=70.58)
    assert [(p.keep_id, p.duplicate_id, p.score, p.standardized) for p in low] == [
        ("9", "10", 100.0, "acme"), ("2", "11", 70.59, "globex")]
    assert [p.keep_id for p in merge_proposals(records, threshold=70.6)] == ["9"]


def test_proposals_are_sorted_by_score_then_ids_and_skip_accepted_pairs():
    records = {"1": "Acme", "2": "Acme Ltd", "3": "Acme Inc", "4": "Acmee"}
    got = [(p.keep_id, p.duplicate_id, p.score) for p in merge_proposals(records, threshold=80)]
    assert got == [("1", "2", 100.0), ("1", "3", 100.0), ("2", "3", 100.0), ("1", "4", 88.89), ("2", "4", 88.89),
                   ("3", "4", 88.89)]
    accepted = merge_proposals(records, threshold=80, accepted=[("2", "1"), ("3", "4")])
    assert [(p.keep_id, p.duplicate_id) for p in accepted] == [("1", "3"), ("2", "3"), ("1", "4"), ("2", "4")]


def test_nothing_to_compare_and_empty_names_are_never_proposed():
    assert merge_proposals({}) == [] and merge_proposals({"1": "Acme"}) == []
    assert merge_proposals({"1": "", "2": None, "3": "日本"}, threshold=0) == []  # no comparable name
    assert merge_proposals({"1": "", "2": ""}, threshold=0) == []
    assert DEFAULT_THRESHOLD == 90.0
    assert len(merge_proposals({"1": "Acme", "2": "Acme Ltd"}, threshold=100)) == 1  # a score at the threshold
    assert [(p.keep_id, p.duplicate_id) for p in merge_proposals({"1": "Acme", "2": "Acme Ltd"})] == [("1", "2")]
    assert merge_proposals({"1": "Acme", "2": "Acmx Lab"}) == []  # under the default threshold


def test_word_order_does_not_matter():
    [p] = merge_proposals({"1": "Globex Data Ltd", "2": "Data Globex"}, threshold=100)
    assert (p.keep_id, p.duplicate_id, p.score) == ("1", "2", 100.0)
