"""course_utils.exercises.checks: each implement-it checker accepts a reference solution and refuses
the stub and typical wrong answers with the right reason."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils import i18n
from course_utils.exercises import checks, checks_gpt
from course_utils.finetune import freeze as course_freeze
from course_utils.peft import LoRALinear


@pytest.fixture(autouse=True)
def english():
    """These tests read the English messages (tests/test_i18n.py covers the Chinese ones)."""
    i18n.set_language("en")
    yield
    i18n.set_language(None)


def stub(*args):
    raise NotImplementedError


# ---- reference solutions (what a learner should write) ----------------------------------

def log_softmax_ok(z):
    m = z.detach().amax(dim=-1, keepdim=True)
    return (z - m) - (z - m).exp().sum(dim=-1, keepdim=True).log()


def sgd_ok(param, grad, buf, lr, momentum):
    buf = grad.clone() if buf is None else momentum * buf + grad
    return param - lr * buf, buf


def conv2d_ok(c_in, c_out, k, groups, bias):
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def kaiming_ok(fan_in):
    return math.sqrt(2.0 / fan_in)


def freeze_ok(model):
    course_freeze(model, [])  # the course's own freeze: nothing trainable, BatchNorm frozen
    return model


def lora_ok(layer, x):
    return layer.base(x) + (x @ layer.lora_A.T @ layer.lora_B.T) * layer.scale


def attention_ok(q, k, v, *, mask_diagonal=False, scale=None, dim=-1):
    """course_utils.gpt's causal attention; the keywords make the typical wrong versions."""
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) * (scale if scale is not None else 1 / math.sqrt(q.size(-1)))
    allowed = torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1 if mask_diagonal else 0)
    return scores.masked_fill(~allowed, float("-inf")).softmax(dim=dim) @ v


# ---- wrong solutions, each with the reason the checker must give ---------------------------

def freeze_eval_only(model):
    model.requires_grad_(False)
    model.eval()  # undone by the next model.train()


def freeze_momentum_zero(model):
    model.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.0  # statistics fixed, but train() still normalises with batch stats


