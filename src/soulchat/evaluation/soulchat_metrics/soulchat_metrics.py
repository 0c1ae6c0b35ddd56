"""`evaluate` module wrapping `soulchat.evaluation.metrics.compute_metrics` (loads offline).

    import evaluate
    from soulchat.evaluation import METRIC_MODULE
    metric = evaluate.load(str(METRIC_MODULE))
    metric.compute(predictions=["我能理解你。"], references=["我理解你的感受。"])
"""

import datasets
import evaluate

from soulchat.evaluation.metrics import compute_metrics

_DESCRIPTION = (
    "BLEU-1..4 (nltk sentence_bleu, method3 smoothing, characters by default) and ROUGE-1/2/L "
    "(rouge_chinese on jieba words), F x 100 averaged over pairs: the SoulChat / ChatGLM-6B toolchain."
)
_KWARGS = """
Args:
    predictions: list of generated replies (str).
    references: list of reference replies (str).
    bleu_tokens: "char" (default) or "word" (jieba words).
    num_proc: processes for large sets.
Returns:
    dict with bleu-1, bleu-2, bleu-3, bleu-4, rouge-1, rouge-2, rouge-l and count.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class SoulchatMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, bleu_tokens="char", num_proc=None):
        return compute_metrics(predictions, references, bleu_tokens=bleu_tokens, num_proc=num_proc)
