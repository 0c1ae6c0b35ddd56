"""BLEU-1..4 and ROUGE-1/2/L with the exact semantics of the SoulChat authors' toolchain, fast.

The reference is ChatGLM-6B's p-tuning evaluation loop, which the SoulChat README points to:

* BLEU: ``nltk.translate.bleu_score.sentence_bleu([list(reference)], list(prediction),
  smoothing_function=SmoothingFunction().method3)`` — on *characters*; BLEU-n uses uniform
  cumulative weights ``(1/n,) * n``. ``bleu_tokens="word"`` switches to jieba words (EmoLLM's choice).
* ROUGE: ``rouge_chinese.Rouge().get_scores(" ".join(jieba.cut(prediction)),
  " ".join(jieba.cut(reference)))`` — F-measure of ROUGE-1, ROUGE-2 (distinct n-grams, the library's
  ``exclusive=True``) and ROUGE-L (LCS over all words of all sentences).

Every score is ``F × 100`` (BLEU × 100) averaged over pairs. A pair whose prediction or reference is
empty or whitespace-only scores 0 on every metric (rouge_chinese raises there; nltk returns 0).

Why it is fast yet equal to the libraries to the last bit: each text is segmented once (jieba's own
segmenter, per punctuation-delimited block, memoised because dialogue replies repeat clauses), each
word is mapped to one private code point so that word n-grams are substrings, n-gram counting runs
in C (``collections.Counter`` / ``set`` over slices), the LCS runs in rapidfuzz, and large sets are
split over processes. The floating-point expressions are the libraries' own, in the same order.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence

METRICS = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l")
_PARALLEL_THRESHOLD = 2000  # below this, forking costs more than it saves


# --------------------------------------------------------------------------- segmentation
@functools.lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.lru_cache(maxsize=200_000)
def _cut_block(block: str) -> tuple[str, ...]:
    # A block that matches jieba's han pattern whole is segmented exactly as inside a longer text:
    # jieba.cut splits on that pattern first and handles each block independently.
    return tuple(_jieba().lcut(block))


def jieba_words(text: str) -> list[str]:
    """``list(jieba.cut(text))`` (accurate mode, HMM on), with per-block memoisation."""
    jieba = _jieba()
    re_han, re_skip = jieba.re_han_default, jieba.re_skip_default
    words: list[str] = []
    for block in re_han.split(text):
        if not block:
            continue
        if re_han.match(block):
            words.extend(_cut_block(block))
        else:
            for piece in re_skip.split(block):
                if re_skip.match(piece):
                    words.append(piece)
                else:
                    words.extend(piece)
    return words


# rouge_chinese.Rouge.cut_sent, compiled once.
_SENTENCE_ENDS = (
    (re.compile("([。！？\\?])([^”’])"), r"\1\n\2"),
    (re.compile("(\\.{6})([^”’])"), r"\1\n\2"),
    (re.compile("(\\…{2})([^”’])"), r"\1\n\2"),
    (re.compile("([。！？\\?][”’])([^，。！？\\?])"), r"\1\n\2"),
)


def rouge_words(words: Sequence[str]) -> list[str]:
    """The word list rouge_chinese scores for ``" ".join(words)``: sentences cut, whitespace
    collapsed, then split on single spaces (a whitespace-only sentence leaves one "" word)."""
    text = " ".join(words)
    for pattern, replacement in _SENTENCE_ENDS:
        text = pattern.sub(replacement, text)
    flat: list[str] = []
    for sentence in text.rstrip().split("\n"):
        if sentence:
            flat.extend(" ".join(sentence.split()).split(" "))
    return flat


class _Codebook:
    """Maps each distinct word to one code point so that word sequences become strings."""

    _FIRST = 0x10000  # beyond the BMP; lone code points are fine inside Python strings

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def make_room(self) -> None:
        # Called between pairs only, so both sides of a pair always share one mapping.
        if len(self.codes) > 800_000:
            self.codes.clear()

    def encode(self, words: Iterable[str]) -> str:
        codes = self.codes
        out = []
        for word in words:
            code = codes.get(word)
            if code is None:
                code = codes[word] = chr(self._FIRST + len(codes))
            out.append(code)
        return "".join(out)


# --------------------------------------------------------------------------------- scores
def _bleu(hypothesis: str, reference: str, orders: int = 4) -> list[float]:
    """nltk sentence_bleu with method3 smoothing, one reference, weights (1/n,)*n for n=1..orders.

    ``hypothesis``/``reference`` are strings whose characters are the tokens."""
    hyp_len, ref_len = len(hypothesis), len(reference)
    numerators, denominators = [], []
    for n in range(1, orders + 1):
        if hyp_len >= n:
            counts = Counter(hypothesis) if n == 1 else Counter(
                [hypothesis[i : i + n] for i in range(hyp_len - n + 1)]
            )
        else:
            counts = Counter()
        if counts and ref_len >= n:
            ref_counts = Counter(reference) if n == 1 else Counter(
                [reference[i : i + n] for i in range(ref_len - n + 1)]
            )
            clipped = sum(min(c, ref_counts[g]) for g, c in counts.items() if g in ref_counts)
        else:
            clipped = 0
        numerators.append(clipped)
        denominators.append(max(1, hyp_len - n + 1) if hyp_len >= n else 1)
    if numerators[0] == 0:
        return [0.0] * orders
    # brevity penalty (nltk.brevity_penalty with the closest reference = the only one)
    if hyp_len > ref_len:
        penalty = 1
    elif hyp_len == 0:
        penalty = 0
    else:
        penalty = math.exp(1 - ref_len / hyp_len)
    # method3: the k-th zero precision becomes 1 / (2**k * denominator)
    precisions: list[float] = []
    k = 1
    for numerator, denominator in zip(numerators, denominators):
        if numerator == 0:
            precisions.append(1 / (2**k * denominator))
            k += 1
        else:
            precisions.append(numerator / denominator)
    logs = [math.log(p) for p in precisions]
    scores = []
    for n in range(1, orders + 1):
        weight = 1 / n
        scores.append(penalty * math.exp(math.fsum(weight * logs[i] for i in range(n))))
    return scores


def _f_measure(overlap: int, hyp_count: int, ref_count: int) -> float:
    # rouge_chinese's f_r_p_rouge_n / rouge_l_summary_level expression, edge cases included.
    precision = 0.0 if hyp_count == 0 else overlap / hyp_count
    recall = 0.0 if ref_count == 0 else overlap / ref_count
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def _distinct_ngrams(text: str, n: int) -> set[str]:
    return set(text) if n == 1 else {text[i : i + n] for i in range(len(text) - n + 1)}


def _rouge(hypothesis: str, reference: str) -> list[float]:
    from rapidfuzz.distance import LCSseq

    scores = []
    for n in (1, 2):
        hyp, ref = _distinct_ngrams(hypothesis, n), _distinct_ngrams(reference, n)
        scores.append(_f_measure(len(hyp & ref), len(hyp), len(ref)))
    lcs = LCSseq.similarity(reference, hypothesis)
    scores.append(_f_measure(lcs, len(hypothesis), len(reference)))
    return scores


def score_pairs(
    predictions: Sequence[str], references: Sequence[str], bleu_tokens: str = "char"
) -> list[list[float]]:
    """Per-pair ``[bleu-1..4, rouge-1, rouge-2, rouge-l]`` as fractions (not ×100), one process."""
    codebook = _Codebook()
    rows = []
    for prediction, reference in zip(predictions, references):
        if not prediction.strip() or not reference.strip():
            rows.append([0.0] * len(METRICS))
            continue
        codebook.make_room()
        hyp_words, ref_words = jieba_words(prediction), jieba_words(reference)
        if bleu_tokens == "char":
            bleu = _bleu(prediction, reference)
        else:
            bleu = _bleu(codebook.encode(hyp_words), codebook.encode(ref_words))
        rouge = _rouge(codebook.encode(rouge_words(hyp_words)), codebook.encode(rouge_words(ref_words)))
        rows.append(bleu + rouge)
    return rows


def _score_chunk(args) -> list[list[float]]:
    return score_pairs(*args)


def _fork_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))


def compute_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    bleu_tokens: str = "char",
    num_proc: int | None = None,
    per_pair_decimals: int | None = None,
    return_pairs: bool = False,
) -> dict:
    """BLEU-1..4 and ROUGE-1/2/L (×100, averaged over pairs) plus ``count``.

    * ``bleu_tokens``: ``"char"`` (ChatGLM-6B's script, the default) or ``"word"`` (jieba words).
      Scores move roughly 2× between the two; always say which one a table uses.
    * ``num_proc``: processes for large sets (default: all cores from 2,000 pairs up).
    * ``per_pair_decimals``: round each pair's ×100 score before averaging, as ChatGLM's script
      does with 4; ``None`` (default) keeps full precision.
    * ``return_pairs``: also return ``pairs``: per-pair rows in METRICS order (×100).
    """
    if bleu_tokens not in ("char", "word"):
        raise ValueError(f"bleu_tokens must be 'char' or 'word', not {bleu_tokens!r}")
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    for name, texts in (("prediction", predictions), ("reference", references)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{name} {i} is {type(text).__name__}, not str")
    _jieba()  # load the dictionary before forking so that workers share it
    count = len(predictions)
    workers = num_proc if num_proc is not None else (os.cpu_count() or 1)
    if workers > 1 and (count >= _PARALLEL_THRESHOLD or num_proc is not None) and count > 1:
        size = -(-count // (workers * 4))
        chunks = [
            (predictions[i : i + size], references[i : i + size], bleu_tokens) for i in range(0, count, size)
        ]
        with _fork_pool(workers) as pool:
            rows = [row for chunk in pool.map(_score_chunk, chunks) for row in chunk]
    else:
        rows = score_pairs(predictions, references, bleu_tokens)
    rows = [[value * 100 for value in row] for row in rows]
    if per_pair_decimals is not None:
        rows = [[round(value, per_pair_decimals) for value in row] for row in rows]
    result: dict = {
        name: (math.fsum(row[i] for row in rows) / count if count else 0.0) for i, name in enumerate(METRICS)
    }
    result["count"] = count
    if return_pairs:
        result["pairs"] = rows
    return result
