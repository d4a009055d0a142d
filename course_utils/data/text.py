"""A small text classification dataset the course makes itself (no download), and a tokenizer.

Honest description: the "reviews" are *synthetic*, generated from templates and word lists
by a seeded ``random.Random``, so the same ``seed`` gives the same sentences on every machine.
Each review has two labels:

* ``topic`` (4 classes, :data:`TOPICS`): which kind of thing is reviewed; the nouns give it
  away, so a bag of words solves it;
* ``sentiment`` (2 classes, :data:`SENTIMENTS`): needs word *order*: "not" flips the next
  adjective, and in "the X was good but the Y was awful" the clause after "but" decides.

The sentiment adjectives come from one of two disjoint word lists, :data:`LEXICONS`:
``"common"`` (good, awful, ...) and ``"new"`` (spotless, flimsy, ...). Same templates, same
rules, other words: a model that only ever read the common words has learned nothing about
which new word praises and which complains, which makes the ``"new"`` reviews a target domain
that needs adaptation.

It is meant to be learnable in seconds on a CPU by a tiny Transformer, which makes it good for
comparing training recipes, and useless for claims about real language.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

__all__ = ["SENTIMENTS", "LEXICONS", "make_reviews", "Vocab", "encode_reviews"]

TOPICS = ("movie", "restaurant", "hotel", "phone")
SENTIMENTS = ("negative", "positive")
#: task name -> number of classes
TASKS = {"topic": len(TOPICS), "sentiment": len(SENTIMENTS), "both": len(TOPICS) * len(SENTIMENTS)}

_NOUNS = {
    "movie": ["film", "plot", "acting", "ending", "soundtrack", "script", "cast", "director"],
    "restaurant": ["food", "soup", "pasta", "dessert", "waiter", "menu", "chef", "wine"],
    "hotel": ["room", "bed", "pool", "lobby", "breakfast", "view", "shower", "receptionist"],
    "phone": ["battery", "screen", "camera", "charger", "speaker", "case", "keyboard", "app"],
}
_SHARED_NOUNS = ["price", "service", "experience", "design"]  # say nothing about the topic
#: lexicon name -> (positive adjectives, negative adjectives); the two lexicons share no word
LEXICONS = {
    "common": (("good", "great", "excellent", "lovely", "superb", "pleasant", "fantastic", "solid"),
               ("bad", "awful", "terrible", "boring", "poor", "dreadful", "disappointing",
                "mediocre")),
    "new": (("spotless", "cozy", "spacious", "quiet", "snappy", "sturdy", "sleek", "reliable"),
            ("filthy", "cramped", "noisy", "sluggish", "flimsy", "clunky", "faulty", "stuffy")),
}
_ADVERBS = ["", "", "very", "really", "quite", "truly", "rather"]
_OPENERS = ["", "", "honestly", "overall", "i think", "to be fair", "in short", "well"]
_CLOSERS = ["", "", "", "i would say", "as expected", "this time", "for sure"]

_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


@dataclass(frozen=True)
class Review:
    text: str
    topic: int       # index into TOPICS
    sentiment: int   # index into SENTIMENTS (0 negative, 1 positive)


def _phrase(rng: random.Random, noun: str, positive: bool, lexicon: str) -> str:
    """'the <noun> was [adverb] <adjective>' or the negated form with the opposite adjective."""
    negated = rng.random() < 0.35
    shown_positive = positive != negated  # "not bad" is positive
    good, bad = LEXICONS[lexicon]
    adjective = rng.choice(good if shown_positive else bad)
    words = ["the", noun, rng.choice(["was", "is", "felt", "seemed"])]
    words += ["not"] if negated else [rng.choice(_ADVERBS)]
    return " ".join(w for w in words + [adjective] if w)


def make_reviews(n: int, seed: int = 0, topics: Sequence[str] = TOPICS,
                 lexicon: str = "common") -> list[Review]:
    """``n`` synthetic reviews about ``topics``, balanced in expectation over topics and sentiments.

    ``Review.topic`` always indexes the full :data:`TOPICS`, whichever subset is asked for.
    ``lexicon`` picks the sentiment adjectives (:data:`LEXICONS`); with the same ``seed`` the
    two lexicons give the same sentences, labels and word positions, only the adjectives differ.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if lexicon not in LEXICONS:
        raise ValueError(f"unknown lexicon {lexicon!r}; choose from {sorted(LEXICONS)}")
    topics = [topics] if isinstance(topics, str) else list(topics)
    unknown = [t for t in topics if t not in TOPICS]
    if unknown or not topics:
        raise ValueError(f"unknown topics {unknown or topics}; choose from {TOPICS}")
    rng = random.Random(seed)
    reviews = []
    for _ in range(n):
        topic = TOPICS.index(rng.choice(topics))
        positive = rng.random() < 0.5
        nouns = _NOUNS[TOPICS[topic]]
        main = rng.choice(nouns + _SHARED_NOUNS[:1])
        if rng.random() < 0.4:  # a contrast: the clause after "but" carries the sentiment
            other = rng.choice(nouns + _SHARED_NOUNS)
            body = (f"{_phrase(rng, other, not positive, lexicon)} but "
                    f"{_phrase(rng, main, positive, lexicon)}")
        else:
            body = _phrase(rng, main, positive, lexicon)
        text = " ".join(p for p in (rng.choice(_OPENERS), body, rng.choice(_CLOSERS)) if p)
        reviews.append(Review(text=text, topic=topic, sentiment=int(positive)))
    return reviews


def tokenize(text: str) -> list[str]:
    """Lower-case words and single punctuation marks: ``"Not bad!" -> ['not', 'bad', '!']``."""
    return _TOKEN.findall(text.lower())


class Vocab:
    """Token <-> id. Id 0 is ``<pad>``, id 1 is ``<unk>`` (any token not seen when built)."""

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos = [self.PAD, self.UNK]
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        for token in tokens:
            if token not in self.stoi:
                self.stoi[token] = len(self.itos)
                self.itos.append(token)
        self.pad_id, self.unk_id = 0, 1

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocab:
        """Every token of ``texts``, sorted, after the two special tokens."""
        return cls(sorted({t for text in texts for t in tokenize(text)}))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int) -> list[int]:
        """Ids of ``text``'s tokens, truncated or padded with ``pad_id`` to ``max_len``."""
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        ids = [self.stoi.get(t, self.unk_id) for t in tokenize(text)][:max_len]
        return ids + [self.pad_id] * (max_len - len(ids))

    def decode(self, ids: Sequence[int]) -> str:
        """Tokens of ``ids`` joined by spaces, padding dropped."""
        bad = [i for i in ids if not 0 <= int(i) < len(self)]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside this vocabulary of {len(self)} tokens")
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_id)


def encode_reviews(reviews: Sequence[Review], vocab: Vocab, max_len: int = 24,
                   task: str = "sentiment") -> TensorDataset:
    """A ``TensorDataset`` of ``(ids (max_len,) int64, label () int64)`` for ``task``.

    ``task``: ``"topic"`` (4 classes), ``"sentiment"`` (2) or ``"both"`` (8 classes,
    label ``2 * topic + sentiment``: "hotel, negative" is 4).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    if not reviews:
        raise ValueError("no reviews to encode; make some with make_reviews(n)")
    ids = torch.tensor([vocab.encode(r.text, max_len) for r in reviews], dtype=torch.long)
    labels = torch.tensor([2 * r.topic + r.sentiment if task == "both" else getattr(r, task)
                           for r in reviews], dtype=torch.long)
    return TensorDataset(ids, labels)
