"""The mutation score of each domain module, from mutmut's results, after the listed equivalent mutants.

``make mutation`` runs this after ``mutmut run``: one row per module of ``sync_pipeline/domain/`` with mutmut's
verdicts, the mutants listed in ``equivalent_mutants.txt`` (same behaviour as the original: no test can kill
them) set apart, and ``killed / (all - equivalent)``. Exit status 1 when a module is under the bar or has
mutants not yet checked.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

BAR = 0.90
HERE = Path(__file__).parent
EQUIVALENTS = HERE / "equivalent_mutants.txt"
# mutmut 3's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code)
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``mutant name  # reason`` per line; blank lines and lines starting with # are skipped."""
    out: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition("#")
        if not reason.strip():
            raise SystemExit(f"{path}: {name.strip()} has no reason; write '<mutant>  # why it is equivalent'")
        out[name.strip()] = reason.strip()
    return out


def module_rows(mutants_dir: Path, equivalent: dict[str, str]) -> list[dict[str, object]]:
    rows = []
    for meta in sorted((mutants_dir / "sync_pipeline" / "domain").glob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        status: Counter[str] = Counter()
        for name, code in codes.items():
            status["equivalent" if name in equivalent else "killed" if code in KILLED else "timeout"
                   if code in TIMEOUT else "survived" if code in SURVIVED else "no tests" if code in NO_TESTS
                   else "not checked" if code is None else "other"] += 1
        judged = len(codes) - status["equivalent"]
        caught = status["killed"] + status["timeout"]
        rows.append({"module": f"domain/{meta.name.removesuffix('.meta')}", "mutants": len(codes), **status,
                     "score": caught / judged if judged else 1.0})
    return rows


def main(argv: list[str]) -> int:
    mutants_dir = Path(argv[1]) if len(argv) > 1 else Path("mutants")
    if not mutants_dir.is_dir():
        print("no mutants/ folder: run `make mutation` (mutmut run) first", file=sys.stderr)
        return 2
    eq = equivalents()
    rows = module_rows(mutants_dir, eq)
    cols = ["mutants", "killed", "timeout", "survived", "no tests", "equivalent", "not checked"]
    print("| module | " + " | ".join(cols) + " | killed / (all - equivalent) |")
    print("|---|" + "---|" * (len(cols) + 1))
    bad = []
    for r in rows:
        print(f"| {r['module']} | " + " | ".join(f"{r.get(c, 0):,}" for c in cols) + f" | {r['score']:.1%} |")
        if r["score"] < BAR or r.get("not checked", 0):
            bad.append(str(r["module"]))
    if bad:
        print(f"under {BAR:.0%} or not fully checked: {', '.join(bad)} (mutmut results; mutmut show <name>)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
