"""Cleaned entities: standardized names and merge proposals for duplicate clients or projects.

Names are standardized (case, punctuation, whitespace, legal-form suffixes such as Ltd/GmbH/Inc) and
compared with RapidFuzz's ``token_sort_ratio`` (word order does not matter) over every pair
(``process.cdist``, C++). A pair scoring at or above the threshold becomes a *proposal*, never a merge:
a person accepts it by adding the duplicate's source id to the survivor's ``aliases`` in the mapping
(``clients[].aliases``), after which the SQL models bill both ids as one canonical client. Pairs already
merged by an alias are not proposed again. The threshold is tunable per call (and per entity in the
asset's config); scores are 0-100.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process

LEGAL_FORMS = {
    "ltd", "limited", "plc", "llp", "llc", "inc", "incorporated", "corp", "corporation", "co", "company",
    "gmbh", "ag", "kg", "ug", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "aps", "kk",
    "pty", "pte", "the",
}
DEFAULT_THRESHOLD = 90.0


def standardize_name(name: str | None) -> str:
    """Comparable form of a name: accents folded, lower case, punctuation and legal forms removed."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", text)
    kept = [w for w in words if w not in LEGAL_FORMS]
    return " ".join(kept or words)


@dataclass(frozen=True)
class MergeProposal:
    keep_id: str
    keep_name: str
    duplicate_id: str
    duplicate_name: str
    score: float
    standardized: str

    @property
    def how_to_accept(self) -> str:
        return f"add '{self.duplicate_id}' to aliases of the client with source_id '{self.keep_id}' in the mapping"


def merge_proposals(records: Mapping[str, str], threshold: float = DEFAULT_THRESHOLD,
                    accepted: Iterable[tuple[str, str]] = ()) -> list[MergeProposal]:
    """Pairs of ids whose standardized names score ≥ ``threshold``; the lower id is proposed to survive.

    ``records`` maps source id → display name; ``accepted`` holds (canonical, alias) pairs already merged.
    """
    done = {frozenset(p) for p in accepted}
    ids = sorted(records, key=lambda i: (len(i), i))
    std = [standardize_name(records[i]) for i in ids]
    if len(ids) < 2:
        return []
    scores = process.cdist(std, std, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, workers=1)
    out: list[MergeProposal] = []
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            s = float(scores[a][b])
            if s >= threshold and std[a] and frozenset((ids[a], ids[b])) not in done:
                out.append(MergeProposal(ids[a], records[ids[a]], ids[b], records[ids[b]], round(s, 2), std[a]))
    return sorted(out, key=lambda p: (-p.score, p.keep_id, p.duplicate_id))
