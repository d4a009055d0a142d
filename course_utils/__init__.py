"""Support package for the course "From Scratch: Deep Model Development and Fine-Tuning".

Importing it has no side effects: nothing is seeded, printed, downloaded or restyled.
Import what you need explicitly, e.g. ``from course_utils.repro import seed_everything``.
"""

__all__ = []

__version__ = "0.1.0"
