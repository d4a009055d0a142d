"""Byte-level BPE from scratch: round trips on any bytes, merges as training defines them,
and the same merges as Hugging Face `tokenizers` trained the same way."""

import random

import pytest

from course_utils.tokenizer import PRETOKEN, BPETokenizer, bytes_per_token, train_bpe

TEXT = ("The quick brown fox jumps over the lazy dog. the the the then there 1234 + 5678;\n"
        "    def f(x_1): return x_1 ** 2  # 数据 données ÄÖÜ 🙂\n") * 20


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXT, 320)


def test_vocab_size_and_merges(tok):
    assert tok.vocab_size == 320 and len(tok.merges) == 64
    assert tok.vocab[tok.ranks[tok.merges[0]]] == tok.vocab[tok.merges[0][0]] + tok.vocab[tok.merges[0][1]]
    assert len(set(tok.vocab)) == tok.vocab_size  # every merge makes a new byte string


def test_most_frequent_pair_is_merged_first():
    tok = train_bpe("aaab aaab aaab xy", 257)
    assert tok.merges == [(ord("a"), ord("a"))]


def test_pretoken_covers_every_character():
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000),
                                       rng.randrange(0x4E00, 0x9FFF), 9, 10, 95])) for _ in range(40))
        assert "".join(PRETOKEN.findall(text)) == text


def test_round_trip_unicode(tok):
    rng = random.Random(1)
    for _ in range(200):
        text = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x4E00, 0x9FFF),
                                       rng.randrange(0x1F600, 0x1F64F), 0x20, 0x0A]))
                       for _ in range(rng.randrange(0, 60)))
        assert tok.decode(tok.encode(text)) == text


def test_round_trip_random_bytes(tok):
    rng = random.Random(2)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        ids = tok.encode(data.decode("utf-8", "surrogateescape"))
        assert tok.decode_bytes(ids) == data
        assert all(0 <= i < tok.vocab_size for i in ids)


def test_merges_shorten_text(tok):
    assert len(tok.encode(TEXT)) < len(TEXT.encode("utf-8")) / 2
    assert bytes_per_token(BPETokenizer().encode, [TEXT]) == 1.0  # no merges: one token a byte


def test_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe("abc", 100)
    with pytest.raises(TypeError, match="surrogateescape"):
        BPETokenizer().encode(b"abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        BPETokenizer().decode([300])
    with pytest.raises(ValueError, match=r"\[-100\] are outside the vocabulary"):
        BPETokenizer().decode_bytes([104, -100])  # -100 (a masked target) is no token either


def test_close_to_hugging_face_tokenizers_trained_the_same_way():
    """Same algorithm; only ties between equally frequent pairs may be broken differently."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    from course_utils.data.corpus import collect_docstrings

    texts = [d.text for d in collect_docstrings(("json", "csv", "textwrap", "string"))]
    train, held_out = "\n\n".join(texts[::2]), texts[1::2]
    ours = train_bpe(train, 512)
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator([train], trainers.BpeTrainer(
        vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    ours_pieces = {ours.decode([i]) for i in range(256, 512)}
    hf_pieces = {hf.decode([i]) for i in range(256, 512)}
    assert len(ours_pieces & hf_pieces) >= 0.9 * 256
    ratio_ours = bytes_per_token(ours.encode, held_out)
    ratio_hf = bytes_per_token(lambda t: hf.encode(t).ids, held_out)
    assert ratio_ours == pytest.approx(ratio_hf, rel=0.02) and ratio_ours > 1.5
