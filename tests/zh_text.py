"""What a Chinese message of the package may hold in English: code, and text it quotes."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")  # Chinese, its punctuation, full-width forms
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”|`[^`]*`')  # PyTorch's own error message, quoted; `code`
_PYTHON_ERROR = re.compile(r"\b\w+(?:Error|Exception): [^。]*")  # the learner's exception, as Python wrote it
_WORDS = re.compile(r"\b[A-Za-z]+(?: [A-Za-z]+)+\b")  # two words or more in a row, spaces between


def english_prose(text: str) -> list[str]:
    """Runs of two or more English words (one of them 3 letters or more) in ``text``, outside quotes, ``code``
    and Python's error text: sentences a Chinese reader should not meet."""
    bare = _PYTHON_ERROR.sub("", _QUOTED.sub("", text))
    return [run for run in _WORDS.findall(bare) if any(len(word) >= 3 for word in run.split())]
