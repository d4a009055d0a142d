"""Our GPT: parameter formula, causality, tied embeddings, generation; checked against
`transformers`' GPT-2 on random weights (test_hf_bridge.py)."""

import pytest
import torch

from course_utils.gpt import GPT, GPTClassifier, GPTConfig, generate, gpt_parameter_count
from course_utils.params import expected_parameters

TINY = GPTConfig(vocab_size=300, context_length=16, d_model=32, n_layers=2, n_heads=4)


@pytest.mark.parametrize("config", [TINY, GPTConfig(), GPTConfig(vocab_size=50257,
                         context_length=1024, d_model=768, n_layers=12, n_heads=12)])
def test_parameter_formula(config):
    if config.d_model == 768:  # GPT-2 small, the published 124,439,808 (tied head)
        assert gpt_parameter_count(config) == 124_439_808
        return
    model = GPT(config)
    assert sum(p.numel() for p in model.parameters()) == gpt_parameter_count(config)
    # the per-layer formulas of notebook 01 (head counted once: it is the embedding)
    per_layer = sum(expected_parameters(m) for m in model.modules() if m is not model.head
                    and not list(m.children()))
    assert per_layer == gpt_parameter_count(config)


def test_tied_embeddings():
    model = GPT(TINY)
    assert model.head.weight is model.tok_emb.weight


def test_causal_the_future_does_not_change_the_past():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    x = torch.randint(0, 300, (2, 16))
    y = x.clone()
    y[:, 10:] = torch.randint(0, 300, (2, 6))
    torch.testing.assert_close(model(x)[:, :10], model(y)[:, :10])


def test_too_long_input_is_a_clear_error():
    with pytest.raises(ValueError, match="context_length"):
        GPT(TINY)(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(d_model=30, n_heads=4)


def test_generate_greedy_and_top_k():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    x = torch.randint(0, 300, (1, 4))
    greedy = generate(model, x, 20, temperature=0)  # longer than the context: cropped
    assert greedy.shape == (1, 24) and torch.equal(greedy[:, :4], x)
    manual = x
    for _ in range(3):
        manual = torch.cat([manual, model(manual)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(greedy[:, :7], manual)
    g = torch.Generator().manual_seed(0)
    top1 = generate(model, x, 5, temperature=1.0, top_k=1, generator=g)
    assert torch.equal(top1, greedy[:, :9])  # top-1 sampling is greedy


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_classifier_ignores_padding(pooling):
    torch.manual_seed(0)
    model = GPTClassifier(GPT(TINY), num_classes=3, pooling=pooling).eval()
    x = torch.randint(1, 300, (1, 6))
    padded = torch.cat([x, torch.zeros(1, 4, dtype=torch.long)], 1)
    torch.testing.assert_close(model(x, torch.tensor([6])), model(padded, torch.tensor([6])))
    assert model(padded, torch.tensor([6])).shape == (1, 3)


def test_classifier_pools_as_documented():
    torch.manual_seed(0)
    mean, last = (GPTClassifier(GPT(TINY), 3, pooling=p).eval() for p in ("mean", "last"))
    last.load_state_dict(mean.state_dict())
    idx, lengths = torch.randint(1, 300, (2, 7)), torch.tensor([7, 4])
    h = mean.body.features(idx)
    by_hand_mean = torch.stack([h[0, :7].mean(0), h[1, :4].mean(0)])
    by_hand_last = torch.stack([h[0, 6], h[1, 3]])
    torch.testing.assert_close(mean(idx, lengths), mean.head(by_hand_mean))
    torch.testing.assert_close(last(idx, lengths), last.head(by_hand_last))
    with pytest.raises(ValueError, match="pooling must be"):
        GPTClassifier(GPT(TINY), 3, pooling="max")
