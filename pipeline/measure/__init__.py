"""Measurement: from coded item responses to construct scores a reviewer can trust.

Modules
-------
moments      item moments in one pass (pairwise and listwise), streaming accumulator
reliability  alpha (psych::alpha), Feldt CI, omega total (psych::omega), item statistics
factors      KMO, Bartlett, parallel analysis, MAP, EFA (ml/minres + GPArotation rotations)
cfa          CFA and multi-group invariance (lavaan), factor scores
scores       mean scores (scoring: mean)
sem/         the ML engine the CFA runs on (from sample moments) and its optimiser (lbfgsb)

This package's ``__init__`` imports nothing: each stage imports the module it needs.
"""
