"""Our GPT and Hugging Face's ``GPT2LMHeadModel``: the same model under other names.

The mapping (:func:`name_pairs`; ``{i}`` = block index; "T" = the matrix is transposed, because Hugging Face's
GPT-2 stores its projections as ``Conv1D`` with weight (in, out), where ``nn.Linear`` has
(out, in))::

    ours                        Hugging Face
    tok_emb.weight              transformer.wte.weight
    pos_emb.weight              transformer.wpe.weight
    blocks.{i}.ln1.*            transformer.h.{i}.ln_1.*
    blocks.{i}.attn.qkv.*       transformer.h.{i}.attn.c_attn.*   (T)
    blocks.{i}.attn.proj.*      transformer.h.{i}.attn.c_proj.*   (T)
    blocks.{i}.ln2.*            transformer.h.{i}.ln_2.*
    blocks.{i}.mlp.fc.*         transformer.h.{i}.mlp.c_fc.*      (T)
    blocks.{i}.mlp.proj.*       transformer.h.{i}.mlp.c_proj.*    (T)
    ln_f.*                      transformer.ln_f.*
    head.weight                 lm_head.weight                    (tied to the embedding)

This module is the only one of the package that imports ``transformers`` (and only inside
functions, so ``import course_utils`` stays fast).
"""

from __future__ import annotations

import re

import torch

from course_utils.gpt import GPT, GPTConfig

__all__ = ["name_pairs", "to_hf_model", "copy_lora_to_peft"]

#: Per block: (our layer, Hugging Face layer, is a projection stored transposed by HF?)
_BLOCK_LAYERS = [("ln1", "ln_1", False), ("attn.qkv", "attn.c_attn", True),
                 ("attn.proj", "attn.c_proj", True), ("ln2", "ln_2", False),
                 ("mlp.fc", "mlp.c_fc", True), ("mlp.proj", "mlp.c_proj", True)]


def name_pairs(n_layers: int) -> list[tuple[str, str, bool]]:
    """Every parameter as (our name, Hugging Face name, transposed?) for ``n_layers`` blocks."""
    pairs = [("tok_emb.weight", "transformer.wte.weight", False),
             ("pos_emb.weight", "transformer.wpe.weight", False)]
    for i in range(n_layers):
        for ours, hf, transposed in _BLOCK_LAYERS:
            pairs += [(f"blocks.{i}.{ours}.weight", f"transformer.h.{i}.{hf}.weight", transposed),
                      (f"blocks.{i}.{ours}.bias", f"transformer.h.{i}.{hf}.bias", False)]
    pairs += [("ln_f.weight", "transformer.ln_f.weight", False),
              ("ln_f.bias", "transformer.ln_f.bias", False),
              ("head.weight", "lm_head.weight", False)]
    return pairs


def _rename(state_dict: dict, mapping: dict[str, tuple[str, bool]], direction: str) -> dict:
    unknown = [name for name in state_dict if name not in mapping]
    if unknown:
        raise KeyError(f"{unknown[:3]} have no {direction} name in course_utils.hf_bridge "
                       "(a LoRA model? merge it first with course_utils.peft.merge_lora)")
    missing = [name for name in mapping if name not in state_dict]
    if missing:
        raise KeyError(f"the state dict lacks {missing[:3]}: not a GPT of this shape")
    out = {}
    for name, tensor in state_dict.items():
        new, transposed = mapping[name]
        out[new] = tensor.t().contiguous() if transposed else tensor
    return out


def _n_layers(names, prefix: str) -> int:
    found = {int(m.group(1)) for n in names for m in [re.match(prefix + r"(\d+)\.", n)] if m}
    return max(found) + 1 if found else 0


def to_hf_state_dict(state_dict: dict) -> dict:
    """Our GPT's state dict under Hugging Face GPT-2 names (projections transposed)."""
    pairs = name_pairs(_n_layers(state_dict, r"blocks\."))
    return _rename(state_dict, {o: (h, t) for o, h, t in pairs}, "Hugging Face")


def from_hf_state_dict(state_dict: dict) -> dict:
    """A Hugging Face GPT-2 state dict under our names: the inverse of :func:`to_hf_state_dict`."""
    pairs = name_pairs(_n_layers(state_dict, r"transformer\.h\."))
    return _rename(state_dict, {h: (o, t) for o, h, t in pairs}, "course")


def hf_config(config: GPTConfig):
    """A ``transformers.GPT2Config`` of the same shape (no download; eos = bos = token 0)."""
    from transformers import GPT2Config

    return GPT2Config(vocab_size=config.vocab_size, n_positions=config.context_length,
                      n_embd=config.d_model, n_layer=config.n_layers, n_head=config.n_heads,
                      n_inner=4 * config.d_model, activation_function="gelu_new",
                      resid_pdrop=config.dropout, embd_pdrop=config.dropout,
                      attn_pdrop=config.dropout, layer_norm_epsilon=1e-5,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)


def to_hf_model(model: GPT):
    """A ``GPT2LMHeadModel`` holding ``model``'s weights, in ``eval()`` mode."""
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel(hf_config(model.config))
    hf.load_state_dict(to_hf_state_dict(model.state_dict()), strict=True)
    return hf.eval()


def from_hf_model(hf_model) -> GPT:
    """Our :class:`GPT` holding a ``GPT2LMHeadModel``'s weights (GELU must be "gelu_new")."""
    c = hf_model.config
    if c.activation_function != "gelu_new" or (c.n_inner or 4 * c.n_embd) != 4 * c.n_embd:
        raise ValueError("our GPT has GPT-2's gelu_new and a 4x MLP; this config has "
                         f"activation_function={c.activation_function!r}, n_inner={c.n_inner}")
    model = GPT(GPTConfig(vocab_size=c.vocab_size, context_length=c.n_positions,
                          d_model=c.n_embd, n_layers=c.n_layer, n_heads=c.n_head))
    model.load_state_dict(from_hf_state_dict(hf_model.state_dict()), strict=True)
    return model.eval()


@torch.no_grad()
def copy_lora_to_peft(model: torch.nn.Module, peft_model, adapter: str = "default") -> int:
    """Copy the A and B matrices of every ``LoRALinear`` in our ``model`` (a GPT, or a module
    holding one as ``body``) into the matching ``peft`` LoRA layers; return how many.

    Ours ``blocks.{i}.attn.qkv.lora_A`` (r, in) -> peft's ``...h.{i}.attn.c_attn.lora_A.{adapter}
    .weight`` (r, in); the same for B (out, r). peft's ``fan_in_fan_out=True`` handles Conv1D.
    """
    theirs = dict(peft_model.named_parameters())
    copied = 0
    for name, p in model.named_parameters():
        found = re.search(r"blocks\.(\d+)\.(attn\.qkv|attn\.proj|mlp\.fc|mlp\.proj)\.lora_([AB])$", name)
        if not found:
            continue
        i, layer, ab = found.groups()
        hf_layer = {"attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj",
                    "mlp.fc": "mlp.c_fc", "mlp.proj": "mlp.c_proj"}[layer]
        suffix = f"transformer.h.{i}.{hf_layer}.lora_{ab}.{adapter}.weight"
        target = [v for k, v in theirs.items() if k.endswith(suffix)]
        if len(target) != 1:
            raise KeyError(f"no peft parameter ending in {suffix!r}: apply peft LoRA to the "
                           f"same layers ({hf_layer}) first")
        target[0].copy_(p)
        copied += 1
    return copied
