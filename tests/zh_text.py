"""English left in Chinese text: whole printed lines (the zh notebooks' stored outputs, tests/test_printed.py)
and runs of words inside a Chinese message (the checkers' verdicts, tests/test_checks_zh.py)."""

from __future__ import annotations

import re

from course_utils import printed

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # Chinese, its punctuation, full-width forms
_QUOTED_IN_MESSAGE = re.compile(r'"[^"]*"|“[^”]*”|`[^`]*`')  # PyTorch's own error message, quoted; `code`
_PYTHON_ERROR = re.compile(r"\b\w+(?:Error|Exception): [^。]*")  # the learner's exception, as Python wrote it
_WORDS = re.compile(r"\b[A-Za-z]+(?: [A-Za-z]+)+\b")  # two words or more in a row, spaces between


def english_runs(text: str) -> list[str]:
    """Runs of two or more English words (one of them 3 letters or more) in ``text``, outside quotes, ``code``
    and Python's error text: sentences a Chinese reader should not meet."""
    bare = _PYTHON_ERROR.sub("", _QUOTED_IN_MESSAGE.sub("", text))
    return [run for run in _WORDS.findall(bare) if any(len(word) >= 3 for word in run.split())]


_QUOTED_IN_LINE = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|\[[^\n]*\]")
_REPR = re.compile(r"^\s*[A-Z]\w*\(.*\)\s*$")  # an object's repr: BPETokenizer(vocab_size=1024)
_ERROR_LINE = re.compile(r"^\s*(Traceback|File \"|(\w+\.)*\w*(Error|Exception|Warning|Interrupt)\b)")
#: A word of prose: two or more letters, not part of a code name (``layer1.0``, ``conv_a``,
#: ``torch.rand(``, ``lr=``) and not a unit glued to a number (``3x``, ``1e-06``).
_PROSE_WORD = re.compile(r"(?<![\w.\-/=@])[A-Za-z][a-z]+(?![\w.(/=\-\[])")


def english_line(line: str) -> bool:
    """Is this printed line an English sentence a Chinese reader should have got in Chinese?

    Yes when it has no CJK character and at least 3 prose words (:data:`_PROSE_WORD`) once these are
    set aside: text in quotes or brackets (the GPT's generated text, tokens, docstrings, reprs of
    lists and tensors), so a line that only frames a quotation does not count. No, whatever its
    words, for an error or traceback line (``ValueError: ...``: the message of an error the lesson
    provokes, which PyTorch and the lesson modules raise in English), an object's repr
    (``BPETokenizer(vocab_size=1024)``) and a table row (3 or more columns separated by 2 or more
    spaces: figures and code names). Data shown as it is (the GPT's corpus) still counts: that is
    what ``tests/test_printed.py``'s ``MAX_ENGLISH_PROSE_LINES`` leaves room for."""
    if CJK.search(line) or _ERROR_LINE.match(line) or _REPR.match(line):
        return False
    if len(_columns(line)) >= 3:
        return False
    return len(_PROSE_WORD.findall(_QUOTED_IN_LINE.sub(" ", line))) >= 3


def _columns(line: str) -> list[str]:
    """A printed line's columns: the runs of text 2 or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


_WORDS_ONLY = re.compile(r"[A-Za-z][a-z]+(?: [a-z]+)*")  # "peak MB" no, "train loss" yes: prose, not a code name


def english_table_line(line: str) -> bool:
    """Is this printed line a table's header or row name left in English? A header: no CJK, no figure,
    3 or more columns (2 or more spaces apart), 2 or more of them plain English words. A row: it starts
    with an English word or phrase that :data:`course_utils.printed.WORDS` translates (``head only   0.30``)."""
    if CJK.search(line):
        return False
    cells = _columns(line)
    if len(cells) >= 3 and not re.search(r"\d", line) and sum(bool(_WORDS_ONLY.fullmatch(c)) for c in cells) >= 2:
        return True
    return any(line.strip().startswith(en) and re.match(r"\s{2,}|:", line.strip()[len(en):])
               for en, zh in printed.WORDS.items() if zh != en)

