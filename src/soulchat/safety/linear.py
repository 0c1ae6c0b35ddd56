"""One optimizer for every linear model of the crisis layer: weighted softmax regression.

The n-gram model (sparse binary features), the head over sentence embeddings (dense) and the
stacker that combines them with the rules (a handful of dense features) are all multinomial
logistic regression. They are trained here the same way: full-batch Adam from zeros (in torch
float64 on the CPU), L2 on every weight but the bias, per-example weights. Full batch and a fixed start make training
deterministic: the same data gives the same weights, so a shipped model can be rebuilt and checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sparse:
    """Binary features as (row, column) pairs sorted by row; column 0 is the bias of every row."""

    rows: np.ndarray
    cols: np.ndarray
    n_rows: int
    n_cols: int

    @classmethod
    def from_lists(cls, ids_per_row: Sequence[Sequence[int]], n_cols: int) -> Sparse:
        rows = np.repeat(np.arange(len(ids_per_row)), [len(ids) for ids in ids_per_row])
        cols = np.fromiter((i for ids in ids_per_row for i in ids), dtype=np.int64, count=len(rows))
        return cls(rows, cols, len(ids_per_row), n_cols)


def softmax_regression(
    features: Sparse | np.ndarray,
    targets: Sequence[int],
    n_classes: int,
    sample_weight: Sequence[float] | None = None,
    l2: float = 1e-4,
    steps: int = 400,
    learning_rate: float = 0.005,
) -> np.ndarray:
    """Weights of shape (n_features, n_classes), or (n_features + 1, n_classes) for a dense matrix,
    whose last row is then the bias. `targets` are class indices; `sample_weight` weighs each row's
    loss (normalized to sum 1)."""
    y = np.asarray(targets, dtype=np.int64)
    n = len(y)
    if n == 0:
        raise ValueError("no training examples")
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if weight.shape != (n,) or (weight < 0).any() or weight.sum() <= 0:
        raise ValueError("sample_weight must hold one non-negative weight per example, not all zero")
    weight = weight / weight.sum()
    # The loop runs in torch (float64, CPU): its CSR sparse products are ~8x faster than numpy's
    # gather/bincount and give the same weights. Imported here: only training needs it.
    import warnings

    import torch

    onehot = torch.zeros((n, n_classes), dtype=torch.float64)
    onehot[torch.arange(n), torch.from_numpy(y)] = 1.0
    if isinstance(features, Sparse):
        width, bias_row = features.n_cols, 0
        row_starts = np.searchsorted(features.rows, np.arange(n + 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            matrix = torch.sparse_csr_tensor(torch.from_numpy(row_starts), torch.from_numpy(features.cols.astype(np.int64)),
                                             torch.ones(len(features.cols), dtype=torch.float64), (n, width),
                                             check_invariants=True)
            transposed = matrix.t().to_sparse_csr()
    else:
        matrix = torch.from_numpy(np.hstack([np.asarray(features, dtype=float), np.ones((n, 1))]))
        width, bias_row = matrix.shape[1], matrix.shape[1] - 1
        transposed = matrix.t().contiguous()
    weights = torch.zeros((width, n_classes), dtype=torch.float64)
    decay = torch.full((width, 1), l2, dtype=torch.float64)
    decay[bias_row] = 0.0
    row_weight = torch.from_numpy(weight)[:, None]
    m = torch.zeros_like(weights)
    s = torch.zeros_like(weights)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these products are small: extra threads only spin (10-30x slower on a busy machine)
    try:
        for step in range(1, steps + 1):
            p = torch.softmax(matrix @ weights, dim=1)
            grad = transposed @ ((p - onehot) * row_weight) + decay * weights
            m.mul_(beta1).add_(grad, alpha=1 - beta1)
            s.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            weights -= learning_rate * (m / (1 - beta1**step)) / ((s / (1 - beta2**step)).sqrt() + eps)
    finally:
        torch.set_num_threads(threads)
    weights = weights.numpy()
    return weights


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def dense_proba(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Class probabilities of dense rows under weights from `softmax_regression` (last row: bias)."""
    features = np.atleast_2d(np.asarray(features, dtype=np.float32))
    return softmax(features @ weights[:-1] + weights[-1])


def logit(p, floor: float = 1e-6):
    p = np.clip(np.asarray(p, dtype=float), floor, 1 - floor)
    return np.log(p / (1 - p))


__all__ = ["Sparse", "dense_proba", "logit", "softmax", "softmax_regression"]
