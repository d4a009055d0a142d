"""Our softmax / log-softmax / cross-entropy against PyTorch's (the oracle)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.losses import assert_sane, cross_entropy, log_softmax, quarter_means, sanity_problem, softmax


def close(ours, theirs, **kw):
    torch.testing.assert_close(ours, theirs, rtol=kw.get("rtol", 1e-5), atol=kw.get("atol", 1e-6),
                               equal_nan=True)


@pytest.mark.parametrize("shape,dim", [((5,), -1), ((4, 7), 1), ((4, 7), 0), ((2, 3, 4, 5), 1)])
def test_softmax_and_log_softmax_match_torch(shape, dim):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 5
    close(softmax(x, dim), torch.softmax(x, dim))
    close(log_softmax(x, dim), torch.log_softmax(x, dim))


def test_huge_logits_are_stable():
    z = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    assert torch.isfinite(log_softmax(z)).all() and torch.isfinite(softmax(z)).all()
    close(log_softmax(z), torch.log_softmax(z, dim=-1))
    loss = cross_entropy(z[:1], torch.tensor([0]))
    assert loss.item() == pytest.approx(2.407606, abs=1e-6)
    close(loss, F.cross_entropy(z[:1], torch.tensor([0])))
    # Infinite logits behave like PyTorch's (-inf is "probability 0").
    w = torch.tensor([[0.0, -math.inf, 1.0]])
    close(log_softmax(w), torch.log_softmax(w, dim=-1))


def test_gradients_match_and_equal_softmax_minus_onehot():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (6,), generator=g)
    cross_entropy(z, y, reduction="sum").backward()
    expected = torch.softmax(z.detach(), 1) - F.one_hot(y, 4).double()
    close(z.grad, expected)
    z2 = z.detach().clone().requires_grad_(True)
    F.cross_entropy(z2, y, reduction="sum").backward()
    close(z.grad, z2.grad)


def make_case(kind, shape, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    class_dim = 0 if len(shape) == 1 else 1
    C = shape[class_dim]
    if kind == "index":
        t_shape = shape[:class_dim] + shape[class_dim + 1:]
        targets = torch.randint(0, C, t_shape, generator=g)
        if targets.dim() > 0:  # some ignored positions
            targets[torch.rand(t_shape, generator=g) < 0.3] = -100
            targets.view(-1)[0] = 1  # at least one kept
    else:
        targets = torch.softmax(torch.randn(shape, generator=g, dtype=torch.float64), class_dim)
    return logits, targets, C


@pytest.mark.parametrize(
    "kind,shape,reduction,smoothing,weighted",
    list(itertools.product(["index", "probs"], [(8, 5), (3, 4, 2, 3), (5,)],
                           ["mean", "sum", "none"], [0.0, 0.2], [False, True])))
def test_cross_entropy_matches_torch_over_options(kind, shape, reduction, smoothing, weighted):
    logits, targets, C = make_case(kind, shape, seed=10 * len(shape) + (kind == "index"))
    weight = torch.linspace(0.5, 2.0, C, dtype=torch.float64) if weighted else None
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    ours, theirs = cross_entropy(a, targets, **kwargs), F.cross_entropy(b, targets, **kwargs)
    close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    close(a.grad, b.grad)


def test_custom_ignore_index_and_all_ignored():
    z = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 7, 2, 7])
    close(cross_entropy(z, y, ignore_index=7), F.cross_entropy(z, y, ignore_index=7))
    close(cross_entropy(z, y, ignore_index=7, reduction="none"),
          F.cross_entropy(z, y, ignore_index=7, reduction="none"))
    everything = torch.full((4,), -100)
    assert torch.isnan(cross_entropy(z, everything)) and torch.isnan(F.cross_entropy(z, everything))


def test_float32_matches_torch_and_chance_level_is_ln_c():
    z = torch.zeros(16, 10)
    y = torch.arange(16) % 10
    assert cross_entropy(z, y).item() == pytest.approx(math.log(10), rel=1e-6)
    x = torch.randn(32, 10) * 20
    close(cross_entropy(x, y.repeat(2)), F.cross_entropy(x, y.repeat(2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("logits,targets,kwargs,message", [
    (torch.randn(4, 3), torch.tensor([0, 1, 2]), {}, r"must have shape \(4,\)"),
    (torch.randn(4, 3), torch.tensor([0, 1, 3, 0]), {}, r"must be in \[0, 3\).*\[3\]"),
    (torch.randn(4, 3), torch.tensor([0, -1, 2, 0]), {}, r"found \[-1\]"),
    (torch.randn(4, 3), torch.full((4, 3), 0.5), {}, "sum to 1"),
    (torch.randn(4, 3), torch.full((4, 2), 0.5), {}, r"logits' shape \(4, 3\)"),
    (torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), {"reduction": "avg"}, "reduction must be"),
    (torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), {"label_smoothing": 1.5}, "label_smoothing"),
    (torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), {"weight": torch.ones(4)}, r"shape \(3,\)"),
    (torch.tensor(1.0), torch.tensor(0), {}, "class dimension"),
])
def test_bad_inputs_get_clear_errors(logits, targets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cross_entropy(logits, targets, **kwargs)


@pytest.mark.parametrize("call, error, message", [
    (lambda: softmax(torch.randn(2, 3), dim=5), IndexError,
     r"dim=5 is out of range for a 2-D tensor .*valid: -2 to 1"),
    (lambda: log_softmax(torch.randn(2, 3), dim=-3), IndexError, "out of range"),
    (lambda: softmax(torch.randn(2, 3), dim=1.0), TypeError, "dim must be an int"),
    (lambda: cross_entropy(torch.randn(4, 3), torch.tensor([0.0, 1.0, 2.0, 0.0])), TypeError,
     r"look like class indices but are torch.float32.*targets.long\(\)"),
    (lambda: cross_entropy(torch.randn(4, 3), torch.tensor([True, False, True, True])),
     TypeError, "must be integers, got torch.bool"),
])
def test_raw_errors_become_clear(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_integer_logits_are_refused():
    with pytest.raises(TypeError, match="floating-point"):
        softmax(torch.tensor([1, 2, 3]))


def test_quarter_means():
    assert quarter_means([1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0]) == [2.0, 6.0, 3.0, 7.0]
    assert quarter_means(list(range(10))) == [0.5, 3.0, 5.5, 8.0]  # parts of 2, 3, 2, 3
    for too_few in ([], [2.0], [2.0, 1.0, 0.5]):
        with pytest.raises(ValueError, match="at least 4 losses"):
            quarter_means(too_few)


def test_assert_sane():
    chance = math.log(10)
    assert_sane(chance, [1.5, 0.8, 0.5, 0.4], 10)
    assert_sane(chance, [2.2] * 20 + [13.7] + [1.0] * 79, 10)  # one spike that recovers: not divergence
    with pytest.raises(ValueError, match="at least 4 losses"):
        assert_sane(chance, [0.5], 10)  # no quarters to judge: the caller's bug, not a verdict
    with pytest.raises(AssertionError, match="nan or inf"):
        assert_sane(chance, [2.0, float("inf")], 10)  # a run stopped at its first inf: diverged
    with pytest.raises(AssertionError, match="far from ln C"):
        assert_sane(40.0, [17.0, 5.0, 2.0, 1.0], 10)  # notebook 05's old scratch arm
    with pytest.raises(AssertionError, match="far from ln C"):
        assert_sane(0.3, [0.2, 0.1, 0.1, 0.1], 10)  # solved before training: a leak, not learning
    with pytest.raises(AssertionError, match="diverged"):
        assert_sane(chance, [2.0, 9.0, 3.0, 2.0], 10)
    with pytest.raises(AssertionError, match="diverged"):
        assert_sane(chance, [2.0] * 25 + [9.0] * 25 + [1.0] * 50, 10)  # a quarter above 1.5 ln C
    with pytest.raises(AssertionError, match="nan or inf"):
        assert_sane(chance, [2.0, 1.0, float("nan"), 1.0], 10)
    with pytest.raises(AssertionError, match="resnet50-scratch: did not learn"):  # no higher than 1.5 ln C, no lower
        assert_sane(chance, [2.2, 2.3, 2.3, 2.4], 10, name="resnet50-scratch")
    with pytest.raises(AssertionError, match="did not learn"):
        assert_sane(math.log(2), [0.6] * 50 + [0.7] * 50, 2)  # the last quarter is what counts


def test_sanity_problem_is_assert_sanes_message():
    chance = math.log(10)
    assert sanity_problem(chance, [1.5, 0.8, 0.5, 0.4], 10) is None
    for first, losses in [(40.0, [17.0, 5.0, 2.0, 1.0]), (chance, [2.0, 9.0, 3.0, 2.0]),
                          (chance, [2.0, float("nan")]), (chance, [2.2, 2.3, 2.3, 2.4])]:
        problem = sanity_problem(first, losses, 10, name="arm 7")
        assert problem.startswith("arm 7: ")
        with pytest.raises(AssertionError) as raised:
            assert_sane(first, losses, 10, name="arm 7")
        assert str(raised.value) == problem
