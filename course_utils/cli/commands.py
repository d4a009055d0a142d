"""``python -m course_utils finetune`` and ``predict``: your own images, two commands.

    python -m course_utils finetune --data DIR [--val DIR] --save MODEL.pt [--report DIR] ...
    python -m course_utils predict --model MODEL.pt IMAGE_OR_FOLDER [...] [--top K] [--csv FILE]

:func:`run` runs one: :mod:`~course_utils.cli.finetune` (its ``auto`` and ``cut-*`` strategies in
:mod:`~course_utils.cli.cut`) or :mod:`~course_utils.cli.predict`, with the arguments of
:mod:`~course_utils.cli.arguments`. Every argument, folder and output path is checked before any
weights are loaded or any training starts; a problem is one line on stderr (exit status 2) that says
what to do.

The commands' own errors and warnings are in the ``MESSAGES`` table of each of these modules
(English -> Chinese, :mod:`course_utils.i18n`), in the language in use (``i18n.language()``: e.g.
``COURSE_LANG=zh``); errors raised by the modules below them (image folders, weights, checkpoints)
and argparse's usage errors keep their English text.
"""

from __future__ import annotations

import sys

from course_utils.cli.arguments import CommandError, add_finetune_arguments, add_predict_arguments
from course_utils.cli.finetune import run_finetune
from course_utils.cli.predict import run_predict
from course_utils.data.images import ImageFolderError
from course_utils.experiments.weights import WeightsError
from course_utils.i18n import message

__all__ = ["add_finetune_arguments", "add_predict_arguments", "run"]

#: The line a problem is printed as: English template -> Chinese.
MESSAGES: dict[str, str] = {"error: {problem}": "错误：{problem}"}


def run(command: str, args) -> int:
    """Run a parsed command; bad input is one line on stderr and exit status 2."""
    try:
        if command == "finetune":
            run_finetune(args)
        else:
            run_predict(args)
    except (CommandError, ImageFolderError, WeightsError, FileNotFoundError, FloatingPointError) as exc:
        print(message(MESSAGES, "error: {problem}", problem=exc), file=sys.stderr)
        return 2
    return 0
