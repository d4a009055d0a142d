"""The course's experiments: what is too long or too repetitive to read in a notebook cell.

Pretraining the course's ResNet-50 and GPT (cached on disk), the sweeps of notebooks 04 and 08,
the transfer grid and per-stage probes of notebook 05 and the command line, and where a
ResNet-50's weights come from. The notebooks show these runs and assert what they print; a lesson
module never imports from here (``tests/test_layering.py``).
"""

__all__ = []
