"""socap: social-capital survey exports to statistical evidence a reviewer will accept.

The package is called ``pipeline`` (the command is ``socap``). Stages live in one module each and
are wired together in :mod:`pipeline.run`; see DEVELOPERS.md for the conventions.
"""

__version__ = "0.3.0"

#: environment variable the ``socap`` command sets to "1" when every BLAS thread variable was 1
#: before NumPy loaded (see :func:`pipeline.cli.main`); :func:`pipeline.measure.moments.single_blas_thread`
#: then has nothing to limit
ONE_BLAS_THREAD_MARK = "SOCAP_ONE_BLAS_THREAD"
