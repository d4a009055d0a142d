"""The command line, ``python -m course_utils doctor | finetune | predict``, and only what it needs.

Nothing else in the package imports from here (``tests/test_layering.py``).
"""

__all__ = []
