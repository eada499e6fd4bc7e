"""Text for XML documents (the SVG figures, the xlsx workbook's parts).

XML 1.0 cannot hold control characters other than tab, newline and carriage return, nor U+FFFE
and U+FFFF: a file holding one does not parse. Survey text (item wording, cluster names pasted
from elsewhere) sometimes carries them, so they are dropped before escaping.
"""

from __future__ import annotations

import re
from html import escape

ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str, quote: bool = True) -> str:
    """``value`` escaped for XML, without the characters XML cannot hold."""
    return escape(ILLEGAL.sub("", value), quote=quote)
