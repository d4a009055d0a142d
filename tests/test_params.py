"""course_utils.params: closed forms against numel() (the oracle), golden model sizes (and their depth)."""

import itertools
import re

import pytest
import torch
from torch import nn

from course_utils.depth import depth
from course_utils.params import (
    count_parameters,
    expected_parameters,
    group_rows,
    parameter_formula,
    parameter_table,
    supported_layers,
)
from course_utils.tables import format_table


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _layers():
    """(id, factory) pairs covering every supported type and its hyperparameter flags."""
    out = []
    for bias, (i, o) in itertools.product((True, False), ((1, 1), (7, 3), (64, 10))):
        out.append((f"Linear-{i}-{o}-bias{bias}", lambda i=i, o=o, b=bias: nn.Linear(i, o, bias=b)))
    out.append(("Bilinear", lambda: nn.Bilinear(3, 5, 7)))
    out.append(("Bilinear-nobias", lambda: nn.Bilinear(3, 5, 7, bias=False)))
    for dim, groups, bias, k in itertools.product((1, 2, 3), (1, 2, 8), (True, False), (1, 3)):
        conv = getattr(nn, f"Conv{dim}d")
        tconv = getattr(nn, f"ConvTranspose{dim}d")
        out.append((f"Conv{dim}d-g{groups}-b{bias}-k{k}",
                    lambda c=conv, g=groups, b=bias, k=k: c(8, 16, k, groups=g, bias=b)))
        out.append((f"ConvTranspose{dim}d-g{groups}-b{bias}-k{k}",
                    lambda c=tconv, g=groups, b=bias, k=k: c(8, 16, k, groups=g, bias=b)))
    out.append(("Conv2d-rect-kernel", lambda: nn.Conv2d(3, 5, (3, 5))))
    out.append(("Conv2d-depthwise", lambda: nn.Conv2d(32, 32, 3, groups=32)))
    out.append(("Conv2d-depthwise-multiplier", lambda: nn.Conv2d(32, 64, 3, groups=32, bias=False)))
    out.append(("ConvTranspose2d-groups-rect", lambda: nn.ConvTranspose2d(6, 9, (2, 4), groups=3)))
    for name, affine in itertools.product(
            ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
             "InstanceNorm3d", "SyncBatchNorm"), (True, False)):
        out.append((f"{name}-affine{affine}", lambda n=name, a=affine: getattr(nn, n)(12, affine=a)))
    for shape, affine, bias in itertools.product((16, (4, 5)), (True, False), (True, False)):
        out.append((f"LayerNorm-{shape}-a{affine}-b{bias}",
                    lambda s=shape, a=affine, b=bias: nn.LayerNorm(s, elementwise_affine=a, bias=b)))
    if hasattr(nn, "RMSNorm"):
        out.append(("RMSNorm", lambda: nn.RMSNorm((3, 4))))
        out.append(("RMSNorm-noaffine", lambda: nn.RMSNorm(8, elementwise_affine=False)))
    out.append(("GroupNorm", lambda: nn.GroupNorm(4, 12)))
    out.append(("GroupNorm-noaffine", lambda: nn.GroupNorm(4, 12, affine=False)))
    out.append(("Embedding", lambda: nn.Embedding(100, 7)))
    out.append(("Embedding-padding", lambda: nn.Embedding(100, 7, padding_idx=0)))
    out.append(("EmbeddingBag", lambda: nn.EmbeddingBag(50, 3)))
    out.append(("PReLU", lambda: nn.PReLU()))
    out.append(("PReLU-channels", lambda: nn.PReLU(16)))
    for bias, kv, kdim in itertools.product((True, False), (True, False), (None, 6)):
        out.append((f"MHA-b{bias}-kv{kv}-kdim{kdim}",
                    lambda b=bias, kv=kv, kd=kdim: nn.MultiheadAttention(
                        16, 4, bias=b, add_bias_kv=kv, kdim=kd, vdim=None if kd is None else 10)))
    for kind, layers, bidir, bias in itertools.product(("RNN", "LSTM", "GRU"), (1, 3),
                                                       (False, True), (True, False)):
        out.append((f"{kind}-L{layers}-bi{bidir}-b{bias}",
                    lambda k=kind, n=layers, d=bidir, b=bias: getattr(nn, k)(
                        10, 20, num_layers=n, bidirectional=d, bias=b)))
    for layers, bidir in itertools.product((1, 2), (False, True)):
        out.append((f"LSTM-proj-L{layers}-bi{bidir}",
                    lambda n=layers, d=bidir: nn.LSTM(10, 20, num_layers=n, bidirectional=d,
                                                      proj_size=5)))
    out.append(("RNN-relu", lambda: nn.RNN(4, 6, nonlinearity="relu")))
    for cell in ("RNNCell", "LSTMCell", "GRUCell"):
        out.append((cell, lambda c=cell: getattr(nn, c)(10, 20)))
        out.append((f"{cell}-nobias", lambda c=cell: getattr(nn, c)(10, 20, bias=False)))
    for bias, ff in itertools.product((True, False), (32, 64)):
        out.append((f"TransformerEncoderLayer-b{bias}-ff{ff}",
                    lambda b=bias, f=ff: nn.TransformerEncoderLayer(16, 4, f, bias=b)))
        out.append((f"TransformerDecoderLayer-b{bias}-ff{ff}",
                    lambda b=bias, f=ff: nn.TransformerDecoderLayer(16, 4, f, bias=b)))
    for name in ("ReLU", "GELU", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Dropout",
                 "Flatten", "Identity", "Softmax", "Upsample"):
        args = {"MaxPool2d": (2,), "AvgPool2d": (2,), "AdaptiveAvgPool2d": (1,)}.get(name, ())
        out.append((name, lambda n=name, a=args: getattr(nn, n)(*a)))
    return out


