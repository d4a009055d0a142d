"""Depth: the number of weighted layers (conv, linear) on the longest input-to-output path.

    depth(resnet50(weights=None), torch.zeros(1, 3, 224, 224))   # 50

The model is traced with torch.fx; each node counts 1 when it calls a layer of ``layer_types``
(conv, linear) or ``F.linear`` / ``F.conv*`` (a bare ``x @ self.weight`` is not seen), and the
longest chain through the graph wins (parallel branches do not add up).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["DEPTH_LAYERS", "depth"]

#: Layer types that count towards depth: the ones that multiply by a weight matrix or kernel.
DEPTH_LAYERS: tuple[type, ...] = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)
#: Layers that hold parameters but, by convention, are not counted in a network's depth.
_NOT_DEPTH_LAYERS: tuple[type, ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                                      nn.Embedding, nn.EmbeddingBag, nn.PReLU) + \
    ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
_DEPTH_FUNCTIONS = {F.linear, F.bilinear, F.conv1d, F.conv2d, F.conv3d,
                    F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d}


class _DepthTracer(fx.Tracer):
    """Trace into every module except the counted types and torch.nn's childless layers.

    torch.fx's default treats all of ``torch.nn`` as opaque, which would hide the linear layers
    inside e.g. ``TransformerEncoderLayer`` and silently give a smaller depth.
    """

    def __init__(self, leaves: tuple[type, ...]):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        builtin = type(m).__module__.startswith("torch.nn.")
        return isinstance(m, self.leaves) or (builtin and next(m.children(), None) is None)


def depth(model: nn.Module, example_input: torch.Tensor | tuple,
          layer_types: tuple[type, ...] = DEPTH_LAYERS) -> int:
    """Weighted layers on the longest path from input to output of ``model``'s torch.fx graph.

    A node counts 1 when it calls a module of ``layer_types`` (conv and linear by default) or
    ``F.linear``/``F.conv*d``; everything else counts 0. Branches that run in parallel (a
    ResNet's projection shortcut) do not add up: only the longest chain does. ``example_input``
    (a tensor, or a tuple of them) is run once, in eval mode without gradients, to check it fits.
    """
    layer_types = tuple(layer_types)
    graph_module, args = _traced(model, example_input, layer_types)
    _check_runs(model, graph_module, args)
    modules = dict(graph_module.named_modules())
    longest: dict[fx.Node, int] = {}
    for node in graph_module.graph.nodes:  # fx lists nodes in topological order
        weighted = ((node.op == "call_module" and isinstance(modules[node.target], layer_types))
                    or (node.op == "call_function" and node.target in _DEPTH_FUNCTIONS))
        longest[node] = max((longest[n] for n in node.all_input_nodes), default=0) + int(weighted)
        if node.op == "output":
            return longest[node]
    raise RuntimeError("the traced graph has no output node")


def _traced(model, example_input, layer_types: tuple[type, ...]) -> tuple[fx.GraphModule, tuple]:
    """``model``'s fx graph, with ``layer_types`` kept as single calls, and the input as a tuple;
    refuses what cannot be traced or would hide weights inside one opaque call."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}; pass the model "
                        "(e.g. resnet50(weights=None)), not its parameters or a tensor")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise TypeError("example_input must be a tensor (or a tuple of tensors), e.g. "
                        "torch.zeros(1, 3, 224, 224) for an image model")
    root = nn.Sequential(model) if isinstance(model, layer_types) else model  # a call to trace
    try:
        graph_module = fx.GraphModule(root, _DepthTracer(layer_types).trace(root))
    except Exception as exc:
        raise RuntimeError(f"torch.fx cannot trace {type(model).__name__}, so its depth cannot be "
                           f"read from a graph ({type(exc).__name__}: {exc}). Python control flow "
                           "that depends on tensors is the usual cause (torch.nn's Transformer and "
                           "RNN layers have some): count by hand, or pass layer_types=DEPTH_LAYERS"
                           " + (TheLayer,) to count such a layer as one.") from None
    modules = dict(graph_module.named_modules())
    for node in graph_module.graph.nodes:  # an opaque call holding weights would count 0: refuse
        module = modules.get(node.target) if node.op == "call_module" else None
        if (module is not None and not isinstance(module, layer_types + _NOT_DEPTH_LAYERS)
                and any(True for _ in module.parameters())):
            kind = type(module).__name__
            raise ValueError(f"depth() cannot see inside '{node.target}' ({kind}): it holds "
                             "weights but the graph records it as one call. Pass layer_types="
                             f"DEPTH_LAYERS + ({kind},) to count it as one layer, or count "
                             "by hand.")
    return graph_module, args


def _check_runs(model: nn.Module, graph_module: fx.GraphModule, args: tuple) -> None:
    """Run the graph once on ``args`` (eval mode, no gradients; every module's mode restored)."""
    modes = {m: m.training for m in model.modules()}
    try:
        with torch.no_grad():
            graph_module.eval()(*args)
    except Exception as exc:
        shapes = ", ".join(str(tuple(a.shape)) for a in args)
        raise ValueError(f"example_input of shape {shapes} does not fit {type(model).__name__}: "
                         f"{exc}") from None
    finally:
        for m, mode in modes.items():
            m.training = mode