CASES = [
    (checks.check_log_softmax, log_softmax_ok, [
        (lambda z: z.exp().div(z.exp().sum(-1, keepdim=True)).log(), "Not finite"),
        (lambda z: z - z.logsumexp(dim=0, keepdim=True), "Wrong values"),
        (lambda z: (z - z.logsumexp(-1, keepdim=True)).sum(-1), "Wrong shape"),
        (lambda z: (z - z.logsumexp(-1, keepdim=True)).detach(), "gradient does not"),
        (lambda z: z.numpy(), "expected a tensor"),
        (lambda z: z.log_softmax(), "raised TypeError"),
    ]),
    (checks.check_conv2d_parameters, conv2d_ok, [
        (lambda c_in, c_out, k, groups, bias: c_out * c_in * k * k + (c_out if bias else 0), "groups=4"),
        (lambda c_in, c_out, k, groups, bias: c_out * (c_in // groups) * k * k + c_out, "bias=False"),
        (lambda c_in, c_out, k, groups, bias: str(conv2d_ok(c_in, c_out, k, groups, bias)), "got '"),
    ]),
    (checks.check_sgd_momentum, sgd_ok, [
        (lambda p, g, b, lr, mu: (p - lr * g, g), "the buffer"),
        (lambda p, g, b, lr, mu: sgd_ok(p, g, None if b is None else b, lr, mu)[0], "expected a pair"),
        (lambda p, g, b, lr, mu: (lambda nb: (p - lr * nb, nb))(torch.zeros_like(g) * mu + g if b is None
                                                                else mu * b + (1 - mu) * g), "step 2"),
    ]),
    (checks.check_kaiming_std, kaiming_ok, [
        (lambda fan_in: math.sqrt(1.0 / fan_in), "Wrong values"),
        (lambda fan_in: "0.1", "expected a number"),
    ]),
    (checks.check_freeze, freeze_ok, [
        (lambda model: model.eval(), "still require a gradient"),
        (freeze_eval_only, "changed the BatchNorm buffer"),
        (freeze_momentum_zero, "Wrong values"),
    ]),
    (checks.check_lora_forward, lora_ok, [
        (lambda layer, x: layer.base(x), "Wrong values"),
        (lambda layer, x: layer.base(x) + x @ layer.lora_A.T @ layer.lora_B.T, "Wrong values"),
        (lambda layer, x: layer.base(x) + (x @ layer.lora_A.T @ layer.lora_B.T).detach() * layer.scale,
         "gradient does not"),
    ]),
    (checks_gpt.check_causal_attention, attention_ok, [
        (lambda q, k, v: (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-1) @ v, "without the causal mask"),
        (lambda q, k, v: attention_ok(q, k, v, scale=1.0), "without the 1/√d scaling"),
        (lambda q, k, v: attention_ok(q, k, v, dim=-2), "softmax over the queries"),
        (lambda q, k, v: attention_ok(q, k, v, mask_diagonal=True), "Not finite"),
        (lambda q, k, v: attention_ok(q, k, v)[..., -1, :], "Wrong shape"),
        (lambda q, k, v: attention_ok(q.detach(), k.detach(), v), "gradient of q"),
        (lambda q, k, v: attention_ok(q, k, v).numpy(), "expected a tensor"),
    ]),
]


@pytest.mark.parametrize("checker, reference", [(c, r) for c, r, _ in CASES],
                         ids=[c.__name__ for c, _, _ in CASES])
def test_reference_accepted_stub_waits(checker, reference):
    verdict = checker(reference)
    assert verdict.correct and str(verdict).startswith("✅ Correct"), verdict
    waiting = checker(stub)
    assert not waiting and waiting.waiting and "Not implemented yet" in str(waiting)
    assert str(waiting).startswith("⏳")


@pytest.mark.parametrize("checker, wrong, reason",
                         [(c, w, r) for c, _, bad in CASES for w, r in bad],
                         ids=[f"{c.__name__}-{i}" for c, _, bad in CASES for i in range(len(bad))])
def test_wrong_solution_refused_with_reason(checker, wrong, reason):
    verdict = checker(wrong)
    assert not verdict and not verdict.waiting
    assert reason in verdict.message, verdict.message


def test_lora_checker_accepts_the_course_layer():
    """The notebook 06 exercise: LoRALinear.forward itself passes (same attributes)."""
    assert checks.check_lora_forward(LoRALinear.forward).correct


def test_kaiming_checker_formula_is_torchs():
    torch.manual_seed(0)
    w = nn.init.kaiming_normal_(torch.empty(2000, 576), mode="fan_in", nonlinearity="relu")
    assert abs(w.std().item() - kaiming_ok(576)) / kaiming_ok(576) < 0.01


def test_checkers_leave_the_learners_inputs_alone():
    seen = []

    def spy(z):
        seen.append(z)
        z.mul_(0)  # a learner's in-place bug must not change the checker's next cases
        return log_softmax_ok(z)

    assert not checks.check_log_softmax(spy)
    assert checks.check_log_softmax(log_softmax_ok)


def test_attention_checker_names_no_near_miss_for_other_mistakes():
    """A wrong scale (1/d) is reported as wrong values, without a misleading 'it equals' hint."""
    verdict = checks_gpt.check_causal_attention(lambda q, k, v: attention_ok(q, k, v, scale=1 / q.size(-1)))
    assert "Wrong values" in verdict.message and "It equals" not in verdict.message, verdict.message


def test_course_attention_is_what_the_checker_compares_with():
    """course_utils.gpt's CausalSelfAttention (notebook 07's layer) equals the checker's oracle."""
    from course_utils.gpt import CausalSelfAttention, GPTConfig
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(vocab_size=8, context_length=8, d_model=8, n_heads=2, n_layers=1,
                                         dropout=0.0)).eval()
    x = torch.randn(2, 6, 8)
    q, k, v = (t.view(2, 6, 2, 4).transpose(1, 2) for t in attn.qkv(x).split(8, dim=2))
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(attn.proj(y.transpose(1, 2).reshape(2, 6, 8)), attn(x))
