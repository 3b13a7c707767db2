"""Sphinx configuration for zoo's docs (built with -W: warnings are errors)."""

project = "zoo"
author = "the zoo developers"
copyright = "2026, the zoo developers"
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build", "examples"]
html_theme = "alabaster"
html_static_path: list[str] = []
nitpicky = False
