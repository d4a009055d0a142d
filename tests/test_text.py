"""The course's synthetic review dataset: deterministic, labelled by its rules, learnable."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.text import (SENTIMENTS, TASKS, TOPICS, Vocab, encode_reviews, make_reviews,
                               tokenize)


def test_same_seed_same_reviews_other_seed_other_reviews():
    assert make_reviews(50, seed=3) == make_reviews(50, seed=3)
    assert make_reviews(50, seed=3) != make_reviews(50, seed=4)


def _rule_sentiment(text: str) -> int:
    """Re-derive the label from the text: the last clause decides, "not" flips its adjective."""
    words = tokenize(text.split(" but ")[-1])
    good = {"good", "great", "excellent", "lovely", "superb", "pleasant", "fantastic", "solid"}
    positive = any(w in good for w in words)
    return int(positive != ("not" in words))


def test_labels_follow_the_documented_rules_and_are_balanced():
    reviews = make_reviews(2000, seed=0)
    assert all(_rule_sentiment(r.text) == r.sentiment for r in reviews)
    negated = [r for r in reviews if " not " in f" {r.text} "]
    contrasts = [r for r in reviews if " but " in r.text]
    assert len(negated) > 400 and len(contrasts) > 600  # the cases that need word order
    for labels, k in (([r.topic for r in reviews], len(TOPICS)),
                      ([r.sentiment for r in reviews], len(SENTIMENTS))):
        counts = torch.bincount(torch.tensor(labels), minlength=k)
        assert counts.min() > 0.8 * len(reviews) / k


def test_topic_subset():
    reviews = make_reviews(200, seed=1, topics=["hotel", "phone"])
    assert {TOPICS[r.topic] for r in reviews} == {"hotel", "phone"}
    with pytest.raises(ValueError, match="unknown topics"):
        make_reviews(5, topics=["cars"])
    with pytest.raises(ValueError, match="positive int"):
        make_reviews(0)


def test_tokenizer_and_vocab_round_trip():
    assert tokenize("Not bad, really!") == ["not", "bad", ",", "really", "!"]
    reviews = make_reviews(300, seed=0)
    vocab = Vocab.from_texts(r.text for r in reviews)
    assert vocab.itos[:2] == ["<pad>", "<unk>"] and len(set(vocab.itos)) == len(vocab)
    ids = vocab.encode(reviews[0].text, max_len=30)
    assert len(ids) == 30 and vocab.decode(ids) == " ".join(tokenize(reviews[0].text))
    assert vocab.encode("the zebra", max_len=3) == [vocab.stoi["the"], vocab.unk_id, vocab.pad_id]
    assert vocab.encode("the film was good", max_len=2) == [vocab.stoi["the"], vocab.stoi["film"]]
    with pytest.raises(ValueError, match="outside this vocabulary"):
        vocab.decode([len(vocab)])


@pytest.mark.parametrize("task", sorted(TASKS))
def test_encode_reviews(task):
    reviews = make_reviews(40, seed=0)
    vocab = Vocab.from_texts(r.text for r in reviews)
    ids, labels = encode_reviews(reviews, vocab, max_len=20, task=task).tensors
    assert ids.shape == (40, 20) and ids.dtype == torch.long and labels.shape == (40,)
    assert 0 <= labels.min() and labels.max() < TASKS[task]
    with pytest.raises(ValueError, match="task must be one of"):
        encode_reviews(reviews, vocab, task="stars")


def test_sentiment_needs_word_order_a_bag_of_words_is_near_chance():
    torch.manual_seed(0)
    train, test = make_reviews(3000, seed=0), make_reviews(500, seed=1)
    vocab = Vocab.from_texts(r.text for r in train)

    def bags(reviews):  # (N, V) word counts: no word order
        ids, labels = encode_reviews(reviews, vocab, max_len=24).tensors
        counts = torch.zeros(len(ids), len(vocab)).scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float))
        counts[:, vocab.pad_id] = 0
        return counts, labels

    (x, y), (xt, yt) = bags(train), bags(test)
    model = nn.Linear(len(vocab), 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    accuracy = (model(xt).argmax(1) == yt).float().mean().item()
    assert accuracy < 0.7  # "not" and "but" make the same words mean either label


def test_sentiment_is_learnable_by_a_small_model_that_sees_word_order():
    torch.manual_seed(0)
    train, test = make_reviews(3000, seed=0), make_reviews(500, seed=1)
    vocab = Vocab.from_texts(r.text for r in train)
    (x, y), (xt, yt) = (encode_reviews(r, vocab, max_len=20).tensors for r in (train, test))

    class Reader(nn.Module):  # a GRU reading right to left: padding first, the first word last
        def __init__(self):
            super().__init__()
            self.emb, self.gru, self.head = nn.Embedding(len(vocab), 16), nn.GRU(16, 32, batch_first=True), nn.Linear(32, 2)

        def forward(self, ids):
            out, _ = self.gru(self.emb(ids.flip(1)))
            return self.head(out[:, -1])

    model, g = Reader(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        batch = torch.randint(0, len(x), (64,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x[batch]), y[batch]).backward()
        opt.step()
    with torch.no_grad():
        assert (model(xt).argmax(1) == yt).float().mean().item() > 0.95
