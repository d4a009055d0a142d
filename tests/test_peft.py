"""LoRA from scratch, checked against plain PyTorch: counts, identity at init, merge, errors."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from course_utils.params import count_parameters
from course_utils.peft import LoRALinear, apply_lora, lora_parameters, merge_lora


def _tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 24)),
                         nn.Linear(24, 3))


@pytest.mark.parametrize("in_f, out_f, r", [(768, 768, 8), (16, 40, 1), (40, 16, 16), (5, 7, 5)])
def test_trainable_count_is_r_times_in_plus_out(in_f, out_f, r):
    layer = LoRALinear(nn.Linear(in_f, out_f), r=r)
    assert count_parameters(layer, trainable_only=True) == r * (in_f + out_f)
    assert count_parameters(layer) == in_f * out_f + out_f + r * (in_f + out_f)
    assert not layer.base.weight.requires_grad and not layer.base.bias.requires_grad


def test_golden_count_bert_sized_layer():
    assert count_parameters(LoRALinear(nn.Linear(768, 768), r=8), trainable_only=True) == 12_288


@pytest.mark.parametrize("bias", [True, False])
def test_output_unchanged_at_init(bias):
    torch.manual_seed(0)
    base = nn.Linear(12, 9, bias=bias)
    x = torch.randn(4, 3, 12)
    expected = base(x)
    layer = LoRALinear(base, r=4, alpha=16)
    assert torch.equal(layer.lora_B, torch.zeros(9, 4))
    assert layer.lora_A.abs().sum() > 0  # A is random, or B would never get a gradient
    assert_close(layer(x), expected, rtol=0, atol=0)


def test_forward_matches_explicit_formula_and_gradients_reach_only_a_b():
    torch.manual_seed(1)
    layer = LoRALinear(nn.Linear(6, 5), r=2, alpha=3.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(7, 6)
    w = layer.base.weight + (3.0 / 2) * layer.lora_B @ layer.lora_A
    assert_close(layer(x), nn.functional.linear(x, w, layer.base.bias))
    layer(x).square().sum().backward()
    assert layer.base.weight.grad is None and layer.base.bias.grad is None
    assert layer.lora_A.grad.abs().sum() > 0 and layer.lora_B.grad.abs().sum() > 0


def test_merge_gives_plain_linear_with_same_outputs():
    torch.manual_seed(2)
    layer = LoRALinear(nn.Linear(10, 8), r=3, alpha=6)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(5, 10)
    merged = layer.merge()
    assert type(merged) is nn.Linear
    assert_close(merged(x), layer(x))
    assert count_parameters(merged) == 10 * 8 + 8


@pytest.mark.parametrize("r", [0, -1, 9, 2.0, True, None])
def test_bad_rank_is_a_clear_error(r):
    with pytest.raises(ValueError, match="1 <= r <= min"):
        LoRALinear(nn.Linear(12, 8), r=r)


def test_bad_base_and_alpha():
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        LoRALinear(nn.Conv2d(3, 3, 1), r=1)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(nn.Linear(4, 4), r=2, alpha=0)


def test_apply_lora_freezes_wraps_and_keeps_outputs():
    model = _tiny()
    x = torch.randn(6, 16)
    expected = model(x)
    wrapped = apply_lora(model, ["0", "2.0"], r=2, train=["3"])
    assert wrapped == ["0", "2.0"]
    assert isinstance(model[0], LoRALinear) and isinstance(model[2][0], LoRALinear)
    assert type(model[3]) is nn.Linear  # not a target, but trainable (a new head)
    assert_close(model(x), expected, rtol=0, atol=0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"0.lora_A", "0.lora_B", "2.0.lora_A", "2.0.lora_B", "3.weight", "3.bias"}
    assert count_parameters(model, trainable_only=True) == 2 * (16 + 32) + 2 * (32 + 24) + 24 * 3 + 3
    assert len(lora_parameters(model)) == 4


def test_apply_lora_with_a_predicate_and_unknown_names():
    model = _tiny()
    names = apply_lora(model, lambda name, m: m.out_features > 20, r=1)
    assert names == ["0", "2.0"]
    with pytest.raises(ValueError, match=r"no nn.Linear layer named \['nope'\]"):
        apply_lora(_tiny(), ["nope"], r=1)
    with pytest.raises(ValueError, match="selected no nn.Linear"):
        apply_lora(_tiny(), lambda name, m: False, r=1)


def test_merge_lora_after_training_equals_lora_model():
    model = _tiny()
    apply_lora(model, ["0", "2.0", "3"], r=2, alpha=4)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(32, 16), torch.randint(0, 3, (32,))
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert model[0].lora_B.abs().sum() > 0  # training moved B away from zero
    with torch.no_grad():
        expected = model(x)
        merged = merge_lora(copy.deepcopy(model))
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        assert_close(merged(x), expected)
    assert count_parameters(merged) == count_parameters(_tiny())
