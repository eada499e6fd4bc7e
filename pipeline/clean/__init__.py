"""Cleaning: from raw responses to analysable responses.

Modules
-------
mapping    export columns -> instrument items, file by file
coding     answers -> codes: labels to codes, missing codes by reason, reverse keying
quality    the exclusion rules (a list of small rule functions) and the careless-responding
           indices of the R package careless
text       text forms shared by the steps (normalised keys, cells as a user reads them)
responses  :func:`clean_responses`, the stage run.py calls, and :class:`CleanResult`
"""

from pipeline.clean.quality import RULE_LABELS, RULES
from pipeline.clean.responses import CleanResult, clean_responses

__all__ = ["RULES", "RULE_LABELS", "CleanResult", "clean_responses"]
