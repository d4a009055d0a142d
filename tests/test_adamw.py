"""course_utils.optim.AdamW against torch.optim.AdamW (the oracle), step for step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.optim import AdamW


def train(optimizer_cls, steps=25, **options):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = optimizer_cls(model.parameters(), **options)
    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    weights = []
    for step in range(steps):
        batch = torch.arange(step, step + 4) % 12
        optimizer.zero_grad()
        F.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
        weights.append([p.detach().clone() for p in model.parameters()])
    return weights, optimizer


@pytest.mark.parametrize("options", [
    dict(), dict(lr=0.01), dict(lr=0.01, weight_decay=0.0), dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
])
def test_equal_to_torch_at_every_step(options):
    ours, opt_ours = train(AdamW, **options)
    theirs, opt_theirs = train(torch.optim.AdamW, foreach=False, **options)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-7, msg=f"step {step}")
    assert ours[-1][0].ne(ours[0][0]).any()  # it did train
    # the state is PyTorch's: same keys and values
    s_ours, s_theirs = opt_ours.state_dict()["state"], opt_theirs.state_dict()["state"]
    for k in s_theirs:
        assert set(s_ours[k]) == set(s_theirs[k]) == {"step", "exp_avg", "exp_avg_sq"}
        torch.testing.assert_close(s_ours[k]["exp_avg_sq"], s_theirs[k]["exp_avg_sq"])


def test_first_step_has_the_size_of_lr_whatever_the_gradient_scale():
    for scale in (1e-4, 1.0, 1e4):
        w = torch.ones(3, requires_grad=True)
        optimizer = AdamW([w], lr=0.001, weight_decay=0.0)
        w.grad = torch.tensor([1.0, -2.0, 3.0]) * scale
        optimizer.step()
        torch.testing.assert_close((1 - w.detach()).abs(), torch.full((3,), 0.001), rtol=1e-4, atol=0)


def test_decay_is_decoupled_from_the_gradient():
    w = torch.ones(2, requires_grad=True)
    optimizer = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros(2)  # no gradient: only the decay moves w, by lr * wd * w
    optimizer.step()
    torch.testing.assert_close(w.detach(), torch.full((2,), 1 - 0.1 * 0.5))


def test_parameters_without_gradient_are_left_alone():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    optimizer = AdamW([a, b], lr=0.1)
    a.grad = torch.ones(2)
    optimizer.step()
    assert torch.equal(b.detach(), torch.ones(2)) and b not in optimizer.state


@pytest.mark.parametrize("options, words", [
    (dict(lr=-1.0), "lr must be"), (dict(lr=float("nan")), "lr must be"),
    (dict(weight_decay=float("inf")), "weight_decay must be"), (dict(eps=-1e-8), "eps must be"),
    (dict(betas=(0.9, 1.0)), "betas must be"), (dict(betas=0.9), "betas must be"),
])
def test_bad_options_say_what_to_do(options, words):
    with pytest.raises(ValueError, match=words):
        AdamW([torch.ones(1, requires_grad=True)], **options)
    with pytest.raises(ValueError, match=words):  # in a parameter group of its own, too
        AdamW([{"params": [torch.ones(1, requires_grad=True)], **options}])


def test_a_model_or_an_empty_list_is_refused_as_sgd_refuses_it():
    with pytest.raises(TypeError, match=r"pass its parameters: AdamW\(model.parameters\(\)"):
        AdamW(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="empty parameter list"):
        AdamW([])


def test_closure_is_evaluated_with_gradients():
    w = torch.ones(2, requires_grad=True)
    optimizer = AdamW([w], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 2.0 and w.detach().lt(1).all()
