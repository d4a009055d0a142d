"""How much memory and compute training takes: estimators, and tools that measure them.

Estimators (closed forms, assumptions stated):

* :func:`training_state_bytes` -- weights + gradients + optimizer state, per parameter;
* :func:`transformer_activation_bytes` -- tensors a Transformer keeps for the backward pass;
* :func:`training_flops` -- the ``6 * N * D`` rule (plus attention, optionally).

Measurements (tensor bytes, not the allocator's cached pages nor the process's RSS):

* :func:`tensor_bytes` -- bytes of a collection of tensors, shared storage counted once;
* :class:`PeakMemory` -- live and peak bytes of tensors *created* inside a ``with`` block;
* :func:`saved_tensor_bytes` -- bytes autograd saves for backward while running a function.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["BYTES_PER_PARAM", "training_state_bytes", "transformer_activation_bytes", "training_flops",
           "tensor_bytes", "PeakMemory", "saved_tensor_bytes"]

#: Bytes per parameter as (weights, gradients, optimizer state). Two mixed-precision schemes:
#: "autocast_adam" is ``torch.autocast``'s: the parameters, their gradients and Adam's m and v stay
#: fp32 (4 + 4 + 8); only the matmuls run in 16 bits, so it saves activations and time, not this
#: state. "mixed_adam" is the ZeRO paper's (Megatron's, DeepSpeed's): 16-bit weights and gradients
#: (2 + 2) plus an fp32 master copy of the weights, m and v (4 + 4 + 4).
BYTES_PER_PARAM: dict[str, tuple[int, int, int]] = {
    "sgd": (4, 4, 0),            # fp32, no momentum
    "sgd_momentum": (4, 4, 4),   # fp32, one momentum buffer
    "adam": (4, 4, 8),           # fp32, exp_avg and exp_avg_sq
    "autocast_adam": (4, 4, 8),  # torch.autocast: fp32 weights, grads, m, v; 16-bit matmuls
    "mixed_adam": (2, 2, 12),    # fp16/bf16 weights and grads, fp32 master copy, m, v
}
#: Feed-forward tensors autograd saves per token, in units of d_ff: GELU keeps its input and output
#: (2); SwiGLU (LLaMA) keeps the gate and up projections, SiLU(gate) and their product (4).
_MLP_SAVED: dict[str, int] = {"gelu": 2, "swiglu": 4}


@dataclass(frozen=True)
class TrainingState:
    """Bytes that live through a whole training step, by component."""

    weights: int
    gradients: int
    optimizer: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer


def _count(name: str, value: object, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum`` (a count: nan, 1.5, '10' or True are refused)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be >= {minimum} (an int), got {type(value).__name__} "
                        f"{value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum} (an int), got {value!r}")
    return int(value)


def training_state_bytes(num_params: int, recipe: str = "adam",
                         trainable_params: int | None = None) -> TrainingState:
    """Weights, gradients and optimizer state for ``num_params`` parameters.

    Assumes every parameter is stored once in the recipe's weight dtype, and that only the
    ``trainable_params`` (default: all) have a gradient and optimizer state. ``recipe`` is one of
    :data:`BYTES_PER_PARAM`'s keys. Activations, temporaries and allocator overhead are extra.
    """
    if recipe not in BYTES_PER_PARAM:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(BYTES_PER_PARAM)}")
    num_params = _count("num_params", num_params)
    trainable = num_params if trainable_params is None else _count("trainable_params",
                                                                   trainable_params)
    if not 0 <= trainable <= num_params:
        raise ValueError(f"need 0 <= trainable_params <= num_params, got {trainable} and "
                         f"{num_params}")
    w, g, o = BYTES_PER_PARAM[recipe]
    return TrainingState(weights=w * num_params, gradients=g * trainable, optimizer=o * trainable)


def transformer_activation_bytes(batch_size: int, seq_len: int, d_model: int, n_layers: int,
                                 n_heads: int = 0, d_ff: int | None = None,
                                 bytes_per_value: int = 4, mlp: str = "gelu") -> int:
    """Bytes a pre-norm Transformer encoder keeps for backward (no dropout).

    Per layer and per token, autograd saves: the two LayerNorm inputs (2d) and outputs (2d, the
    inputs of the q/k/v projection and of the first FFN Linear), q, k, v and the merged heads
    (4d, the latter the output projection's input), and the FFN's hidden tensors: before and after
    GELU (2 d_ff), or with ``mlp="swiglu"`` (LLaMA) the gate and up projections, SiLU(gate) and
    their product (4 d_ff): ``8 d + 2 d_ff`` values, ``8 d + 4 d_ff`` with SwiGLU. (LLaMA's
    RMSNorm, written as ``torch.nn.RMSNorm``, also keeps its normalized input, ~2d more; rotary
    position embeddings are ignored.) Attention written out (``softmax(q k^T) v``) also keeps its
    probabilities, ``n_heads * seq_len`` values per token: pass ``n_heads``. Fused attention
    (``F.scaled_dot_product_attention``) recomputes them in backward: leave ``n_heads=0``.
    Small per-token statistics (LayerNorm mean/rstd, log-sum-exp), the embeddings and the head
    are ignored, so this slightly underestimates.
    """
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("d_model", d_model),
                        ("n_layers", n_layers), ("bytes_per_value", bytes_per_value)):
        _count(name, value, minimum=1)
    _count("n_heads", n_heads)  # 0 for fused attention
    d_ff = 4 * d_model if d_ff is None else _count("d_ff", d_ff, minimum=1)
    if mlp not in _MLP_SAVED:
        raise ValueError(f"unknown mlp {mlp!r}; choose one of {sorted(_MLP_SAVED)}")
    per_token = 8 * d_model + _MLP_SAVED[mlp] * d_ff + n_heads * seq_len
    return bytes_per_value * batch_size * seq_len * n_layers * per_token


def training_flops(num_params: int, num_tokens: int, n_layers: int = 0, seq_len: int = 0,
                   d_model: int = 0) -> int:
    """Floating-point operations to train on ``num_tokens`` tokens: ``6 N D`` (+ attention).

    Each parameter takes part in one multiply-add (2 FLOPs) per token forward and two
    backward (input and weight gradients): 6 FLOPs per parameter per token. Count in
    ``num_params`` the parameters used in matrix products: embedding lookups multiply nothing
    (Kaplan et al. leave them out); biases and norm weights counted here make it a slight
    overestimate.
    Give ``n_layers``, ``seq_len`` and ``d_model`` to add attention's score and mixing matmuls,
    ``6 * 2 * n_layers * seq_len * d_model`` FLOPs per token: both products counted, as PaLM's
    ``12 L H Q T`` (Chowdhery et al., 2022; Kaplan et al., 2020, give half of it).
    """
    for name, value in (("num_params", num_params), ("num_tokens", num_tokens),
                        ("n_layers", n_layers), ("seq_len", seq_len), ("d_model", d_model)):
        _count(name, value)
    return 6 * num_params * num_tokens + 12 * n_layers * seq_len * d_model * num_tokens


def tensor_bytes(tensors: Iterable[torch.Tensor | None]) -> int:
    """Bytes of the storages behind ``tensors`` (``None`` skipped; shared storage counted once)."""
    if isinstance(tensors, torch.Tensor):
        tensors = [tensors]
    if not isinstance(tensors, Iterable):
        raise TypeError(f"tensors must be an iterable of tensors (e.g. model.parameters()), got "
                        f"{type(tensors).__name__}")
    seen: dict[tuple, int] = {}
    for t in tensors:
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"expected tensors, got {type(t).__name__}")
        storage = t.untyped_storage()
        seen[(t.device, storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())


class PeakMemory(TorchDispatchMode):
    """Track bytes of tensor storages created inside ``with PeakMemory() as mem:``.

    ``mem.peak`` is the most bytes alive at once, ``mem.current`` what is still alive at exit.
    Tensors that existed before the block (weights, optimizer state) are *not* included: add
    them with :func:`tensor_bytes`. Works on any device (including the CPU, which has no
    ``max_memory_allocated``); counts tensor bytes only, not allocator caching or workspaces.
    """

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._alive: dict[int, weakref.ref] = {}

    def _freed(self, key: int, nbytes: int, _ref: weakref.ref) -> None:
        if self._alive.pop(key, None) is not None:
            self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        # an output that shares storage with an input (in-place op, view) allocated nothing
        inputs = {id(t.untyped_storage()) for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor) and t.device.type != "meta"}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = id(storage)
                if key not in self._alive and key not in inputs:
                    nbytes = storage.nbytes()
                    self._alive[key] = weakref.ref(
                        storage, lambda ref, k=key, n=nbytes: self._freed(k, n, ref))
                    self.current += nbytes
                    self.peak = max(self.peak, self.current)
        return out


def saved_tensor_bytes(fn: Callable[[], object],
                       exclude: Iterable[torch.Tensor] = ()) -> tuple[object, int]:
    """Run ``fn()`` and return ``(its result, bytes autograd saved for backward)``.

    Storages are counted once; pass the model's parameters as ``exclude`` so that weights saved
    by matmuls (which exist anyway) are not counted as activations.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function to run (e.g. lambda: model(x)), got "
                        f"{type(fn).__name__}")
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, sum(saved.values())
