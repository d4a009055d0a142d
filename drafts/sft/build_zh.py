"""Write the zh twin's Markdown from prose_zh.ZH (cells in the English order), after scaffold/sync-code."""
import sys
import nbformat
sys.path.insert(0, "/tmp/sft")
from prose_zh import ZH
ORDER = ["title", "s1", "s2", "s3", "s3b", "s3c", "s4", "s4b", "s5", "s6", "summary", "exercises", "implement", "open"]
path = "notebooks/zh/08_instruction_tuning.ipynb"
nb = nbformat.read(path, as_version=4)
mds = [c for c in nb.cells if c.cell_type == "markdown"]
assert len(mds) == len(ORDER), (len(mds), len(ORDER))
for cell, key in zip(mds, ORDER):
    if key in ZH:
        cell.source = ZH[key].strip("\n")
nbformat.write(nb, path)
print("missing:", [k for k in ORDER if k not in ZH])