LAYERS = _layers()


@pytest.mark.parametrize("make", [f for _, f in LAYERS], ids=[i for i, _ in LAYERS])
def test_expected_parameters_matches_numel(make):
    layer = make()
    assert expected_parameters(layer) == numel(layer)
    assert count_parameters(layer) == numel(layer)


@pytest.mark.parametrize("make", [f for _, f in LAYERS], ids=[i for i, _ in LAYERS])
def test_formula_text_evaluates_to_the_count(make):
    """The formula shown to learners is arithmetic that gives the count, not decoration."""
    layer = make()
    text, count = parameter_formula(layer), expected_parameters(layer)
    if count == 0:
        assert re.search("no ", text), text
        return
    expr = re.sub(r" \([a-z_]+\)", "", text).replace("2 directions ×", "2·")
    expr = expr.translate(str.maketrans({"·": "*", "×": "*", "[": "(", "]": ")"})).replace("/", "//")
    assert re.fullmatch(r"[\d+*/() ]+", expr), text
    assert eval(expr) == count, (text, count)


def test_formula_uses_hyperparameters_not_tensors():
    layer = nn.Linear(4, 3)
    layer.weight = nn.Parameter(torch.zeros(1))  # tensors no longer match the hyperparameters
    assert expected_parameters(layer) == 4 * 3 + 3
    assert count_parameters(layer) == 1 + 3


def test_unsupported_type_names_it_and_lists_supported():
    class Mine(nn.Module):
        pass

    with pytest.raises(TypeError, match=r"Mine.*Conv2d.*LSTM.*MultiheadAttention"):
        expected_parameters(Mine())
    with pytest.raises(TypeError, match="Sequential"):
        expected_parameters(nn.Sequential(nn.Linear(2, 2)))
    assert {"Linear", "LayerNorm", "Embedding", "LSTM", "ReLU"} <= set(supported_layers())


@pytest.mark.parametrize("fn", [count_parameters, expected_parameters, parameter_table])
def test_not_a_module_is_a_clear_error(fn):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fn(torch.zeros(3))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fn(list(nn.Linear(2, 2).parameters()))


def test_lazy_layer_asks_for_a_forward_pass():
    lazy = nn.LazyLinear(3)
    with pytest.raises(ValueError, match="forward pass"):
        count_parameters(lazy)
    with pytest.raises(ValueError, match="forward pass"):
        expected_parameters(lazy)
    lazy(torch.zeros(2, 5))
    assert expected_parameters(lazy) == count_parameters(lazy) == 5 * 3 + 3


class TiedLM(nn.Module):
    def __init__(self, vocab=11, dim=4):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.wte.weight  # weight tying: one tensor, two layers

    def forward(self, idx):
        return self.head(self.norm(self.wte(idx)))


