"""course_utils.depth: the longest weighted path, on small graphs whose answer is obvious."""

import pytest
import torch
from torch import nn

from course_utils.depth import DEPTH_LAYERS, depth


def test_depth_counts_the_longest_path_only():
    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.long = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 4))
            self.short = nn.Linear(4, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.long(x) + self.short(x))

    assert depth(TwoBranches(), torch.zeros(2, 4)) == 4
    assert depth(nn.Sequential(nn.ReLU(), nn.Dropout()), torch.zeros(1, 3)) == 0
    mlp = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    assert depth(mlp, torch.zeros(1, 4), layer_types=(nn.Linear, nn.LayerNorm)) == 3


def test_depth_counts_functional_calls():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 4))

        def forward(self, x):
            return torch.nn.functional.linear(torch.nn.functional.linear(x, torch.eye(4)), self.w)

    assert depth(Functional(), torch.zeros(1, 4)) == 2


def test_depth_traces_into_custom_layers():
    class Residual(nn.Module):  # a custom layer without children, using a functional linear
        def __init__(self, dim):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(dim, dim))

        def forward(self, x):
            return x + torch.nn.functional.linear(x, self.weight)

    model = nn.Sequential(nn.Linear(3, 3), Residual(3), Residual(3), nn.Linear(3, 1))
    assert depth(model, torch.zeros(2, 3)) == 4


def test_depth_clear_errors():
    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
                x = self.fc(x)
            return x

    with pytest.raises(RuntimeError, match="torch.fx cannot trace Dynamic"):
        depth(Dynamic(), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"shape \(1, 5\) does not fit Linear"):
        depth(nn.Linear(3, 2), torch.zeros(1, 5))
    with pytest.raises(TypeError, match="example_input"):
        depth(nn.Linear(3, 2), [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        depth("resnet50", torch.zeros(1, 3))


def test_depth_never_hides_weights_inside_an_opaque_call():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 4, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0])

    x = torch.zeros(1, 3, 4)
    with pytest.raises(ValueError, match=r"cannot see inside 'rnn' \(LSTM\).*layer_types"):
        depth(Recurrent(), x)
    assert depth(Recurrent(), x, layer_types=DEPTH_LAYERS + (nn.LSTM,)) == 2
    # torch.nn's Transformer layers branch on tensors: a clear error, not a depth of 0
    encoder = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(RuntimeError, match="torch.fx cannot trace TransformerEncoderLayer"):
        depth(encoder, torch.zeros(1, 3, 8))
    assert depth(encoder, torch.zeros(1, 3, 8),
                 layer_types=DEPTH_LAYERS + (nn.TransformerEncoderLayer,)) == 1
