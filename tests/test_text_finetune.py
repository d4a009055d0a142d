"""The fine-tuning recipe shared by every arm: encoding, training only what is trainable."""

import math

import pytest
import torch

from course_utils.gpt import GPT, GPTClassifier, GPTConfig
from course_utils.text_finetune import accuracy, encode_texts, train_classifier

TINY = GPTConfig(vocab_size=40, context_length=8, d_model=16, n_layers=1, n_heads=2)


def test_encode_texts_pads_and_cuts():
    ids, lengths = encode_texts(lambda t: [ord(c) - 96 for c in t], ["ab", "abcdefghij"], 4)
    assert ids.tolist() == [[1, 2, 0, 0], [1, 2, 3, 4]] and lengths.tolist() == [2, 4]
    with pytest.raises(ValueError, match="no tokens"):
        encode_texts(lambda t: [], ["x"], 4)


def _data(n=64):  # class = whether token 1 or token 2 appears: learnable from the tokens
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 2, (n,), generator=g)
    ids = torch.randint(3, 40, (n, 8), generator=g)
    ids[:, 0] = targets + 1
    return ids, torch.full((n,), 8), targets


def test_training_learns_and_touches_only_trainable_parameters():
    torch.manual_seed(0)
    model = GPTClassifier(GPT(TINY), num_classes=2)
    model.body.requires_grad_(False)
    frozen = {k: v.clone() for k, v in model.body.state_dict().items()}
    ids, lengths, targets = _data()
    result = train_classifier(model, ids, lengths, targets, lr=3e-2, steps=2, seed=0)
    assert abs(result["losses"][0] - math.log(2)) < 0.3
    assert all(torch.equal(frozen[k], v) for k, v in model.body.state_dict().items())
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    state = 2 * 4 * (16 * 2 + 2) + 4  # AdamW's exp_avg, exp_avg_sq (float32) + a step counter
    assert result["trainable"] == 16 * 2 + 2 and result["peak_bytes"] > weights + state  # + activations

    model = GPTClassifier(GPT(TINY), num_classes=2)
    result = train_classifier(model, ids, lengths, targets, lr=1e-2, steps=60, seed=0)
    assert accuracy(model, ids, lengths, targets) > 0.9
    assert sum(result["losses"][-5:]) / 5 < 0.3


def test_nothing_to_train_is_a_clear_error():
    model = GPTClassifier(GPT(TINY), 2).requires_grad_(False)
    with pytest.raises(ValueError, match="unfreeze"):
        train_classifier(model, *_data(), lr=1e-3, steps=2)


@pytest.mark.parametrize("steps", [1, 0, 2.0, True])
def test_fewer_than_two_steps_is_refused_as_the_peak_is_measured_on_the_second(steps):
    with pytest.raises(ValueError, match=r"steps must be an int >= 2 .*second step"):
        train_classifier(GPTClassifier(GPT(TINY), 2), *_data(), lr=1e-3, steps=steps)
