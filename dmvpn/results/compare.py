"""Two conformance runs side by side: which cases differ, and which regressed from A to B.

Pure functions on the runs' conformance frames (dmvpn.results.conformance); the report's matrix
and `dmvpn report compare` both read this, so they say the same thing.
"""

from __future__ import annotations

import pandas as pd

#: how bad a verdict is, for "B is worse than A"; verdicts without a rank are not about the DUT
RANK = {"conforms": 0, "known-deviation": 1, "deviates": 1, "crashes": 2}
NO_DUT_VERDICT = ("inconclusive", "error")


def behaviour(verdict: str, observed) -> tuple[str, str]:
    """What two runs must share for a case not to differ: the verdict and, for a deviation or a
    crash, its observed words."""
    words = observed if isinstance(observed, str) and verdict in RANK and verdict != "conforms" else ""
    # recorded or not is the profile's business, not the DUT's: the same deviation is the same behaviour
    return ("deviates" if verdict == "known-deviation" else str(verdict)), words


def compare_conformance(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per case in either run: verdicts, evidence, whether they differ, whether B regressed.

    B regressed on a case when its verdict is worse than A's (conforms -> a deviation, a deviation
    -> a crash), when A's deviation is observed differently in B, or when B could not test a case
    A gave a DUT verdict for."""
    left = a.set_index("case_id")[["verdict", "observed", "pcap"]].add_suffix("_a")
    right = b.set_index("case_id")[["verdict", "observed", "pcap"]].add_suffix("_b")
    table = left.join(right, how="outer").reset_index().sort_values("case_id")
    table[["verdict_a", "verdict_b"]] = table[["verdict_a", "verdict_b"]].fillna("absent")
    table[["observed_a", "observed_b"]] = table[["observed_a", "observed_b"]].fillna("").astype(str)

    def regressed(row) -> bool:
        va, vb = row.verdict_a, row.verdict_b
        if va in RANK and vb in NO_DUT_VERDICT + ("absent",):
            return True
        if va in RANK and vb in RANK:
            if RANK[vb] > RANK[va]:
                return True
            return RANK[va] > 0 and RANK[vb] > 0 and row.observed_a != row.observed_b
        return False

    table["differs"] = [behaviour(r.verdict_a, r.observed_a) != behaviour(r.verdict_b, r.observed_b) for r in table.itertuples()]
    table["regression"] = table.apply(regressed, axis=1) if len(table) else False
    return table


def format_conformance_comparison(table: pd.DataFrame, name_a: str, name_b: str) -> str:
    differing = table[table["differs"]]
    lines = [f"conformance: {len(differing)} of {len(table)} cases differ between {name_a} (A) and {name_b} (B); "
             f"{int(table['regression'].sum())} regressed"]
    for row in differing.itertuples(index=False):
        mark = "REGRESSION " if row.regression else ""
        lines.append(f"  {mark}{row.case_id}: {row.verdict_a} -> {row.verdict_b}"
                     + (f" ({row.observed_b})" if row.observed_b and row.verdict_b != "conforms" else ""))
    return "\n".join(lines)
