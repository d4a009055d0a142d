"""Trainable parameters: count them, derive them from a formula, tabulate them.

* :func:`count_parameters` -- what ``sum(p.numel())`` should mean (shared tensors counted once);
* :func:`expected_parameters` -- the closed-form count of one layer from its hyperparameters;
* :func:`parameter_table` / :func:`group_rows` -- one row per layer (per group of layers), as data
  (:func:`course_utils.tables.format_table` prints them);

Depth (weighted layers on the longest path) lives in :mod:`course_utils.depth`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["count_parameters", "expected_parameters", "parameter_formula", "parameter_table", "group_rows"]


def _check_module(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}; pass the model "
                        "(e.g. resnet50(weights=None)), not its parameters or a tensor")
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        raise ValueError(f"{type(model).__name__} has uninitialized (lazy) parameters; run one "
                         "forward pass on an example input first so their shapes are known")
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values in ``model``; a tensor shared by two layers counts once.

    ``trainable_only=True`` counts only parameters with ``requires_grad=True``. Buffers
    (BatchNorm's running statistics) are never parameters.
    """
    _check_module(model)
    # .parameters() yields each Parameter object once, so tied weights are not double counted
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---- closed forms: each returns (count, formula), computed from hyperparameters, not tensors ----
def _has(layer: nn.Module, name: str) -> bool:
    return getattr(layer, name, None) is not None  # a bias flag: False means the tensor is None


def _plus(b: int) -> str:
    return f" + {b}" if b else ""


def _linear(m: nn.Linear):
    b = m.out_features if _has(m, "bias") else 0
    return m.in_features * m.out_features + b, f"{m.in_features}·{m.out_features}{_plus(b)}"


def _bilinear(m: nn.Bilinear):
    b = m.out_features if _has(m, "bias") else 0
    w = m.in1_features * m.in2_features * m.out_features
    return w + b, f"{m.in1_features}·{m.in2_features}·{m.out_features}{_plus(b)}"


def _conv(m: nn.modules.conv._ConvNd):
    # Conv: weight (out, in/groups, *k); ConvTranspose: (in, out/groups, *k) -- the same product
    first, second = ((m.in_channels, m.out_channels) if m.transposed
                     else (m.out_channels, m.in_channels))
    per_group = second // m.groups
    b = m.out_channels if _has(m, "bias") else 0
    kernel = "·".join(map(str, m.kernel_size))
    mid = f"({second}/{m.groups})" if m.groups > 1 else f"{second}"
    return (first * per_group * math.prod(m.kernel_size) + b,
            f"{first}·{mid}·{kernel}{_plus(b)}")


def _norm(m: nn.modules.batchnorm._NormBase):  # BatchNorm, InstanceNorm, SyncBatchNorm
    c = m.num_features
    return (2 * c, f"2·{c}") if m.affine else (0, "no affine (running stats are buffers)")


def _group_norm(m: nn.GroupNorm):
    c = m.num_channels
    return (2 * c, f"2·{c}") if m.affine else (0, "no affine")


def _layer_norm(m: nn.LayerNorm):
    n = math.prod(m.normalized_shape)
    if not m.elementwise_affine:
        return 0, "no elementwise affine"
    copies = 2 if _has(m, "bias") else 1
    return copies * n, f"{copies}·{n}" if copies > 1 else f"{n}"


def _rms_norm(m: nn.Module):
    n = math.prod(m.normalized_shape)
    return (n, f"{n}") if m.elementwise_affine else (0, "no elementwise affine")


def _embedding(m: nn.Embedding):
    return m.num_embeddings * m.embedding_dim, f"{m.num_embeddings}·{m.embedding_dim}"


def _prelu(m: nn.PReLU):
    return m.num_parameters, f"{m.num_parameters}"


