"""Clean rewritten dialogues: parse, validate, filter with per-rule counts, keep the rejects.

`Cleaner(config, work_dir=...)` takes `Candidate`s from `iter_candidates(paths)` (a rewrite folder's
result log or multi-turn files) and returns an `Outcome` for each, rejected ones with the `code` of
their first `Dialogue.problems()` (or the filter's own reason); `soulchat.corpus.build_corpus` runs
the whole step and writes kept dialogues, rejects with reasons, and a report.
"""

from .dedup import MinHasher, NearDuplicateIndex, normalize
from .pipeline import CRISIS_POLICIES, DEDUP_MODES, CleanConfig, Cleaner, CleanReport, Outcome
from .rules import AI_SELF_REFERENCE, PERSONA_CLAIM, PRIVACY_RULES, scrub_privacy, self_reference
from .sources import Candidate, iter_candidates, iter_dialogue_file, iter_rewrite_log, resolve_inputs

__all__ = [
    "AI_SELF_REFERENCE",
    "CRISIS_POLICIES",
    "DEDUP_MODES",
    "PERSONA_CLAIM",
    "PRIVACY_RULES",
    "Candidate",
    "CleanConfig",
    "CleanReport",
    "Cleaner",
    "MinHasher",
    "NearDuplicateIndex",
    "Outcome",
    "iter_candidates",
    "iter_dialogue_file",
    "iter_rewrite_log",
    "normalize",
    "resolve_inputs",
    "scrub_privacy",
    "self_reference",
]
