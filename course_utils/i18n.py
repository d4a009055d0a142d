"""Which language the course's learner-facing text uses: English (``"en"``) or Chinese (``"zh"``).

The first of these that says something wins:

1. an explicit argument (``language("zh")``) or :func:`set_language` in this process;
2. the environment variable ``COURSE_LANG`` (``zh``, ``zh_CN.UTF-8``, ``en`` ...);
3. the notebook's location: a notebook under a ``zh`` folder (``notebooks/zh/...``) is Chinese,
   one in ``notebooks/`` itself English.
   Jupyter, nbval and the course's executor start the kernel in the notebook's folder,
   JupyterLab passes the notebook's path in ``JPY_SESSION_NAME``, and VS Code sets
   ``__vsc_ipynb_file__`` in IPython's user namespace. Colab shows none of these: there the
   Chinese notebooks' setup cell (``tools/sync_notebooks.py``) sets ``COURSE_LANG=zh``;
4. the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``);
5. otherwise English.

Every message table of the package has one shape, the gettext convention: ``{English: Chinese}``,
the English text (a ``str.format`` template) as the key, its Chinese with the same ``{fields}`` as
the value; the code shows the English sentence where it is used. One family of functions reads them:

* :func:`translate` is the text itself in English and its table entry in Chinese; a text with no
  entry raises ``KeyError`` in Chinese (never prints English silently), naming the table to add it to;
* :func:`message` is :func:`translate`, formatted with the same values in both languages (what the
  commands, the doctor, the checkers and :func:`course_utils.printed.say` print);
* :func:`figure_text` is the one lenient member, on purpose: a figure label without an entry, or with
  no CJK font to draw it (matplotlib would draw empty boxes and warn), stays English.

A Chinese character is wider than a column of a monospaced output (:func:`columns`), so
``f"{word:14s}"`` pads a Chinese word too far. :class:`Text` is a ``str`` whose format spec pads by
columns; what :func:`course_utils.printed.say` and ``term`` return is one, so that a table's Chinese
headers and row names line up with its figures. For ASCII text it formats exactly as ``str``.

Chinese figure labels need a CJK font: :func:`cjk_font` finds one (the doctor asks it too; a font
file installed after matplotlib listed its fonts, as on Colab, is registered) and
:func:`use_cjk_font` makes matplotlib use it. ``tests/test_i18n.py`` finds every table of the package
and checks its shape and fields, and that every literal text the code passes is in its table.

What is translated: exercises (``exercises``, ``answer_key``), the doctor's lines, the commands'
own errors, figure labels, what the notebooks print (:mod:`course_utils.printed`). Errors raised by the
lesson modules (``params depth finetune losses optim peft memory``: torch and numpy only, no course
import, i18n included) stay in English; the one message of theirs the notebooks print, why a run
failed notebook 02's check (``losses.SanityProblem``), keeps its template so that ``printed`` shows it
in Chinese.
"""

from __future__ import annotations

import math
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path

__all__ = ["language", "translate", "message", "figure_text", "cjk_font", "columns", "Text"]

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


def _vscode_notebook() -> str | None:
    """The notebook VS Code runs, from ``__vsc_ipynb_file__`` in IPython's user namespace (VS Code
    sets it there, not in the environment); None outside IPython, which is never imported here."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "user_ns", {}).get("__vsc_ipynb_file__")


def _from_notebook_path(environ: Mapping[str, str], cwd: Path) -> str | None:
    session = environ.get("JPY_SESSION_NAME") or _vscode_notebook()
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


def translate(table: Mapping[str, str], text: str, /) -> str:
    """``text`` in the current language: itself in English, ``table[text]`` in Chinese. Raises
    ``KeyError`` in Chinese when ``table`` has no entry for it."""
    if language() != "zh":
        return text
    try:
        return table[text]
    except KeyError:
        raise KeyError(f"no Chinese for {text!r}: add it to {_table_name(table)}") from None


def message(table: Mapping[str, str], template: str, /, **values) -> str:
    """:func:`translate`, formatted with ``values`` (the same in both languages):
    ``message(MESSAGES, "no file {path}", path=p)`` with ``MESSAGES = {"no file {path}": "没有文件 {path}"}``."""
    return translate(table, template).format(**values)


def _table_name(table: Mapping[str, str]) -> str:
    """Where ``table`` is defined, ``course_utils.printed.ZH``, for an error message: the shortest
    module path of the course's loaded modules that holds it (an importer may rename it)."""
    names = sorted((len(module), f"{module}.{attr}") for module, loaded in list(sys.modules.items())
                   if module.split(".")[0] == "course_utils" and loaded is not None
                   for attr, value in list(vars(loaded).items()) if value is table)
    return names[0][1] if names else "its message table"


