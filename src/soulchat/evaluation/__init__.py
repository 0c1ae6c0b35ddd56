"""Evaluation: paper-compatible BLEU/ROUGE, the generation harness, CEHS (LLM judge and human kit),
and Table-1-style reports."""

from pathlib import Path

from .metrics import METRICS, compute_metrics

# Folder that `evaluate.load(str(METRIC_MODULE))` reads offline.
METRIC_MODULE = Path(__file__).parent / "soulchat_metrics"

__all__ = ["METRICS", "METRIC_MODULE", "compute_metrics"]
