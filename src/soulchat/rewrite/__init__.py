"""Rewrite single-turn counseling Q&A into multi-turn empathy dialogues with an LLM.

    from soulchat.rewrite import RewriteJob, RewriteSettings
    job = RewriteJob(["psyqa.jsonl"], "out", RewriteSettings(model="gpt-3.5-turbo=0.99,gpt-4=0.01"),
                     base_url="https://api.openai.com/v1", api_key=os.environ["OPENAI_API_KEY"])
    estimate = job.scan()            # validates, counts, estimates cost
    report = job.run(estimate)       # writes out/results.jsonl (resumable)
    job.write_summary(estimate, report)

`results.jsonl` is the contract with the parse/validate/clean step: one JSON object per request
(see `results.py`).
"""

from .costs import PriceTable
from .inputs import SingleTurn, read_single_turn, single_turn_text
from .job import Estimate, RewriteJob
from .plan import ModelMix, RewriteSettings, plan_request
from .results import RESULTS, ResultLog, is_finished, iter_results

__all__ = [
    "Estimate", "ModelMix", "PriceTable", "RESULTS", "ResultLog", "RewriteJob", "RewriteSettings",
    "SingleTurn", "is_finished", "iter_results", "plan_request", "read_single_turn", "single_turn_text",
]
