"""Which language the course's learner-facing text uses: English (``"en"``) or Chinese (``"zh"``).

The first of these that says something wins:

1. an explicit argument (``language("zh")``) or :func:`set_language` in this process;
2. the environment variable ``COURSE_LANG`` (``zh``, ``zh_CN.UTF-8``, ``en`` ...);
3. the notebook's location: a notebook under a ``zh`` folder (``notebooks/zh/...``) is Chinese,
   one in ``notebooks/`` itself English.
   Jupyter, nbval and the course's executor start the kernel in the notebook's folder, and
   JupyterLab passes the notebook's path in ``JPY_SESSION_NAME``; the Chinese notebooks' code
   is the English code, so the folder is how they say "Chinese";
4. the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``);
5. otherwise English.

:func:`pick` returns the text for the current language from a ``{"en": ..., "zh": ...}`` table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

LANGUAGES = ("en", "zh")
_chosen: str | None = None


def normalize(value: str | None) -> str | None:
    """``"zh_CN.UTF-8"`` -> ``"zh"``, ``"en-US"`` -> ``"en"``; ``None`` for anything else
    (``""``, ``"C"``, ``"POSIX"``, a language the course does not have)."""
    if not value:
        return None
    code = value.strip().lower().replace("-", "_").split(".")[0].split("_")[0]
    return code if code in LANGUAGES else None


def set_language(value: str | None) -> None:
    """Choose the language for this process (``None`` goes back to the automatic choice)."""
    global _chosen
    if value is not None and normalize(value) is None:
        raise ValueError(f"unknown language {value!r}: use one of {', '.join(LANGUAGES)}")
    _chosen = normalize(value)


def _from_notebook_path(environ: Mapping[str, str], cwd: Path) -> str | None:
    session = environ.get("JPY_SESSION_NAME") or environ.get("__vsc_ipynb_file__")
    if session:
        return "zh" if "zh" in Path(session).parent.parts else "en"
    if cwd.name == "zh" and cwd.parent.name == "notebooks":
        return "zh"
    if cwd.name == "notebooks":  # an English notebook speaks English, whatever the locale
        return "en"
    return None


def language(value: str | None = None, *, environ: Mapping[str, str] | None = None,
             cwd: Path | None = None) -> str:
    """The language in use: ``"en"`` or ``"zh"`` (see the module docstring for the order)."""
    if value is not None:
        if normalize(value) is None:
            raise ValueError(f"unknown language {value!r}: use one of {', '.join(LANGUAGES)}")
        return normalize(value)
    if _chosen is not None:
        return _chosen
    environ = os.environ if environ is None else environ
    found = normalize(environ.get("COURSE_LANG"))
    if found:
        return found
    found = _from_notebook_path(environ, Path.cwd() if cwd is None else cwd)
    if found:
        return found
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(var):
            return normalize(environ[var]) or "en"
    return "en"


def pick(texts: Mapping[str, str], value: str | None = None) -> str:
    """The entry of ``texts`` for the current language, falling back to English."""
    return texts.get(language(value)) or texts["en"]


#: Figure labels and titles the notebooks pass through :func:`figure_text`, in Chinese.
FIGURE_TEXT = {
    "loss": "损失",
    "chance, ln C": "随机猜测，ln C",
    "p(true class)": "p(真实类别)",
    "gradient on the true logit: p - 1": "真实类别对数几率上的梯度：p - 1",
    "batch": "批量",
    "learning rate": "学习率",
    "cosine annealing": "余弦退火",
    "training loss": "训练损失",
    "Trainable parameters at width d = 256": "宽度 d = 256 时的可训练参数",
    "ResNet-50: parameters per stage": "ResNet-50：各阶段的参数量",
    "MLP on 8x8 digits, SGD + Nesterov, cosine schedule": "8x8 手写数字上的多层感知机，SGD + Nesterov 动量，余弦调度",
    # notebook 07 (small GPT)
    "train (one batch)": "训练（单个批量）",
    "validation": "验证",
    "ln V (uniform guess)": "ln V（均匀猜测）",
    "step": "步数",
    "next-token loss": "下一个词元的损失",
}


def figure_text(text: str, value: str | None = None) -> str:
    """A figure's label in the current language. Chinese only when a CJK font is installed
    (chosen with ``course_utils.plots.use_cjk_font``): without one, matplotlib would draw empty
    boxes and warn, so the label stays English. Text not in :data:`FIGURE_TEXT` is returned as is."""
    if language(value) != "zh" or text not in FIGURE_TEXT:
        return text
    from course_utils.plots import use_cjk_font

    return FIGURE_TEXT[text] if use_cjk_font() else text
