"""A compact maximum-likelihood SEM engine for confirmatory factor models.

:mod:`pipeline.measure.sem.engine` builds and fits (multi-group, second-order) CFA models from sample
moments; :mod:`pipeline.measure.sem.indices` computes what ``lavaan`` reports about a fitted model (fit
measures, standardised solution, modification indices, score tests). The public, user-facing
functions live in :mod:`pipeline.measure.cfa`.
"""
