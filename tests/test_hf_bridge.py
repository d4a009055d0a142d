"""Our GPT equals `transformers`' GPT2LMHeadModel under the documented name mapping."""

import pytest
import torch

from course_utils.gpt import GPT, GPTClassifier, GPTConfig, generate
from course_utils.peft import apply_lora

transformers = pytest.importorskip("transformers")
from course_utils.hf_bridge import (  # noqa: E402
    copy_lora_to_peft,
    from_hf_model,
    from_hf_state_dict,
    hf_config,
    name_pairs,
    to_hf_model,
    to_hf_state_dict,
)

TINY = GPTConfig(vocab_size=300, context_length=16, d_model=32, n_layers=2, n_heads=4)


def test_mapping_covers_every_parameter_both_ways():
    torch.manual_seed(0)
    ours = GPT(TINY).state_dict()
    hf = transformers.GPT2LMHeadModel(hf_config(TINY)).state_dict()
    assert {h for _, h, _ in name_pairs(2)} == set(hf) and {o for o, _, _ in name_pairs(2)} == set(ours)
    back = from_hf_state_dict(to_hf_state_dict(ours))
    assert all(torch.equal(back[k], ours[k]) for k in ours)
    assert all(hf[k].shape == v.shape for k, v in to_hf_state_dict(ours).items())


def test_ours_to_hf_same_logits_and_greedy_generation():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    for p in model.parameters():  # not the near-zero init: every weight matters
        torch.nn.init.normal_(p, std=0.3)
    hf = to_hf_model(model)
    x = torch.randint(0, 300, (3, 16))
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, model(x), rtol=0, atol=1e-5)
        out = hf.generate(x[:, :4], attention_mask=torch.ones(3, 4, dtype=torch.long),
                          max_new_tokens=10, do_sample=False)
    assert torch.equal(out, generate(model, x[:, :4], 10, temperature=0))


def test_hf_to_ours_random_hf_weights():
    torch.manual_seed(1)
    hf = transformers.GPT2LMHeadModel(hf_config(TINY)).eval()
    model = from_hf_model(hf)
    x = torch.randint(0, 300, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(model(x), hf(x).logits, rtol=0, atol=1e-5)


def test_lora_model_needs_merging_first():
    model = GPT(TINY)
    apply_lora(model, ["qkv"], r=2)
    with pytest.raises(KeyError, match="merge"):
        to_hf_state_dict(model.state_dict())


# peft calls a transformers property that transformers 5 deprecates; not ours to fix (notebook 07
# filters the same warning)
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_peft_lora_matches_ours():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = GPT(TINY).eval()
    hf = to_hf_model(base)
    clf = GPTClassifier(base, 3)
    apply_lora(clf, ["qkv"], r=4, alpha=8, train=["head"])
    for name, p in clf.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # as if trained
    peft_model = peft.get_peft_model(hf, peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True, lora_dropout=0.0))
    assert copy_lora_to_peft(clf, peft_model) == 2 * 2
    x = torch.randint(0, 300, (2, 16))
    with torch.no_grad():
        ours = clf.body.features(x)
        theirs = peft_model(x, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
