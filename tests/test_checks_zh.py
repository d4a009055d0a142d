"""The implement-it checkers speak Chinese in the Chinese edition: every verdict their tests provoke
(right, not yet written, each known mistake, a crash), run in Chinese, is Chinese apart from code and
the text it quotes (Python's or PyTorch's own error message). Before this test, a zh learner read
"random logits of shape (4, 5)", "at index (0, 3)" and the attention checker's hints in English."""

from __future__ import annotations

import pytest
from torch import nn

from course_utils import i18n
from course_utils.exercises.checks_finetune import check_finetune_setup
from course_utils.exercises.checks_gpt import check_block_forward
from course_utils.exercises.checks_sft import check_sft_targets, reference_targets
from course_utils.exercises.checks_training import check_train_one_epoch
from tests import test_checks, test_checks_finetune, test_checks_gpt, test_checks_training, test_sft
from tests.zh_text import CJK, english_runs


def crash(*args):
    raise AttributeError("'TinyResNet' object has no attribute 'layer9'")


def no_return(model, num_classes, lr):
    model.fc = nn.Linear(model.fc.in_features, num_classes)


def sft_stub(ids, prompt_len):
    raise NotImplementedError


# (checker, a solution a learner might run): every solution the checkers' own tests use
RUNS = ([(checker, solution) for checker, right, mistakes in test_checks.CASES
         for solution in [right, test_checks.stub, crash] + [wrong for wrong, _ in mistakes]]
        + [(check_block_forward, solution) for solution in [test_checks_gpt.right, test_checks_gpt.stub, crash]
           + [wrong for wrong, _ in test_checks_gpt.MISTAKES]]
        + [(check_finetune_setup, solution) for solution in [test_checks_finetune.by_hand, test_checks_finetune.stub,
                                                             crash, no_return]
           + [test_checks_finetune.variant(**change) for change, _ in test_checks_finetune.MISTAKES]]
        + [(check_train_one_epoch, solution) for solution in [test_checks_training.make_loop(), crash]
           + [loop for loop, _ in test_checks_training.MISTAKES]]
        + [(check_sft_targets, solution) for solution in [reference_targets, sft_stub, crash]
           + list(test_sft.SFT_MISTAKES.values())])


@pytest.fixture(autouse=True)
def chinese():
    i18n.set_language("zh")
    yield
    i18n.set_language(None)


@pytest.mark.parametrize("checker, solution", RUNS,
                         ids=[f"{checker.__name__}-{i}" for i, (checker, _) in enumerate(RUNS)])
def test_every_verdict_is_chinese(checker, solution):
    message = checker(solution).message
    assert CJK.search(message) and not english_runs(message), message


def test_the_english_detector_catches_what_the_checkers_used_to_say():
    assert english_runs("random logits of shape (4, 5)的数值不对：与 PyTorch 的最大差异为 4.35（at index (0, 3)）。")
    assert english_runs("正确：在 2 个用例上与 base(x) + scale · x Aᵀ Bᵀ 相等, gradients of A and B too。")
    assert not english_runs("你的函数在用例上抛出了 TypeError: log_softmax() missing 1 required positional argument。")
    assert not english_runs('模型和批量会在不同的设备上（"Expected all tensors to be on the same device"）。')
    assert not english_runs("尚未实现：把 `raise NotImplementedError` 换成你的代码。")
