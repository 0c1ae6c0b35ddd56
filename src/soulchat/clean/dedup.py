"""Exact and near-duplicate detection that scales: MinHash signatures, LSH bands, compact index.

No all-pairs comparison: each dialogue's signature is cut into bands, each band hashed to one 64-bit
key, and a dialogue is a candidate duplicate of an earlier one when any band key matches. The
candidate is then confirmed by the Jaccard similarity its signature estimates, read back from a
signature file on disk (so memory holds only keys). The key index is the only state that grows with
the corpus: 12 bytes per key in sorted numpy arrays (~200 bytes per dialogue with 16 bands), not a
Python dict of objects.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

import numpy as np

_MERSENNE = np.uint64((1 << 61) - 1)
_IGNORED = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """What two dialogues must share to be the same: width-folded, lower-case, no spaces or punctuation."""
    return _IGNORED.sub("", unicodedata.normalize("NFKC", text).lower())


def exact_key(normalized: str) -> int:
    return int.from_bytes(hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest(), "little")


class MinHasher:
    """MinHash over character shingles (Chinese has no spaces, so characters, not words)."""

    def __init__(self, num_perm: int = 128, shingle: int = 5, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm, self.shingle = num_perm, shingle
        # odd multipliers: multiply-shift hashing of 64-bit shingle hashes into 32-bit values
        self._a = rng.integers(1, 1 << 63, size=num_perm, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
        self._powers = rng.integers(1, 1 << 63, size=shingle, dtype=np.uint64) | np.uint64(1)

    def signature(self, normalized: str) -> np.ndarray:
        codes = np.frombuffer(normalized.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        if len(codes) < self.shingle:
            codes = np.concatenate([codes, np.zeros(self.shingle - len(codes), dtype=np.uint64)])
        count = len(codes) - self.shingle + 1
        shingles = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for offset, power in enumerate(self._powers):
                shingles += codes[offset : offset + count] * power
            shingles ^= shingles >> np.uint64(29)
            hashed = (self._a[:, None] * np.unique(shingles)[None, :] + self._b[:, None]) >> np.uint64(32)
        return hashed.min(axis=1).astype(np.uint32)


class KeyIndex:
    """64-bit key -> 32-bit row, append-mostly: a small dict in front of sorted numpy arrays."""

    def __init__(self, buffer_size: int = 1 << 17) -> None:
        self._keys = np.zeros(0, dtype=np.uint64)
        self._rows = np.zeros(0, dtype=np.uint32)
        self._buffer: dict[int, int] = {}
        self._buffer_size = buffer_size

    def __len__(self) -> int:
        return len(self._keys) + len(self._buffer)

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._rows.nbytes + len(self._buffer) * 100

    def get(self, key: int) -> int | None:
        row = self._buffer.get(key)
        if row is not None:
            return row
        at = int(np.searchsorted(self._keys, np.uint64(key)))
        if at < len(self._keys) and int(self._keys[at]) == key:
            return int(self._rows[at])
        return None

    def get_many(self, keys: list[int]) -> list[int | None]:
        """`get` for several keys with one vectorized search of the sorted part."""
        found: list[int | None] = [self._buffer.get(k) for k in keys]
        if len(self._keys):
            wanted = np.array(keys, dtype=np.uint64)
            at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
            hits = self._keys[at] == wanted
            for i in np.flatnonzero(hits):
                if found[i] is None:
                    found[i] = int(self._rows[at[i]])
        return found

    def add(self, key: int, row: int, known_absent: bool = False) -> None:
        if not known_absent and (key in self._buffer or self.get(key) is not None):
            return  # first writer wins: a key always points at the earliest dialogue
        self._buffer[key] = row
        if len(self._buffer) >= self._buffer_size:
            self._flush()

    def _flush(self) -> None:
        keys = np.fromiter(self._buffer.keys(), dtype=np.uint64, count=len(self._buffer))
        rows = np.fromiter(self._buffer.values(), dtype=np.uint32, count=len(self._buffer))
        keys, rows = np.concatenate([self._keys, keys]), np.concatenate([self._rows, rows])
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows, self._buffer = keys[order], rows[order], {}


class NearDuplicateIndex:
    """`check_and_add(text)` -> None for a new dialogue, else (kind, row of the earlier dialogue, similarity)."""

    def __init__(
        self,
        signature_file: str | Path,
        *,
        threshold: float = 0.8,
        num_perm: int = 128,
        bands: int = 16,
        shingle: int = 5,
        near: bool = True,
    ) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        self.threshold, self.bands, self.near = threshold, bands, near
        self.hasher = MinHasher(num_perm=num_perm, shingle=shingle)
        self.index = KeyIndex()
        self.rows = 0
        rng = np.random.default_rng(7)
        self._band_mix = rng.integers(1, 1 << 63, size=(bands, num_perm // bands), dtype=np.uint64) | np.uint64(1)
        self._band_salt = rng.integers(0, 1 << 63, size=bands, dtype=np.uint64)
        self._row_bytes = num_perm * 4
        Path(signature_file).parent.mkdir(parents=True, exist_ok=True)
        self._file = open(signature_file, "w+b")

    def close(self) -> None:
        self._file.close()

    def _band_keys(self, signature: np.ndarray) -> list[int]:
        with np.errstate(over="ignore"):
            mixed = (signature.reshape(self.bands, -1).astype(np.uint64) * self._band_mix).sum(axis=1)
            mixed ^= self._band_salt
            mixed |= np.uint64(1)  # key 0 is reserved for exact hashes' namespace below
        return [int(k) for k in mixed]

    def _signature_at(self, row: int) -> np.ndarray:
        data = os.pread(self._file.fileno(), self._row_bytes, row * self._row_bytes)
        return np.frombuffer(data, dtype=np.uint32)

    def check_and_add(self, text: str) -> tuple[str, int, float] | None:
        normalized = normalize(text)
        exact = exact_key(normalized) & ~1  # even: exact keys never collide with band keys (odd)
        earlier = self.index.get(exact)
        if earlier is not None:
            return "exact_duplicate", earlier, 1.0
        row = self.rows
        if self.near:
            signature = self.hasher.signature(normalized)
            keys = self._band_keys(signature)
            candidates = self.index.get_many(keys)
            for candidate in dict.fromkeys(c for c in candidates if c is not None):
                similarity = float(np.mean(self._signature_at(candidate) == signature))
                if similarity >= self.threshold:
                    return "near_duplicate", candidate, round(similarity, 3)
            self._file.seek(row * self._row_bytes)
            self._file.write(signature.tobytes())
            self._file.flush()
            for key, candidate in zip(keys, candidates):
                if candidate is None:
                    self.index.add(key, row, known_absent=True)
        self.index.add(exact, row, known_absent=True)
        self.rows += 1
        return None
