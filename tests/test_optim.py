"""Our SGD against torch.optim.SGD (the oracle), step for step, over its options."""

import copy
import itertools

import pytest
import torch
from torch import nn

from course_utils.optim import SGD


def model_and_data(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    g = torch.Generator().manual_seed(seed + 1)
    return model, torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)


def run(optimizer_cls, steps=12, seed=0, **options):
    model, x, y = model_and_data(seed)
    opt = optimizer_cls(model.parameters(), **options)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        # a different mini-batch each step, so momentum sees changing gradients
        idx = torch.arange(step, step + 8) % 16
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, opt, losses


OPTIONS = [dict(lr=lr, momentum=m, dampening=d, weight_decay=wd, nesterov=n)
           for lr, m, d, wd, n in itertools.product([0.1], [0.0, 0.9], [0.0, 0.5], [0.0, 0.01],
                                                    [False, True])
           if not (n and (m == 0 or d != 0))] + [dict(lr=0.0), dict(lr=1.5, momentum=0.5)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_matches_torch_sgd_step_for_step(options):
    ours, our_opt, our_losses = run(SGD, **options)
    theirs, their_opt, their_losses = run(torch.optim.SGD, **options)
    assert our_losses == pytest.approx(their_losses, rel=1e-6, abs=1e-7)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    if options.get("momentum", 0):
        for a, b in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(our_opt.state[a]["momentum_buffer"],
                                       their_opt.state[b]["momentum_buffer"],
                                       rtol=1e-6, atol=1e-7)


def test_one_plain_step_by_hand():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = SGD([w], lr=0.5)
    (w ** 2).sum().backward()  # grad = 2w = [2, -4]
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([0.0, 0.0]))


def test_param_groups_schedulers_and_state_dict_work_like_torch():
    model, x, y = model_and_data()
    groups = [{"params": model[0].parameters(), "lr": 0.05},
              {"params": model[2].parameters(), "momentum": 0.9}]
    opt = SGD(groups, lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.0125, 0.025])
    # Our state dict loads into torch's SGD and continues identically.
    twin, _, _ = model_and_data()
    twin.load_state_dict(model.state_dict())
    torch_opt = torch.optim.SGD([{"params": twin[0].parameters(), "lr": 0.05},
                                 {"params": twin[2].parameters(), "momentum": 0.9}], lr=0.1)
    torch_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # no shared buffers
    for o, m in ((opt, model), (torch_opt, twin)):
        o.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b)


def test_zero_grad_and_parameters_without_gradient():
    a = torch.ones(2, requires_grad=True)
    unused = torch.ones(2, requires_grad=True)
    opt = SGD([a, unused], lr=0.1, momentum=0.9)
    (a * 3).sum().backward()
    opt.step()
    torch.testing.assert_close(unused.detach(), torch.ones(2))
    assert unused not in opt.state
    opt.zero_grad(set_to_none=False)
    torch.testing.assert_close(a.grad, torch.zeros(2))
    opt.zero_grad()
    assert a.grad is None


def test_closure_is_evaluated():
    w = torch.tensor([3.0], requires_grad=True)
    opt = SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(9.0)
    assert w.item() == pytest.approx(3.0 - 0.1 * 6.0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(lr=-0.1), "lr must be a finite number >= 0, got -0.1 .a negative lr climbs"),
    (dict(lr=float("nan")), "lr must be a finite number"),
    (dict(lr=float("inf")), "lr must be a finite number"),
    (dict(lr=0.1, momentum=float("nan")), "momentum must be a finite number"),
    (dict(lr=0.1, weight_decay=float("inf")), "weight_decay must be a finite number"),
    (dict(lr=0.1, dampening=float("nan")), "dampening must be a finite number"),
    (dict(lr=0.1, momentum=-0.5), "momentum must be"),
    (dict(lr=0.1, weight_decay=-1), "weight_decay must be"),
    (dict(lr=0.1, dampening=2.0), "dampening must be in"),
    (dict(lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD([torch.zeros(1, requires_grad=True)], **kwargs)


def test_bad_group_option_is_refused():
    with pytest.raises(ValueError, match="lr must be"):
        SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": float("nan")}], lr=0.1)
    with pytest.raises(TypeError, match="lr must be a number, got str"):
        SGD([torch.zeros(1, requires_grad=True)], lr="0.1")


@pytest.mark.parametrize("params, error, message", [
    ([], ValueError, r"empty parameter list: pass model.parameters\(\)"),
    (torch.nn.Linear(2, 2), TypeError, r"got a model \(Linear\); pass its parameters"),
    (torch.zeros(2, requires_grad=True), TypeError, "a single tensor; pass a list"),
    (3, TypeError, "needs an iterable of tensors"),
])
def test_bad_params_are_refused(params, error, message):
    with pytest.raises(error, match=message):
        SGD(params, lr=0.1)


def test_a_consumed_generator_is_explained():
    model = torch.nn.Linear(2, 2)
    params = model.parameters()
    list(params)
    with pytest.raises(ValueError, match="consumed already"):
        SGD(params, lr=0.1)
