"""Delimited text parsed by pyarrow's C++ reader, without pandas.

The fast path of :func:`pipeline.ingest.tables.read_grid` for csv/tsv exports, kept free of
pandas (and of everything but the standard library until pyarrow parses) so that
:mod:`pipeline.ingest.readahead` can run it while the interpreter is still importing pandas.
"""

from __future__ import annotations

import csv
import io

DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(text: str, truncated: bool = False) -> str:
    """The delimiter that splits the first records into the same number (> 1) of fields.

    csv.Sniffer is fooled by question texts with commas and line breaks in quoted header cells
    (Qualtrics, SurveyMonkey), so each candidate is tried on the first complete records instead;
    the one giving consistent, widest records wins (comma on ties). ``truncated``: ``text`` is
    only the beginning of the file.
    """
    sample = text[:200_000]
    truncated = truncated or len(text) > len(sample)
    best, best_score = ",", (-1, -1)
    for d in DELIMITERS:
        records, filled, complete = [], 0, True
        try:  # the first 30 records are enough (not all of the 200,000 characters)
            for r in csv.reader(io.StringIO(sample), delimiter=d):
                records.append(r)
                filled += bool(r)
                if filled > 30:
                    complete = False
                    break
        except csv.Error:
            continue
        if truncated and complete and len(records) > 1:
            records = records[:-1]
        records = [r for r in records if r][:30]
        if not records:
            continue
        widths = [len(r) for r in records]
        consistent = sum(w == widths[0] for w in widths) / len(widths)
        score = (int(widths[0] > 1) + consistent, widths[0])
        if score > best_score:
            best, best_score = d, score
    return best


def utf8_arrow_cells(raw: bytes, tsv: bool):
    """The common case without decoding the file in Python: UTF-8 text (BOM or not) that
    pyarrow parses whole. pyarrow validates every cell as UTF-8 (``check_utf8``), so a file it
    accepts is exactly one that decodes as UTF-8; anything else (UTF-16, Windows-1252, binary,
    blank lines or ragged rows inside) returns None and takes the general path, which decodes
    the text, explains problems and keeps row numbers."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4096]:
        return None
    bom = raw.startswith(b"\xef\xbb\xbf")
    start = 3 if bom else 0
    head = raw[start:start + 1_000_000]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.start < len(head) - 3:
            return None
        text = head[:exc.start].decode("utf-8")  # the prefix cut a character in two
    delimiter = "\t" if tsv else sniff_delimiter(text, truncated=len(raw) - start > len(head))
    table = arrow_csv(raw, text, delimiter)
    if table is None:
        return None
    return None, "utf-8 (BOM)" if bom else "utf-8", delimiter, table


def arrow_csv(raw: bytes | None, text: str, delimiter: str):
    """Every record as arrow strings (pyarrow's C++ reader, no Python object per cell) -- a
    pyarrow Table with columns 0..width-1 -- or None when the file has blank lines or ragged rows
    inside it, or is not UTF-8 (the pandas path handles those and keeps their row numbers).

    ``text`` is the file's text or a prefix of it (for the width of the first record)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        first = next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=delimiter))
    except (StopIteration, csv.Error):
        return None
    width = len(first)
    if raw is None:
        raw = text.encode("utf-8")
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    end = len(raw)
    while end > start and raw[end - 1] in b"\r\n":  # trailing blank lines are not rows
        end -= 1
    if end == start:
        return None
    buf = pa.py_buffer(raw)
    if start or end < len(raw):
        buf = buf.slice(start, end - start)  # no copy of the file
    # a file without quotes has no line break inside a value: the parser need not look for
    # them (~25% faster); 4 MiB blocks parse faster than larger ones (cache)
    quoted = raw.find(b'"', start, end) >= 0
    try:
        table = pacsv.read_csv(
            pa.BufferReader(buf),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    if table.num_columns != width:
        return None
    return table.rename_columns([str(i) for i in range(width)])
