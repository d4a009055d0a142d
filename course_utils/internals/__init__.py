"""Plumbing no lesson needs to read: atomic file writes, saving and restoring random-number state.

Modules here import only each other (``tests/test_layering.py``).
"""

__all__ = []