#: The columns a wide character takes where the notebooks' outputs are read: a browser draws a Chinese
#: character (or full-width punctuation) 1 em wide, and a column of the monospaced fonts JupyterLab, Colab
#: and GitHub ask for (Menlo, DejaVu Sans Mono, Liberation Mono) 0.6 em wide. A terminal gives it 2
#: columns (wcwidth); in Chromium the padding of 2 leaves a row with six Chinese characters two columns
#: short, that of 5/3 lines it up (``tests/test_browser.py`` measures it).
WIDE = 5 / 3


def columns(text: str) -> int:
    """How many columns ``text`` takes in a notebook's output, to the nearest one: :data:`WIDE` for a
    wide character (Chinese, full-width punctuation: East Asian width W or F), none for a combining
    mark, one for the others."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    narrow = sum(not unicodedata.combining(c) for c in text) - wide
    return math.floor(narrow + WIDE * wide + 0.5)


_PADDING = re.compile(r"(?:(?P<fill>.)?(?P<align>[<>^]))?(?P<width>\d+)?s?")


class Text(str):
    """A ``str`` whose format spec (``"14"``, ``">11s"``, ``"*^9"``) pads to a number of
    :func:`columns`, not of characters: ``f"{Text('分类头'):8}|"`` is ``"分类头   |"``. Any other spec
    (a precision, ``=``) formats as ``str`` does."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        match = _PADDING.fullmatch(spec)
        if not match:
            return str.__format__(str(self), spec)
        fill, align = match["fill"] or " ", match["align"] or "<"
        pad = max(0, int(match["width"] or 0) - columns(self))
        left = {"<": 0, ">": pad, "^": pad // 2}[align]
        return fill * left + str(self) + fill * (pad - left)


#: Figure labels and titles the notebooks pass through :func:`figure_text`, in Chinese.
FIGURE_TEXT = {
    "loss": "损失",
    "chance, ln C": "随机猜测，ln C",
    "p(true class)": "p(真实类别)",
    "gradient on the true logit: p - 1": "真实类别 logit 上的梯度：p - 1",
    "batch": "批量",
    "learning rate": "学习率",
    "cosine annealing": "余弦退火",
    "too small": "太小",
    "right": "合适",
    "too large": "太大",
    "with zero_grad": "调用 zero_grad",
    "without zero_grad": "不调用 zero_grad",
    "training loss": "训练损失",
    "Trainable parameters at width d = 256": "宽度 d = 256 时的可训练参数",
    "ResNet-50: parameters per stage": "ResNet-50：各阶段的参数量",
    "MLP on 8x8 digits, SGD + Nesterov, cosine schedule": "8x8 手写数字上的多层感知机，SGD + Nesterov 动量，余弦调度",
    # notebook 04
    "rows: source letters · near target: new glyphs, unseen fonts · far target: digits":
        "各行：源任务字母 · 近目标：新字形、未见过的字体 · 远目标：数字",
    "activation std": "激活值标准差",
    "forward: activations through depth": "前向：激活值随深度的变化",
    "weight-gradient std": "权重梯度标准差",
    "backward: gradients per layer": "反向：各层的梯度",
    "gradient norm": "梯度范数",
    "conv layer (input -> output)": "卷积层（输入 -> 输出）",
    "gradient norm per conv layer at initialization": "初始化时各卷积层的梯度范数",
    "ln 10 (chance)": "ln 10（随机猜测）",
    "step": "步",
    "training loss (mean of 3 seeds)": "训练损失（3 个随机种子的均值）",
    "five 22-layer networks and a 2-layer MLP, same budget": "五个 22 层网络和一个两层 MLP，相同预算",
    "pretraining ResNet-50 on letters": "在字母上预训练 ResNet-50",
    "conv1 at random init": "随机初始化时的 conv1",
    "conv1 after pretraining": "预训练后的 conv1",
    "pretrained features of 5 test letters (PCA)": "5 个测试字母的预训练特征（PCA）",
    "PC 1": "主成分 1",
    "PC 2": "主成分 2",
    # notebook 05
    "near: new glyphs, unseen fonts": "近目标：新字形、未见过的字体",
    "far: handwritten digits": "远目标：手写数字",
    "test set": "测试集",
    "{n} mistakes first": "前 {n} 个为错误预测",
    # notebook 06
    "{n:,} trainable": "{n:,} 个可训练参数",
    "test accuracy, mean ± std of 3 seeds (dashed: chance)":
        "测试准确率，3 个随机种子的均值 ± 标准差（虚线：随机猜测）",
    "Adapting to hotel/phone reviews written with new words, 400 examples": "适配用新词写成的酒店/手机评论，400 个样本",
    "full, fp32 Adam": "全量微调，fp32 Adam",
    "full, autocast bf16 (fp32 weights, grads, Adam)": "全量微调，autocast bf16（fp32 权重、梯度、Adam）",
    "full, bf16 weights + fp32 master copy": "全量微调，bf16 权重 + fp32 主权重",
    "LoRA r=8 on q, v, bf16 weights ({share:.2%} trainable)": "LoRA r=8 作用于 q、v，bf16 权重（{share:.2%} 可训练）",
    "full, autocast bf16, FSDP on 8 GPUs": "全量微调，autocast bf16，8 块 GPU 上的 FSDP",
    "one 80 GB GPU": "一块 80 GB 的 GPU",
    "Training LLaMA-7B: memory per GPU (estimated)": "训练 LLaMA-7B：每块 GPU 的内存（估计）",
    # notebook 07 (small GPT)
    "train (one batch)": "训练（单个批量）",
    "validation": "验证",
    "ln V (uniform guess)": "ln V（均匀猜测）",
    "next-token loss": "下一个词元的损失",
}


def figure_text(text: str, value: str | None = None, *, table: Mapping[str, str] | None = None) -> str:
    """A figure's label in the current language, from ``table`` (default :data:`FIGURE_TEXT`).
    Chinese only when a CJK font is installed (:func:`use_cjk_font`): without one, matplotlib
    would draw empty boxes and warn, so the label stays English. Text not in the table is
    returned as is."""
    table = FIGURE_TEXT if table is None else table
    if language(value) != "zh" or text not in table:
        return text
    return table[text] if use_cjk_font() else text


#: CJK fonts tried in order: Noto Sans CJK (Debian's fonts-noto-cjk, Google's download), then the
#: fonts macOS and Windows ship with, then WenQuanYi (older Linux).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB",
             "Microsoft YaHei", "SimHei", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Noto Sans CJK JP")


#: Where Linux packages put a CJK font: Debian/Ubuntu's (and Colab's) fonts-noto-cjk, fonts-wqy-zenhei.
CJK_FONT_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                  "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def cjk_font(fonts=None) -> str | None:
    """The first font of :data:`CJK_FONTS` among ``fonts`` (matplotlib ``FontEntry`` objects), or None.
    Default: the fonts matplotlib knows, ``font_manager.fontManager.ttflist``, plus a file of
    :data:`CJK_FONT_FILES` installed since matplotlib listed them (:func:`register_cjk_font_file`).
    :func:`use_cjk_font` and the doctor's font check both ask this."""
    if fonts is None:
        from matplotlib import font_manager

        manager = font_manager.fontManager
        return cjk_font(manager.ttflist) or register_cjk_font_file(manager)
    installed = {font.name for font in fonts}
    return next((name for name in CJK_FONTS if name in installed), None)


def register_cjk_font_file(manager, paths=None) -> str | None:
    """Add to ``manager`` (matplotlib's ``FontManager``) the first file of ``paths`` (default
    :data:`CJK_FONT_FILES`) that exists and that it does not list yet (``manager.addfont``): a font
    installed while the kernel runs, e.g. by a Chinese notebook's Colab setup cell, is used without
    a restart. Returns the CJK font then listed (:func:`cjk_font`), or None."""
    listed = {font.fname for font in manager.ttflist}
    for path in CJK_FONT_FILES if paths is None else paths:
        if path not in listed and os.path.isfile(path):
            manager.addfont(path)
            found = cjk_font(manager.ttflist)
            if found is not None:
                return found
    return None


def use_cjk_font() -> str | None:
    """Put :func:`cjk_font` in front of matplotlib's sans-serif list, so that Chinese figure
    labels render (not as empty boxes); return its name, or None when no CJK font is installed
    (then labels should stay in English: :func:`figure_text` does that)."""
    found = cjk_font()
    if found is not None:
        import matplotlib as mpl

        families = [name for name in mpl.rcParams["font.sans-serif"] if name != found]
        mpl.rcParams["font.sans-serif"] = [found, *families]
        mpl.rcParams["font.family"] = "sans-serif"
        mpl.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212 (minus)
    return found
