"""Maintainer tools (not part of the installed course package)."""
