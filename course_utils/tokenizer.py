"""Byte-level BPE (byte-pair encoding), GPT-2's tokenizer, written from scratch.

Text is UTF-8 bytes, so the first 256 tokens are the 256 byte values: *any* text, in any
language, even invalid UTF-8, can be encoded, and nothing is ever "unknown". Training repeats
one step: count every adjacent pair of tokens in the corpus, make the most frequent pair a new
token (a *merge*), replace it everywhere. Encoding replays the merges in the order they were
learned. As in GPT-2, the text is first split into pieces (words with their leading space,
numbers, punctuation, spaces: :data:`PRETOKEN`) and merges never cross a piece's border.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

__all__ = ["PRETOKEN", "train_bpe", "bytes_per_token"]

#: GPT-2's split, with Python's ``re`` (letters = ``[^\W\d_]``; numbers = ``\d``, decimal digits
#: only, where GPT-2's ``\p{N}`` also takes ² or ½); every character falls in one
#: branch, so ``"".join(PRETOKEN.findall(text)) == text``.
PRETOKEN = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def _to_bytes(piece: str) -> bytes:
    # surrogateescape: a str decoded from arbitrary bytes with it gives those bytes back
    return piece.encode("utf-8", "surrogateescape")


def _merge(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """A byte-level BPE tokenizer: ``merges[k] = (a, b)`` made token ``256 + k``."""

    def __init__(self, merges: Iterable[tuple[int, int]] = ()) -> None:
        self.merges = [tuple(pair) for pair in merges]
        self.ranks = {pair: 256 + k for k, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._cache: dict[bytes, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_piece(self, piece: bytes) -> list[int]:
        if piece not in self._cache:
            word = tuple(piece)
            while len(word) > 1:  # apply the earliest-learned merge present, as training did
                pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
                best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
                if best not in self.ranks:
                    break
                word = _merge(word, best, self.ranks[best])
            self._cache[piece] = list(word)
        return self._cache[piece]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (a ``str``; see :meth:`decode_bytes` for raw bytes)."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; for bytes use "
                            f"data.decode('utf-8', 'surrogateescape')")
        return [t for piece in PRETOKEN.findall(text) for t in self._encode_piece(_to_bytes(piece))]

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The exact bytes the ids stand for."""
        ids = list(ids)
        bad = [i for i in ids if not 0 <= i < self.vocab_size]  # -100 would index from the end
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary "
                             f"(0..{self.vocab_size - 1})")
        return b"".join(self.vocab[i] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        """Text; a multi-byte character cut by the end of a sample shows as '\ufffd'."""
        return self.decode_bytes(list(ids)).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


def train_bpe(text: str, vocab_size: int) -> BPETokenizer:
    """Learn ``vocab_size - 256`` merges from ``text``.

    Counts live per distinct piece (a word is counted once with its frequency), and after each
    merge only the pieces that contain the merged pair are recounted. Ties between equally
    frequent pairs go to the smallest pair, so training is deterministic.
    """
    if not isinstance(vocab_size, int) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an int >= 256 (the 256 byte tokens), got {vocab_size!r}")
    freq = Counter(_to_bytes(p) for p in PRETOKEN.findall(text))
    words = [tuple(w) for w in freq]
    counts = [freq[w] for w in freq]
    pair_counts: Counter = Counter()
    where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices of words with it
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += counts[i]
            where[pair].add(i)
    merges = []
    for new_id in range(256, vocab_size):
        if not pair_counts:
            break  # every piece is a single token already
        best = max(pair_counts.items(), key=lambda kv: (kv[1], (-kv[0][0], -kv[0][1])))[0]
        merges.append(best)
        for i in sorted(where.pop(best, ())):
            old = words[i]
            for pair in zip(old, old[1:]):
                pair_counts[pair] -= counts[i]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            words[i] = new = _merge(old, best, new_id)
            for pair in zip(new, new[1:]):
                pair_counts[pair] += counts[i]
                where[pair].add(i)
    return BPETokenizer(merges)


def bytes_per_token(tokenizer_encode, texts: Iterable[str]) -> float:
    """Compression: UTF-8 bytes divided by tokens, over ``texts`` (higher = shorter sequences)."""
    n_bytes = n_tokens = 0
    for text in texts:
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(tokenizer_encode(text))
    return n_bytes / max(n_tokens, 1)
