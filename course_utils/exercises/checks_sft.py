"""Notebook 08's implement-it checker: the targets of a prompt-masked instruction example.

``check_sft_targets(fn)`` calls ``fn(ids, prompt_len)`` on a few chat-template examples and says
which mistake it recognises first: the wrong length (no shift), targets not shifted, the prompt
not masked, the ``<|assistant|>`` token or the first answer token on the wrong side of the mask
(an off-by-one), answer tokens masked, the end token masked.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_utils.exercises import Verdict
from course_utils.exercises.checks import _call, _Mismatch, _run
from course_utils.i18n import message, translate

__all__ = ["check_sft_targets"]

USER, ASSISTANT, END = 1024, 1025, 1026

#: (ids, prompt_len): <|user|> prompt <|assistant|> answer <|end|>; :func:`_case_names` says what each is
CASES = [([USER, 70, 71, 72, ASSISTANT, 80, 81, 82, END], 5),
         ([USER, 40, ASSISTANT, 90, END], 3),
         ([USER, 11, 12, 13, 14, 15, ASSISTANT, 60, 61, END], 7)]


def _case_names() -> list[str]:
    """What each case of :data:`CASES` is, in the current language."""
    return [translate(MESSAGES, "case 1 (3-token prompt, 3-token answer)"),
            translate(MESSAGES, "case 2 (1-token answer)"), translate(MESSAGES, "case 3 (5-token prompt)")]

#: The verdicts of :func:`check_sft_targets`: English template -> Chinese, the same fields.
MESSAGES: dict[str, str] = {
    "case 1 (3-token prompt, 3-token answer)": "用例 1（提示 3 个词元，回答 3 个词元）",
    "case 2 (1-token answer)": "用例 2（回答 1 个词元）",
    "case 3 (5-token prompt)": "用例 3（提示 5 个词元）",
    "On {case}, it returned {got}; expected a list of ints (or a 1-D tensor).":
        "在{case}上返回了 {got}；应当返回整数列表（或一维张量）。",
    "On {case}, it returned {got} targets for {n} ids; expected {expected}: one per input position, and the inputs "
    "are ids[:-1] (the last token predicts nothing).":
        "在{case}上，{n} 个 id 返回了 {got} 个目标，应为 {expected} 个：每个输入位置一个，而输入是 ids[:-1]（最后一个"
        "词元不预测任何东西）。",
    "On {case}, the targets are not shifted: the target of position t is the NEXT token, ids[t + 1], not ids[t].":
        "在{case}上目标没有错位：位置 t 的目标是下一个词元 ids[t + 1]，而不是 ids[t]。",
    "On {case}, the prompt is not masked: targets {where} are prompt tokens, they must be -100 (the loss reads only "
    "the answer and the end token).":
        "在{case}上提示没有被屏蔽：位置 {where} 的目标是提示中的词元，应为 -100（损失只读取回答和结束词元）。",
    "On {case}, off by one: the target <|assistant|> (the prompt's last token, at position prompt_len - 2) is not "
    "masked. Mask position t when t + 1 < prompt_len.":
        "在{case}上差了一位：目标 <|assistant|>（提示的最后一个词元，位置 prompt_len - 2）没有被屏蔽。当 t + 1 < promp"
        "t_len 时屏蔽位置 t。",
    "On {case}, off by one: the first answer token (the target of position prompt_len - 1, after <|assistant|>) is "
    "masked. Keep position t when t + 1 >= prompt_len.":
        "在{case}上差了一位：回答的第一个词元（位置 prompt_len - 1 的目标，即 <|assistant|> 之后）被屏蔽了。"
        "当 t + 1 >= prompt_len 时保留位置 t。",
    "On {case}, answer tokens are masked (targets {where} are -100): the model would learn nothing of the answers.":
        "在{case}上回答的词元被屏蔽了（位置 {where} 的目标为 -100）：模型学不到回答。",
    "On {case}, the end token is masked (the last target is -100): the model would never learn to stop. Keep <|end|> "
    "as the last target.":
        "在{case}上结束词元被屏蔽了（最后一个目标为 -100）：模型永远学不会停下。请把 <|end|> 保留为最后一个目标。",
    "On {case}, the targets {got} differ from the expected {expected}.":
        "在{case}上目标 {got} 与期望的 {expected} 不同。",
    "Correct: the targets are the next tokens, -100 on the prompt, the answer and <|end|> kept, on {n} cases.":
        "正确：目标是下一个词元，提示处为 -100，回答和 <|end|> 都保留，共 {n} 个用例。",
}


def reference_targets(ids: list[int], prompt_len: int) -> list[int]:
    """The answer: ``ids[t + 1]``, or -100 where that token is in the prompt."""
    return [ids[t + 1] if t + 1 >= prompt_len else -100 for t in range(len(ids) - 1)]


def _as_list(got, case: str) -> list[int]:
    if torch.is_tensor(got) and got.dim() == 1:
        got = got.tolist()
    if not isinstance(got, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                     for v in got):
        raise _Mismatch(message(MESSAGES, "On {case}, it returned {got}; expected a list of ints (or a 1-D tensor).",
                               case=case, got=type(got).__name__))
    return list(got)


def _diagnose(got: list[int], ids: list[int], prompt_len: int, case: str) -> None:
    expected = reference_targets(ids, prompt_len)
    n = len(ids)
    if len(got) != len(expected):
        raise _Mismatch(message(MESSAGES, "On {case}, it returned {got} targets for {n} ids; expected {expected}: one "
                               "per input position, and the inputs are ids[:-1] (the last token predicts nothing).",
                               case=case, got=len(got), n=n, expected=n - 1))
    if got == expected:
        return
    unshifted = [ids[t] if t >= prompt_len - 1 else -100 for t in range(n - 1)]
    unshifted_strict = [ids[t] if t >= prompt_len else -100 for t in range(n - 1)]
    if got in (unshifted, unshifted_strict):
        raise _Mismatch(message(MESSAGES, "On {case}, the targets are not shifted: the target of position t is the "
                               "NEXT token, ids[t + 1], not ids[t].", case=case))
    answer = range(prompt_len - 1, n - 2)  # positions whose targets are answer tokens
    wrong_prompt = [t for t in range(prompt_len - 1) if got[t] != -100]
    if wrong_prompt == [prompt_len - 2]:
        raise _Mismatch(message(MESSAGES, "On {case}, off by one: the target <|assistant|> (the prompt's last token, "
                               "at position prompt_len - 2) is not masked. Mask position t when t + 1 < prompt_len.",
                               case=case))
    if wrong_prompt:
        raise _Mismatch(message(MESSAGES, "On {case}, the prompt is not masked: targets {where} are prompt tokens, "
                               "they must be -100 (the loss reads only the answer and the end token).",
                               case=case, where=wrong_prompt))
    masked = [t for t in answer if got[t] == -100]
    if masked == [prompt_len - 1] and len(answer) > 1:
        raise _Mismatch(message(MESSAGES, "On {case}, off by one: the first answer token (the target of position "
                               "prompt_len - 1, after <|assistant|>) is masked. Keep position t when "
                               "t + 1 >= prompt_len.", case=case))
    if masked:
        raise _Mismatch(message(MESSAGES, "On {case}, answer tokens are masked (targets {where} are -100): the model "
                               "would learn nothing of the answers.", case=case, where=masked))
    if got[-1] == -100:
        raise _Mismatch(message(MESSAGES, "On {case}, the end token is masked (the last target is -100): the model "
                               "would never learn to stop. Keep <|end|> as the last target.", case=case))
    raise _Mismatch(message(MESSAGES, "On {case}, the targets {got} differ from the expected {expected}.",
                           case=case, got=got, expected=expected))


def check_sft_targets(fn: Callable[[list[int], int], list[int]]) -> Verdict:
    """``fn(ids, prompt_len)`` -> the targets of ``ids[:-1]``, checked on :data:`CASES`."""
    def checker() -> str:
        for (ids, prompt_len), case in zip(CASES, _case_names()):
            _diagnose(_as_list(_call(fn, case, list(ids), prompt_len), case), ids, prompt_len, case)
        return message(MESSAGES, "Correct: the targets are the next tokens, -100 on the prompt, the answer and "
                       "<|end|> kept, on {n} cases.", n=len(CASES))

    return _run(checker)
