"""Execute notebooks top to bottom, in place, in the same environment ``pytest --nbval`` uses.

    python -m tools.execute_notebooks notebooks/01_depth_and_parameters.ipynb [...]
    python -m tools.execute_notebooks --all      # English notebooks, then notebooks/zh/

This is how stored outputs are produced: one clean run, execution counts 1..N. Commit the
result; `make test` then compares a fresh run against it. The kind of CPU they were made on is
written to ``tests/stored_outputs_cpu.txt`` (pytest prints it beside this machine's): the stored
numbers reproduce bit for bit only on that kind of CPU. Re-execute every notebook on one machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tools.nbenv import NOTEBOOKS, OUTPUTS_CPU, all_notebooks, configure_env, cpu_kind


class NbvalLikeClient(NotebookClient):
    """Execute the way nbval sees a run, so stored outputs are what the comparison gets.

    nbval neither redirects what an ``Output`` widget captures (e.g. the text printed by an
    ``ipywidgets.interact`` callback) nor applies ``clear_output``: the captured text arrives as
    a plain cell output. Plain nbclient would hide it inside the widget's state, and strict nbval
    would then fail on "unexpected output". Mirroring nbval keeps that text visible in the stored
    notebook too (under the widget), which is also what a reader on a static page wants to see.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.widget_registry = {}  # no OutputModel hook: captured output stays in the cell

    def clear_output(self, outs, msg, cell_index):  # noqa: D102 - nbval ignores clear_output
        return None


def execute(path: Path, timeout: int = 1800) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NbvalLikeClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    for cell in nb.cells:  # keep diffs small: no per-cell execution metadata
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true",
                        help="every notebooks/*.ipynb in order, then the Chinese notebooks/zh/*.ipynb")
    args = parser.parse_args(argv)
    paths = all_notebooks() if args.all else args.notebooks
    if not paths:
        parser.error("name notebooks to execute, or pass --all")
    configure_env()
    made_on = cpu_kind()
    recorded = OUTPUTS_CPU.read_text().strip() if OUTPUTS_CPU.exists() else None
    mixed = recorded not in (None, made_on) and not args.all
    if mixed:  # the record keeps naming the other CPU: most outputs are still its
        print(f"warning: the other stored outputs were made on another kind of CPU "
              f"({recorded}); re-execute all of them here (--all)", file=sys.stderr)
    for path in paths:
        seconds = execute(path)
        where = path.resolve()
        label = where.relative_to(NOTEBOOKS) if where.is_relative_to(NOTEBOOKS) else path.name
        print(f"{label}: executed in {seconds:.1f} s", file=sys.stderr)
    if not mixed:
        OUTPUTS_CPU.write_text(made_on + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
