"""course_utils.i18n and the Chinese side of the learner-facing text: every message, answer-key
text and figure label exists in both languages, and the language is chosen as documented."""

from __future__ import annotations

import ast
import importlib
import os
import re
import string
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_utils import i18n, plots
from course_utils.exercises import MESSAGES, Exercise, answer_key
from course_utils.exercises.checks_gpt import _near_misses
from course_utils.gpt import Block, GPTConfig
from course_utils.plots import PLOT_TEXT
from tests.zh_text import CJK
from tools.import_graph import module_files
from tools.nbenv import NOTEBOOKS
from tools.sync_notebooks import course_config, setup_source


@pytest.fixture(autouse=True)
def automatic_language():
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def fields(template: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(template) if name)


@pytest.mark.parametrize("value, expected", [
    ("zh", "zh"), ("zh_CN.UTF-8", "zh"), ("zh-TW", "zh"), ("ZH", "zh"), ("en_US.UTF-8", "en"),
    ("C", None), ("POSIX", None), ("", None), (None, None), ("fr_FR.UTF-8", None),
])
def test_normalize(value, expected):
    assert i18n.normalize(value) == expected


def test_order_argument_then_setting_then_env_then_notebook_folder_then_locale(tmp_path):
    zh_dir = tmp_path / "notebooks" / "zh"
    zh_dir.mkdir(parents=True)
    en_dir = tmp_path / "notebooks"
    elsewhere = tmp_path
    assert i18n.language(environ={}, cwd=elsewhere) == "en"
    assert i18n.language(environ={"LANG": "zh_CN.UTF-8"}, cwd=elsewhere) == "zh"   # locale
    assert i18n.language(environ={"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, cwd=elsewhere) == "en"
    assert i18n.language(environ={"LANG": "zh_CN.UTF-8"}, cwd=en_dir) == "en"      # English notebook
    assert i18n.language(environ={"LANG": "en_US.UTF-8"}, cwd=zh_dir) == "zh"      # folder beats locale
    assert i18n.language(environ={"JPY_SESSION_NAME": str(zh_dir / "00_setup.ipynb")}, cwd=en_dir) == "zh"
    assert i18n.language(environ={"JPY_SESSION_NAME": str(en_dir / "00_setup.ipynb")}, cwd=zh_dir) == "en"
    assert i18n.language(environ={"COURSE_LANG": "en"}, cwd=zh_dir) == "en"        # env beats folder
    i18n.set_language("zh")
    assert i18n.language(environ={"COURSE_LANG": "en"}, cwd=en_dir) == "zh"        # setting beats env
    assert i18n.language("en") == "en"                                             # argument beats all


def test_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="use one of en, zh"):
        i18n.set_language("fr")
    with pytest.raises(ValueError, match="use one of en, zh"):
        i18n.language("klingon")


def message_tables() -> dict[str, dict]:
    """Every module-level table of the package that holds Chinese: ``{"printed.ZH": {...}, ...}``
    (a table another module imports is listed once, under the shortest name)."""
    found: dict[int, tuple[str, dict]] = {}
    for name in sorted(module_files(), key=len):
        if name in ("__init__", "__main__"):
            continue
        module = importlib.import_module(f"course_utils.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, dict) and id(value) not in found and CJK.search(repr(value)):
                found[id(value)] = (f"{name}.{attr}", value)
    return dict(found.values())


def test_every_message_table_of_the_package_has_the_one_shape_and_the_same_fields():
    """Issue 31: one shape, ``{English: Chinese}``, str to str, the same ``{fields}`` in both."""
    tables = message_tables()
    assert {"printed.ZH", "printed.WORDS", "i18n.FIGURE_TEXT", "plots.PLOT_TEXT", "sft.FIGURE_TEXT",
            "experiments.stage_probe.PLOT_TEXT", "exercises.MESSAGES", "exercises.checks_training.MESSAGES",
            "exercises.checks_finetune.MESSAGES", "exercises.checks_sft.MESSAGES", "exercises.checks_gpt.MESSAGES",
            "cli.commands.MESSAGES", "cli.doctor.MESSAGES", "experiments.weights.MESSAGES"} <= set(tables), tables
    for name, table in tables.items():
        for english, chinese in table.items():
            assert isinstance(english, str) and isinstance(chinese, str), (name, english, chinese)
            assert not CJK.search(english), (name, english)
            assert chinese.strip() and (CJK.search(chinese) or chinese == english), (name, english, chinese)
            assert fields(english) == fields(chinese), (name, english, chinese)


def literal_texts(node: ast.expr) -> list[str] | None:
    """The texts a call's argument can be: a literal, or either side of ``a if c else b``; None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        sides = [literal_texts(node.body), literal_texts(node.orelse)]
        return None if None in sides else sides[0] + sides[1]
    return None


def table_calls(tree: ast.Module) -> list[tuple[str, ast.expr, ast.expr]]:
    """``(function, table, text)`` for each ``message(table, text, ...)`` and ``translate(table, text)``
    of a module, and each call of a one-parameter wrapper ``def f(text, ...): return message(TABLE, text, ...)``
    (the wrapper's own call is left out: its text is its parameter)."""
    wrappers, inside = {}, set()
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        for call in ast.walk(fn):  # a call whose text is a parameter of its function: a wrapper's
            name = getattr(getattr(call, "func", None), "attr", getattr(getattr(call, "func", None), "id", None))
            if isinstance(call, ast.Call) and name in ("message", "translate") and len(call.args) >= 2 \
                    and isinstance(call.args[1], ast.Name) and call.args[1].id in params:
                inside.add(id(call))
                if call.args[1].id == params[0]:
                    wrappers[fn.name] = call.args[0]
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or id(call) in inside:
            continue
        name = getattr(call.func, "attr", getattr(call.func, "id", None))
        if name in ("message", "translate") and len(call.args) >= 2:
            found.append((name, call.args[0], call.args[1]))
        elif isinstance(call.func, ast.Name) and name in wrappers and call.args:
            found.append((name, wrappers[name], call.args[0]))
    return found


#: The texts looked up by a variable, each run in Chinese by a test of its own: checks_gpt's near-miss
#: hints (test_the_near_miss_hints_have_their_chinese), the sanity problems printed.say shows
#: (tests/test_printed.py::test_a_failed_check_is_printed_in_chinese).
NOT_LITERAL = {("exercises.checks_gpt", "hint"), ("printed", "value.template")}


def test_every_text_the_package_looks_up_is_in_its_table():
    """A literal text passed to ``message``/``translate`` (or a wrapper of them) has its Chinese, so the
    Chinese edition never raises the KeyError a missing entry raises; ``say``/``term`` are checked in
    tests/test_printed.py. The texts that are not a literal at their call (:data:`NOT_LITERAL`) are
    looked up by running them in Chinese."""
    problems, seen = [], 0
    for name, path in module_files().items():
        if name == "__init__":
            continue
        module = importlib.import_module(f"course_utils.{name}")
        for function, table, text in table_calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"course_utils/{name}: {function}({ast.unparse(table)}, {ast.unparse(text)[:60]})"
            texts = literal_texts(text)
            if texts is None:
                if (name, ast.unparse(text)) not in NOT_LITERAL:
                    problems.append(f"{where}: not a literal text")
                continue
            resolved = getattr(module, table.id, None) if isinstance(table, ast.Name) else None
            if not isinstance(resolved, dict):
                problems.append(f"{where}: not a module-level table")
                continue
            seen += len(texts)
            problems += [f"{where}: no Chinese for {t!r}" for t in texts if t not in resolved]
    assert seen > 150, f"only {seen} texts found: is the search broken?"
    assert not problems, "\n".join(problems)


def test_the_near_miss_hints_have_their_chinese():
    i18n.set_language("zh")
    block = Block(GPTConfig(vocab_size=8, context_length=16, d_model=8, n_heads=2))
    hints = _near_misses(block, torch.randn(1, 3, 8))
    assert len(hints) == 6 and all(CJK.search(hint) for hint in hints)


def test_message_and_translate_read_the_one_shape_and_refuse_a_missing_chinese_entry():
    table = {"{n} files": "{n} 个文件"}
    i18n.set_language("zh")
    assert i18n.message(table, "{n} files", n=3) == "3 个文件"
    assert i18n.translate(MESSAGES, "Check") == "检查"
    with pytest.raises(KeyError, match="no Chinese for 'Nobody translated me': add it to its message table"):
        i18n.message(table, "Nobody translated me")
    with pytest.raises(KeyError, match="add it to course_utils.exercises.MESSAGES"):
        i18n.translate(MESSAGES, "Nobody translated me")
    i18n.set_language("en")
    assert i18n.message(table, "{n} files", n=3) == "3 files"
    assert i18n.message(table, "Nobody translated me") == "Nobody translated me"  # English is the key itself
    assert i18n.message(table, "{{'model': x}}") == "{'model': x}"  # formatted in English too


@pytest.mark.parametrize("key", answer_key.keys())
def test_every_answer_key_entry_has_chinese_question_hint_and_solution(key):
    zh = answer_key.entry(key).get("zh", {})
    for part in ("question", "hint", "solution"):
        assert re.search(r"[\u4e00-\u9fff]", zh.get(part, "")) or (part != "question" and zh.get(part)), (
            f"{key}: no Chinese {part}")


def test_exercise_speaks_the_language_in_use():
    ex = Exercise("English question", key="02.1")
    i18n.set_language("en")
    assert ex.question == "English question" and "Hint: At chance" in str(ex.check(3))
    i18n.set_language("zh")
    assert ex.question.startswith("一个用于 ImageNet")
    assert str(ex.check(3)) == "❌ 3 还不对。提示：随机猜测时损失为 ln C。"
    assert str(ex.check("６．９０８")) == "✅ 正确：6.908。"           # full-width input, Chinese verdict
    assert str(ex.check(None)).startswith("⏳ 等待你的答案")


def test_exercise_without_key_keeps_its_own_text_in_chinese():
    i18n.set_language("zh")
    ex = Exercise("Q", answer=1, hint="H")
    assert ex.question == "Q" and str(ex.check(2)) == "❌ 2 还不对。提示：H"


def test_widget_labels_in_chinese():
    i18n.set_language("zh")
    box = Exercise("Q", key="02.1").widget()
    labels = [child.description for child in box.children[1].children[1:]]
    assert labels == ["检查", "提示", "显示解答"]
    assert repr(box).startswith("练习：一个用于 ImageNet")


def test_figure_text_needs_zh_and_a_cjk_font(monkeypatch):
    assert i18n.figure_text("loss", "en") == "loss"
    monkeypatch.setattr(i18n, "use_cjk_font", lambda: None)
    assert i18n.figure_text("loss", "zh") == "loss"          # no font: English, no empty boxes
    monkeypatch.setattr(i18n, "use_cjk_font", lambda: "Noto Sans CJK SC")
    assert i18n.figure_text("loss", "zh") == "损失"
    assert i18n.figure_text("not in the table", "zh") == "not in the table"
    assert i18n.figure_text("epoch", "zh", table=PLOT_TEXT) == "迭代周期"


class Font:
    def __init__(self, name, fname=""):
        self.name, self.fname = name, fname


def test_cjk_font_is_the_first_of_the_list_that_is_installed():
    assert i18n.cjk_font([Font("DejaVu Sans")]) is None
    assert i18n.cjk_font([Font("SimHei"), Font("Noto Sans CJK SC"), Font("DejaVu Sans")]) == "Noto Sans CJK SC"


def test_use_cjk_font_picks_an_installed_font_or_none():
    import matplotlib as mpl

    before = list(mpl.rcParams["font.sans-serif"])
    try:
        found = i18n.use_cjk_font()
        assert found == i18n.cjk_font()
        assert found is None or (found in i18n.CJK_FONTS and mpl.rcParams["font.sans-serif"][0] == found)
    finally:
        mpl.rcParams["font.sans-serif"] = before


class FontManager:
    """What :func:`i18n.register_cjk_font_file` uses of matplotlib's ``FontManager``."""

    def __init__(self, fonts=()):
        self.ttflist, self.added = list(fonts), []

    def addfont(self, path):
        self.added.append(path)
        self.ttflist.append(Font("Noto Sans CJK JP", path))  # face 0 of NotoSansCJK-Regular.ttc


def test_a_cjk_font_file_installed_after_matplotlib_listed_its_fonts_is_registered(tmp_path):
    manager = FontManager([Font("DejaVu Sans", "/fonts/DejaVuSans.ttf")])
    font_file = tmp_path / "NotoSansCJK-Regular.ttc"
    assert i18n.register_cjk_font_file(manager, [str(font_file)]) is None and manager.added == []  # not there
    font_file.write_bytes(b"")
    assert i18n.register_cjk_font_file(manager, [str(font_file)]) == "Noto Sans CJK JP"
    assert i18n.register_cjk_font_file(manager, [str(font_file)]) is None  # listed now: added only once
    assert manager.added == [str(font_file)]


def test_the_real_matplotlib_registers_a_cjk_font_file_at_a_known_path():
    from matplotlib.font_manager import FontManager as RealFontManager

    path = next((p for p in i18n.CJK_FONT_FILES if Path(p).is_file()), None)
    if path is None:
        pytest.skip("no CJK font file at a known path on this machine")
    manager = object.__new__(RealFontManager)  # an empty list: as if matplotlib listed fonts before
    manager.ttflist, manager.afmlist = [], []
    assert i18n.register_cjk_font_file(manager, [path]) in i18n.CJK_FONTS


# ---- the environments a notebook runs in: which says "Chinese"? --------------------------------

@pytest.fixture
def kernel(monkeypatch, tmp_path):
    """A fresh kernel process in a folder that says nothing (Colab's /content): no COURSE_LANG,
    locale or JupyterLab session, no IPython shell; ``subprocess.run`` records the commands (a
    fake pip and apt) and returns success. Returns the list of commands run."""
    monkeypatch.setenv("COURSE_LANG", "")
    for var in ("COURSE_LANG", "JPY_SESSION_NAME", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.chdir(tmp_path)
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", run)
    return commands


def on_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def run_setup_cell(language, capsys):
    """Run the setup cell that tools.sync_notebooks writes into a notebook in ``language``, as
    the kernel would; return what it printed."""
    exec(compile(setup_source(course_config(), language), "<cell 1>", "exec"), {})
    return capsys.readouterr()


def test_colab_chinese_setup_cell_installs_the_course_and_a_font_and_chooses_chinese(kernel, monkeypatch,
                                                                                      capsys):
    on_colab(monkeypatch)
    assert i18n.language() == "en"  # /content: nothing says Chinese before the setup cell
    assert run_setup_cell("zh", capsys) == ("", "")
    pip, apt = kernel
    assert pip[:4] == [sys.executable, "-m", "pip", "install"] and pip[-1].startswith("course-utils @ git+https://")
    assert apt == ["apt-get", "-qq", "install", "-y", "fonts-noto-cjk"]
    assert i18n.language() == "zh"


def test_colab_chinese_figure_labels_after_the_setup_cell_without_a_restart(kernel, monkeypatch, capsys,
                                                                             tmp_path):
    import matplotlib as mpl
    from matplotlib import font_manager

    font_file = tmp_path / "fonts" / "NotoSansCJK-Regular.ttc"
    manager = FontManager([Font("DejaVu Sans", "/fonts/DejaVuSans.ttf")])  # listed before the install
    monkeypatch.setattr(font_manager, "fontManager", manager)
    monkeypatch.setattr(i18n, "CJK_FONT_FILES", (str(tmp_path / "missing.ttc"), str(font_file)))
    run = subprocess.run

    def apt_installs_the_font(command, **kwargs):
        if command[0] == "apt-get":
            font_file.parent.mkdir()
            font_file.write_bytes(b"")
        return run(command, **kwargs)

    monkeypatch.setattr(subprocess, "run", apt_installs_the_font)
    on_colab(monkeypatch)
    with mpl.rc_context():
        assert i18n.figure_text("loss") == "loss"
        run_setup_cell("zh", capsys)
        assert i18n.figure_text("loss") == "损失" and manager.added == [str(font_file)]
        assert mpl.rcParams["font.sans-serif"][0] == "Noto Sans CJK JP"


def test_off_colab_the_chinese_setup_cell_only_chooses_chinese(kernel, capsys):
    assert run_setup_cell("zh", capsys) == ("", "")
    assert kernel == [] and i18n.language() == "zh"


def test_a_learners_course_lang_wins_over_the_chinese_setup_cell(kernel, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_LANG", "en")
    run_setup_cell("zh", capsys)
    assert i18n.language() == "en"


def test_the_english_setup_cell_installs_on_colab_only_and_chooses_nothing(kernel, monkeypatch, capsys):
    assert run_setup_cell("en", capsys) == ("", "")
    assert kernel == [] and "COURSE_LANG" not in os.environ
    on_colab(monkeypatch)
    assert run_setup_cell("en", capsys) == ("", "")
    assert [command[3] for command in kernel] == ["install"] and kernel[0][2] == "pip"
    assert i18n.language() == "en"


def vscode(monkeypatch, user_ns):
    """IPython running under VS Code: a shell whose user namespace VS Code filled."""
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: types.SimpleNamespace(user_ns=user_ns)
    monkeypatch.setitem(sys.modules, "IPython", fake)


def test_vscode_says_which_notebook_in_ipythons_user_namespace(kernel, monkeypatch, tmp_path):
    zh_dir = tmp_path / "notebooks" / "zh"
    zh_dir.mkdir(parents=True)
    vscode(monkeypatch, {"__vsc_ipynb_file__": str(zh_dir / "03_x.ipynb")})
    assert i18n.language() == "zh"
    vscode(monkeypatch, {"__vsc_ipynb_file__": str(tmp_path / "notebooks" / "03_x.ipynb")})
    assert i18n.language(cwd=zh_dir) == "en"  # the notebook's own path beats the kernel's folder
    vscode(monkeypatch, {})  # IPython without VS Code: the folder decides
    assert i18n.language(cwd=zh_dir) == "zh" and i18n.language() == "en"


def test_outside_ipython_language_does_not_import_it(kernel, tmp_path):
    assert i18n.language(environ={}, cwd=tmp_path) == "en"
    assert "IPython" not in sys.modules


def test_jupyterlab_says_which_notebook_in_jpy_session_name(kernel, tmp_path):
    session = str(tmp_path / "notebooks" / "zh" / "03_x.ipynb")
    assert i18n.language(environ={"JPY_SESSION_NAME": session}) == "zh"  # cwd: the server's folder
    assert i18n.language(environ={"JPY_SESSION_NAME": str(tmp_path / "03_x.ipynb")}) == "en"


def test_plain_jupyter_and_nbval_say_it_with_the_kernels_folder(kernel, tmp_path, monkeypatch):
    zh_dir = tmp_path / "notebooks" / "zh"
    zh_dir.mkdir(parents=True)
    monkeypatch.chdir(zh_dir)
    assert i18n.language() == "zh"
    monkeypatch.chdir(zh_dir.parent)
    assert i18n.language() == "en"


def plot_figures():
    """One figure per plot function, built with the labels the function writes itself."""
    hist = [{"epoch": 1, "train_loss": 2.0, "val_loss": 2.1, "train_acc": 0.3, "val_acc": 0.25},
            {"epoch": 2, "train_loss": 1.0, "val_loss": 1.2, "train_acc": 0.6, "val_acc": 0.5}]
    grid = [{"target": "t", "arm": "a", "k": k, "acc": acc} for k in (10, 20) for acc in (0.5, 0.6)]
    return {
        "parameter_counts": plots.plot_parameter_counts([{"name": "Linear", "parameters": 10},
                                                         {"name": "ReLU", "parameters": 0}]),
        "parameter_counts_linear": plots.plot_parameter_counts([{"name": "Linear", "parameters": 10}], log=False),
        "history": plots.plot_history(hist, baseline=2.302585, title="T"),
        "histories": plots.plot_histories({"a": hist, "b": hist}),
        "confusion": plots.plot_confusion_matrix([[2, 1], [0, 3]], ["cat", "dog"]),
        "prediction_grid": plots.plot_prediction_grid(np.zeros((2, 4, 4)), [0, 1], [0, 0], ["cat", "dog"], ncols=2),
        "layer_stats": plots.plot_layer_stats({"plain": [1.0, 0.5]}, ylabel="activation std"),
        "memory": plots.plot_memory_breakdown([{"name": "Adam", "weights": 4e9, "gradients": 4e9}], limit=80e9),
        "transfer_grid": plots.plot_transfer_grid(grid, [("t", "digits", (10, 20))], ["a"]),
    }


def figure_labels(fig) -> list[str]:
    found = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.texts)]
        if ax.get_legend():
            found += [t.get_text() for t in ax.get_legend().get_texts()]
    return [t for t in found if t]


#: What the plots wrote before their labels went through figure_text (read from the figures of
#: the previous plots.py; their PNG files were byte-identical to today's English ones, too).
ENGLISH_LABELS = {
    "parameter_counts": ["parameters (log scale)", "10", "0"],
    "parameter_counts_linear": ["parameters", "10"],
    "history": ["T", "epoch", "loss", "train loss", "val loss", "chance (2.303)", "epoch", "accuracy",
                "train accuracy", "val accuracy"],
    "histories": ["epoch", "train loss", "epoch", "val acc", "a", "b"],
    "confusion": ["predicted", "true", "2", "1", "3"],
    "prediction_grid": ["cat", "cat (true dog)"],
    "layer_stats": ["layer", "activation std", "plain"],
    "memory": ["GB", "8.0 GB", "device memory", "weights", "gradients", "optimizer", "activations"],
    "transfer_grid": ["digits", "labelled images per class", "test accuracy (mean ± std over seeds)", "a"],
}


@pytest.fixture
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_english_plot_labels_are_unchanged(close_figures, monkeypatch):
    monkeypatch.setattr(i18n, "use_cjk_font", lambda: pytest.fail("English figures must not touch fonts"))
    i18n.set_language("en")
    assert {name: figure_labels(fig) for name, fig in plot_figures().items()} == ENGLISH_LABELS


@pytest.mark.filterwarnings("ignore:Glyph")  # the font is pretended: the test reads labels, not pixels
def test_chinese_plot_labels_with_a_cjk_font(close_figures, monkeypatch):
    monkeypatch.setattr(i18n, "use_cjk_font", lambda: "Noto Sans CJK SC")
    i18n.set_language("zh")
    assert {name: figure_labels(fig) for name, fig in plot_figures().items()} == {
        "parameter_counts": ["参数量（对数坐标）", "10", "0"],
        "parameter_counts_linear": ["参数量", "10"],
        "history": ["T", "迭代周期", "损失", "训练损失", "验证损失", "随机猜测（2.303）", "迭代周期", "准确率",
                    "训练准确率", "验证准确率"],
        "histories": ["迭代周期", "训练损失", "迭代周期", "验证准确率", "a", "b"],
        "confusion": ["预测类别", "真实类别", "2", "1", "3"],
        "prediction_grid": ["cat", "cat（真实：dog）"],
        "layer_stats": ["层", "activation std", "plain"],     # the caller's own labels stay as given
        "memory": ["GB", "8.0 GB", "设备内存", "权重", "梯度", "优化器状态", "激活值"],
        "transfer_grid": ["digits", "每类有标签图像数", "测试准确率（各随机种子的均值 ± 标准差）", "a"],
    }


def test_chinese_plot_labels_without_a_cjk_font_stay_english(close_figures, monkeypatch):
    monkeypatch.setattr(i18n, "use_cjk_font", lambda: None)
    i18n.set_language("zh")
    assert {name: figure_labels(fig) for name, fig in plot_figures().items()} == ENGLISH_LABELS


def test_plot_text_agrees_with_the_notebooks_labels_and_keeps_the_fields():
    for key, zh in PLOT_TEXT.items():
        assert re.search(r"[\u4e00-\u9fff]", zh) and fields(key) == fields(zh), key
        assert i18n.FIGURE_TEXT.get(key, zh) == zh, f"{key!r}: two Chinese labels for one English one"


def figure_texts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [m for c in nb.cells if c.cell_type == "code"
            for m in re.findall(r'figure_text\("([^"]+)"\)', c.source)]


def test_every_figure_label_the_notebooks_translate_has_chinese():
    used = {t for path in sorted(NOTEBOOKS.glob("*.ipynb")) for t in figure_texts(path)}
    assert used, "no figure_text(...) call found: the parser is broken"
    assert used <= set(i18n.FIGURE_TEXT), used - set(i18n.FIGURE_TEXT)
    assert set(i18n.FIGURE_TEXT) <= used, f"unused entries: {set(i18n.FIGURE_TEXT) - used}"
