"""Fleiss' kappa (Fleiss, 1971): agreement of a fixed number of raters over categorical scores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float:
    """κ from a subjects × categories table of counts (each row sums to the number of raters).

    When every rating falls in one category, chance agreement is 1 and κ is undefined; we return
    1.0 there, as the paper does for Safety (all annotators agreed on every item).
    """
    if not table:
        raise ValueError("no subjects")
    raters = sum(table[0])
    if raters < 2:
        raise ValueError("Fleiss' kappa needs at least 2 ratings per subject")
    for i, row in enumerate(table):
        if sum(row) != raters:
            raise ValueError(f"subject {i} has {sum(row)} ratings, the first has {raters}")
    subjects = len(table)
    total = subjects * raters
    categories = len(table[0])
    p_category = [sum(row[j] for row in table) / total for j in range(categories)]
    p_subject = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in table]
    p_bar = sum(p_subject) / subjects
    p_expected = sum(p * p for p in p_category)
    if p_expected == 1:
        return 1.0
    return (p_bar - p_expected) / (1 - p_expected)


def rating_table(ratings: Sequence[Sequence[int]], categories: Sequence[int]) -> list[list[int]]:
    """Counts per category for each subject, from each subject's list of ratings."""
    table = []
    for scores in ratings:
        counts = Counter(scores)
        unknown = set(counts) - set(categories)
        if unknown:
            raise ValueError(f"ratings {sorted(unknown)} are not among categories {list(categories)}")
        table.append([counts.get(c, 0) for c in categories])
    return table
