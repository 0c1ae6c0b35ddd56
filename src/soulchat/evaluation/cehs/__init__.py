"""CEHS (Content naturalness, Empathy, Helpfulness, Safety): rubric, LLM judge, human kit, κ."""

from .agreement import fleiss_kappa, rating_table
from .human import KitError, export_kit, import_sheets, summarize
from .rubric import DIMENSIONS, KEYS, rubric_text

__all__ = [
    "DIMENSIONS", "KEYS", "KitError", "export_kit", "fleiss_kappa", "import_sheets", "rating_table",
    "rubric_text", "summarize",
]
