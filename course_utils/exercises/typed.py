"""What a learner types into an exercise, read as Python: a number when it looks like one
(whatever the keyboard or the input method), else text compared without case or spacing."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["parse_answer", "normal_text"]

# What a Chinese input method types for digits and signs, mapped to ASCII after NFKC
# (NFKC already turns full-width digits, '，', '．' and '－' into ASCII).
_IME = str.maketrans({"。": ".", "、": ",", "−": "-", "–": "-", "﹣": "-"})
_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?")  # 1,010 / 25,557,032.5
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")                       # 0,5 / 1,25 (not thousands)


def parse_answer(text: Any) -> Any:
    """Turn typed text into a number when it looks like one, else return the stripped text.

    Full-width characters and ``。`` are read as ASCII ('０．５' and '0。5' -> 0.5). A comma is a
    thousands separator only where it groups by three after a non-zero digit ('1,010' -> 1010);
    a single other comma is a decimal comma ('0,5' -> 0.5, '1,25' -> 1.25). A trailing sentence
    point is ignored ('0.91。' -> 0.91); '_' and spaces inside numbers are separators.
    """
    if not isinstance(text, str):
        return text
    stripped = unicodedata.normalize("NFKC", text).translate(_IME).strip()
    cleaned = re.sub(r"(?<=\d)[ _](?=\d)", "", stripped)
    if cleaned.endswith(".") and cleaned[:-1].strip():
        cleaned = cleaned[:-1]
    if _THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(cleaned):
        cleaned = cleaned.replace(",", ".")
    for kind in (int, float):
        try:
            return kind(cleaned)
        except ValueError:
            pass
    return text.strip()


def normal_text(value: Any) -> str:
    """Text as compared: NFKC, lower case, single spaces, no final sentence point."""
    text = " ".join(unicodedata.normalize("NFKC", str(value)).lower().split())
    return text.rstrip("。.")
