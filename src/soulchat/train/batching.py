"""Length-grouped batching: rows of similar length share a batch, so little of it is padding.

transformers' `LengthGroupedSampler` draws its permutation from the global RNG, which a resumed run
restores to the checkpoint's state, not to the state the epoch began with: the order after a resume
would differ. This sampler seeds its own generator with `seed + epoch`, so an epoch's order is the
same whether the run was interrupted or not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthGroupedSampler(Sampler[int]):
    """Shuffled mega-batches of `mega_batches` batches, sorted by length inside, cut into batches
    whose order is shuffled again; the batch holding the longest row comes first (an out-of-memory
    error shows at step 1, not hours later).

    `batch_size` is the number of rows one optimizer step sees on this process (per-device batch ×
    gradient accumulation); consecutive slices of that size have similar lengths. Unlike
    transformers' sampler, the longest row moves with its whole batch (swapping one row into a
    batch of short rows pads that batch) and small datasets are not cut into four mega-batches.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 42, mega_batches: int = 50) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega_batches = mega_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(grouped_indices(self.lengths, self.batch_size, self.mega_batches, generator))


def grouped_indices(lengths: Sequence[int], batch_size: int, mega_batches: int, generator) -> list[int]:
    order = torch.randperm(len(lengths), generator=generator).tolist()
    size = batch_size * mega_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        mega = sorted(order[start : start + size], key=lambda i: lengths[i], reverse=True)
        batches += [mega[i : i + batch_size] for i in range(0, len(mega), batch_size)]
    # A short batch stays last: the data loader cuts the order into consecutive slices of
    # batch_size, and a short one in the middle would shift every slice after it.
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    batches = [batches[i] for i in shuffle]
    if batches:
        longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
        batches[0], batches[longest] = batches[longest], batches[0]
    return [i for batch in batches + tail for i in batch]


def pad_fraction(lengths: Sequence[int], order: Sequence[int], batch_size: int) -> float:
    """Share of the token slots in batches of `batch_size` (taken in `order`) that are padding."""
    padded = real = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start : start + batch_size]]
        padded += max(batch) * len(batch)
        real += sum(batch)
    return 1 - real / padded if padded else 0.0