def _mha(m: nn.MultiheadAttention):
    e, k, v = m.embed_dim, m.kdim, m.vdim
    proj = 3 * e * e if m._qkv_same_embed_dim else e * (e + k + v)
    in_bias = 3 * e if _has(m, "in_proj_bias") else 0
    out = e * e + (e if _has(m.out_proj, "bias") else 0)
    kv = 2 * e if _has(m, "bias_k") else 0
    text = f"3·{e}·{e}" if m._qkv_same_embed_dim else f"{e}·({e}+{k}+{v})"
    text += (f" + 3·{e}" if in_bias else "") + f" + {e}·{e}" + (f" + {e}" if out > e * e else "")
    return proj + in_bias + out + kv, text + (f" + 2·{e} (bias_kv)" if kv else "")


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn(m: nn.RNNBase):
    g, h, p = _GATES[m.mode], m.hidden_size, m.proj_size
    out = p if p > 0 else h  # what each direction emits (LSTM proj_size shrinks it)
    dirs = 2 if m.bidirectional else 1
    total = 0
    for layer in range(m.num_layers):
        inp = m.input_size if layer == 0 else out * dirs
        # W_ih, W_hh and -- PyTorch keeps two bias vectors, b_ih and b_hh -- per direction
        total += dirs * (g * h * (inp + out) + (2 * g * h if m.bias else 0) + (p * h if p else 0))
    term = ("[{g}·{h}·({i}+{o})" + (" + 2·{g}·{h}" if m.bias else "")
            + (" + {p}·{h}]" if p else "]"))
    text = term.format(g=g, h=h, i=m.input_size, o=out, p=p)
    if m.num_layers > 1:
        text += f" + {m.num_layers - 1}·" + term.format(g=g, h=h, i=out * dirs, o=out, p=p)
    return total, f"2 directions × ({text})" if dirs == 2 else text


def _rnn_cell(m: nn.RNNCellBase):
    g = 4 if isinstance(m, nn.LSTMCell) else 3 if isinstance(m, nn.GRUCell) else 1
    h, i = m.hidden_size, m.input_size
    b = 2 * g * h if m.bias else 0
    return g * h * (i + h) + b, f"{g}·{h}·({i}+{h})" + (f" + 2·{g}·{h}" if b else "")



def _transformer_layer(m: nn.Module):
    # attention (+ cross-attention in a decoder layer), feed-forward, 2 or 3 LayerNorms
    parts = [_mha(m.self_attn)] + ([_mha(m.multihead_attn)] if hasattr(m, "multihead_attn") else [])
    parts += [_linear(m.linear1), _linear(m.linear2)]
    parts += [_layer_norm(getattr(m, f"norm{i}")) for i in (1, 2, 3) if hasattr(m, f"norm{i}")]
    return sum(c for c, _ in parts), " + ".join(f"[{t}]" for _, t in parts)


_NO_PARAMS = tuple(getattr(nn, name) for name in (
    "ReLU ReLU6 LeakyReLU ELU SELU CELU GELU SiLU Mish Sigmoid Tanh Hardtanh Hardswish "
    "Hardsigmoid Softplus Softsign Softshrink Hardshrink Tanhshrink Threshold LogSigmoid GLU "
    "Softmax LogSoftmax Softmin Softmax2d Identity Flatten Unflatten Dropout Dropout1d Dropout2d "
    "Dropout3d AlphaDropout FeatureAlphaDropout MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d "
    "AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d "
    "AdaptiveMaxPool2d AdaptiveMaxPool3d "
    "LPPool1d LPPool2d MaxUnpool1d MaxUnpool2d MaxUnpool3d FractionalMaxPool2d FractionalMaxPool3d "
    "Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle PixelUnshuffle ChannelShuffle "
    "ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d "
    "ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d "
    "CircularPad1d CircularPad2d CircularPad3d Fold Unfold LocalResponseNorm CosineSimilarity "
    "PairwiseDistance").split() if hasattr(nn, name))

_FORMULAS: list[tuple[tuple[type, ...], Callable[[nn.Module], tuple[int, str]]]] = [
    ((nn.Linear,), _linear), ((nn.Bilinear,), _bilinear), ((nn.modules.conv._ConvNd,), _conv),
    ((nn.modules.batchnorm._NormBase,), _norm), ((nn.GroupNorm,), _group_norm),
    ((nn.LayerNorm,), _layer_norm), ((nn.Embedding, nn.EmbeddingBag), _embedding),
    ((nn.PReLU,), _prelu), ((nn.MultiheadAttention,), _mha), ((nn.RNNBase,), _rnn),
    ((nn.RNNCellBase,), _rnn_cell),
    ((nn.TransformerEncoderLayer, nn.TransformerDecoderLayer), _transformer_layer),
    (_NO_PARAMS, lambda m: (0, "no parameters")),
] + ([((nn.RMSNorm,), _rms_norm)] if hasattr(nn, "RMSNorm") else [])


def _public_names(types: tuple[type, ...]) -> list[str]:
    """Public torch.nn classes covered by ``types`` (``_ConvNd`` -> Conv1d, ConvTranspose2d...)."""
    found = (getattr(nn, n) for n in dir(nn)
             if not n.startswith(("_", "Lazy")) and not n.endswith("Base"))
    return sorted(c.__name__ for c in found if isinstance(c, type) and issubclass(c, types))


