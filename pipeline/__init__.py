"""socap: social-capital survey exports to statistical evidence a reviewer will accept.

The package is called ``pipeline`` (the command is ``socap``). Stages live in one module each and
are wired together in :mod:`pipeline.run`; see DEVELOPERS.md for the conventions.
"""

__version__ = "0.1.0"
