"""check_block_forward: right answers pass, the stub waits, each usual mistake is named."""

import pytest

from course_utils import i18n
from course_utils.exercises.checks_gpt import check_block_forward


def right(block, x):
    x = x + block.attn(block.ln1(x))
    return x + block.mlp(block.ln2(x))


def no_residual(block, x):
    return block.mlp(block.ln2(block.attn(block.ln1(x))))


def no_mlp_residual(block, x):
    x = x + block.attn(block.ln1(x))
    return block.mlp(block.ln2(x))


def post_norm(block, x):
    x = block.ln1(x + block.attn(x))
    return block.ln2(x + block.mlp(x))


def swapped(block, x):
    x = x + block.mlp(block.ln2(x))
    return x + block.attn(block.ln1(x))


def detached(block, x):
    return right(block, x).detach()


def stub(block, x):
    raise NotImplementedError


@pytest.fixture(autouse=True)
def english():
    i18n.set_language("en")
    yield
    i18n.set_language(None)


def test_right_answer_passes():
    verdict = check_block_forward(right)
    assert verdict.correct, verdict.message


def test_stub_waits():
    verdict = check_block_forward(stub)
    assert not verdict.correct and verdict.waiting


#: (a wrong block forward, words its verdict must hold)
MISTAKES = [(no_residual, "without residual connections"), (no_mlp_residual, "residual around the MLP"),
            (post_norm, "post-norm"), (swapped, "MLP before attention"), (detached, "gradient")]


@pytest.mark.parametrize("fn, words", MISTAKES)
def test_mistakes_are_named(fn, words):
    verdict = check_block_forward(fn)
    assert not verdict.correct and words in verdict.message, verdict.message


def test_unknown_mistake_still_fails():
    verdict = check_block_forward(lambda block, x: 2 * x)
    assert not verdict.correct and "Wrong values" in verdict.message


def test_chinese_hint():
    i18n.set_language("zh")
    assert "残差" in check_block_forward(no_residual).message