def supported_layers(with_parameters: bool | None = None) -> list[str]:
    """Names of the layer types :func:`expected_parameters` knows (their subclasses work too).

    ``with_parameters=True`` lists only types that can hold parameters, ``False`` only the
    parameter-free ones (activations, pooling, dropout...), ``None`` both.
    """
    types = tuple(t for ts, _ in _FORMULAS for t in ts
                  if with_parameters is None or (ts is not _NO_PARAMS) == with_parameters)
    return _public_names(types)


def _formula(layer: nn.Module) -> tuple[int, str]:
    _check_module(layer)
    for types, fn in _FORMULAS:
        if isinstance(layer, types):
            return fn(layer)
    raise TypeError(f"expected_parameters does not know {type(layer).__name__}; supported types: "
                    f"{', '.join(supported_layers(True))}; and {len(supported_layers(False))} "
                    "parameter-free ones (activations, pooling, dropout, padding, Flatten, "
                    "Identity...: see supported_layers(False)). For a whole model or a custom "
                    "layer, use count_parameters(model).")


def expected_parameters(layer: nn.Module) -> int:
    """Closed-form parameter count of one layer, from its hyperparameters (not its tensors).

    E.g. ``Conv2d(in, out, k, groups=g, bias=True)`` -> ``out * (in // g) * k * k + out``.
    Unknown types raise ``TypeError`` naming the type and listing the supported ones.
    """
    return _formula(layer)[0]


def parameter_formula(layer: nn.Module) -> str:
    """The closed form behind :func:`expected_parameters`, with numbers.

    ``Linear(64, 10)`` -> ``"64·10 + 10"``; ``Conv2d(64, 64, 3, groups=32, bias=False)`` ->
    ``"64·(64/32)·3·3"``. Same errors as :func:`expected_parameters`.
    """
    return _formula(layer)[1]


# ---- one row per layer -----------------------------------------------------------------------
_EXPAND = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)  # show their parts instead


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) or "scalar"


def parameter_table(model: nn.Module) -> list[dict]:
    """One row per layer that holds parameters, in registration order.

    Each row is a plain dict: ``name``, ``type``, ``shape`` (its tensors' shapes, e.g.
    ``"64×3×7×7"``), ``parameters`` (values first seen in this row: a tied weight counts in
    the first layer that holds it), ``trainable`` (how many of those have ``requires_grad``)
    and ``formula`` (the closed form, or why there is none). The ``parameters`` column sums to
    ``count_parameters(model)`` and ``trainable`` to ``count_parameters(model, True)``.
    """
    _check_module(model)
    owner: dict[int, str] = {}  # id(parameter) -> the first "layer.tensor" name holding it
    rows: list[dict] = []

    def add(name: str, module: nn.Module, tensors: list[tuple[str, nn.Parameter]], formula: str):
        new = [(n, p) for n, p in tensors if id(p) not in owner]
        tied = [f"{n} = {owner[id(p)]}" for n, p in tensors if id(p) in owner]
        for n, p in new:
            owner[id(p)] = f"{name}.{n}" if name else n
        if tied:
            formula = "tied, counted once: " + ", ".join(tied) + (f"; own: {formula}" * bool(new))
        rows.append({"name": name or "(model)", "type": type(module).__name__,
                     "shape": ", ".join(_shape(p) for _, p in tensors),
                     "parameters": sum(p.numel() for _, p in new),
                     "trainable": sum(p.numel() for _, p in new if p.requires_grad),
                     "formula": formula})

    def visit(name: str, module: nn.Module):
        known = any(isinstance(module, types) for types, _ in _FORMULAS)
        if known and not isinstance(module, _EXPAND):  # one row covers the layer and its parts
            tensors = list(module.named_parameters(remove_duplicate=False))
            if tensors:
                add(name, module, tensors, _formula(module)[1])
            return
        own = list(module.named_parameters(recurse=False, remove_duplicate=False))
        if own:  # a custom module's own tensors (e.g. a class token): counted, no closed form
            add(name, module, own, "custom tensors: numel()")
        for child_name, child in module.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return rows


def group_rows(rows: Iterable[dict], level: int = 1) -> list[dict]:
    """Sum rows by the first ``level`` parts of their names ("layer1.0.conv1" -> "layer1").

    Returns rows with ``name``, ``parameters``, ``trainable`` and ``layers`` (rows summed), in
    first-seen order -- e.g. the per-stage breakdown of a ResNet.
    """
    if not isinstance(level, int) or level < 1:
        raise ValueError(f"level must be a positive int, got {level!r}")
    groups: dict[str, dict] = {}
    for row in rows:
        key = ".".join(row["name"].split(".")[:level])
        group = groups.setdefault(key, {"name": key, "parameters": 0, "trainable": 0, "layers": 0})
        group["parameters"] += row["parameters"]
        group["trainable"] += row["trainable"]
        group["layers"] += 1
    return list(groups.values())