def test_tied_weights_counted_once_everywhere():
    model = TiedLM()
    once = 11 * 4 + 2 * 4
    assert count_parameters(model) == once
    assert sum(t.numel() for t in model.state_dict().values()) == once + 11 * 4
    rows = parameter_table(model)
    assert sum(r["parameters"] for r in rows) == once
    head = next(r for r in rows if r["name"] == "head")
    assert head["parameters"] == 0 and "wte.weight" in head["formula"]


def test_trainable_only_and_buffers():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(1, 3, 5, 5))
    model[0].requires_grad_(False)
    conv = 8 * 3 * 9 + 8
    total = conv + 2 * 8 + 8 * 9 * 2 + 2
    assert count_parameters(model) == total
    assert count_parameters(model, trainable_only=True) == total - conv
    rows = parameter_table(model)
    assert sum(r["trainable"] for r in rows) == total - conv
    assert [r["name"] for r in rows] == ["0", "1", "3"]  # parameter-free layers have no row
    # running_mean/var and num_batches_tracked are buffers: in state_dict, not in the count
    buffers = sum(b.numel() for b in model.buffers())
    assert buffers == 8 + 8 + 1
    assert sum(t.numel() for t in model.state_dict().values()) == total + buffers


def test_table_rows_match_formulas_and_render():
    model = nn.Sequential(nn.Linear(4, 3), nn.TransformerEncoderLayer(8, 2, 16), nn.LSTM(3, 5))
    rows = parameter_table(model)
    assert {"name", "type", "shape", "parameters", "trainable", "formula"} <= set(rows[0])
    by_name = {r["name"]: r for r in rows}
    assert "1.self_attn" in by_name and "1.linear1" in by_name  # encoder layer shown in parts
    for name, row in by_name.items():
        assert row["parameters"] == expected_parameters(model.get_submodule(name))
    text = format_table(rows)
    assert "1.self_attn" in text and f"{count_parameters(model):,}" in text.splitlines()[-1]
    assert "2 more rows" in format_table(rows, max_rows=len(rows) - 2)
    stages = group_rows(rows)
    assert [s["name"] for s in stages] == ["0", "1", "2"]
    assert stages[1]["parameters"] == expected_parameters(model[1])
    with pytest.raises(ValueError, match="level"):
        group_rows(rows, level=0)


def test_custom_tensors_get_a_row():
    class WithToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
            self.proj = nn.Linear(8, 8)

    rows = parameter_table(WithToken())
    assert rows[0]["name"] == "(model)" and rows[0]["parameters"] == 8
    assert sum(r["parameters"] for r in rows) == 8 + 72


@pytest.fixture(scope="module")
def torchvision_models():
    tv = pytest.importorskip("torchvision.models")
    return tv


@pytest.mark.parametrize("name, params, layers", [
    ("resnet18", 11_689_512, 18), ("resnet50", 25_557_032, 50), ("vgg16", 138_357_544, 16)])
def test_golden_torchvision_counts_and_depth(torchvision_models, name, params, layers):
    model = getattr(torchvision_models, name)(weights=None)
    assert count_parameters(model) == params
    rows = parameter_table(model)
    assert sum(r["parameters"] for r in rows) == params
    for row in rows:  # every layer of these models has a closed form that agrees with numel()
        assert row["parameters"] == expected_parameters(model.get_submodule(row["name"]))
    training = model.training
    assert depth(model, torch.zeros(1, 3, 64, 64)) == layers
    assert model.training == training


def test_resnet50_ten_class_head_and_freezing(torchvision_models):
    model = torchvision_models.resnet50(weights=None)
    model.fc = nn.Linear(model.fc.in_features, 10)
    assert count_parameters(model) == 23_528_522
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    assert count_parameters(model, trainable_only=True) == 2048 * 10 + 10


def test_plot_parameter_counts_takes_table_rows():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from course_utils.plots import plot_parameter_counts

    rows = parameter_table(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)))
    fig = plot_parameter_counts(rows + [{"name": "relu", "parameters": 0}], title="t")
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(ax.patches) == 3
    assert [t.get_text() for t in ax.texts] == ["15", "4", "0"]
    with pytest.raises(KeyError, match="label=.*value="):
        plot_parameter_counts([{"layer": "x", "count": 1}])
    with pytest.raises(ValueError, match="at least one row"):
        plot_parameter_counts([])
