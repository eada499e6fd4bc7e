"""A quote never closed in a csv cell swallowed the rows after it without a word (issue 17:
1,470 of 1,570 rows read as one cell). The file is refused, naming the row and column."""

from __future__ import annotations

import pytest

from pipeline.errors import StudyError
from pipeline.ingest.tables import read_table


def _export(path, n=1570, bad_row=101, closed_at=None, encoding="utf-8"):
    """An export whose comment cell in data row ``bad_row`` opens a quote never closed (or
    closed by a quoted word in data row ``closed_at``)."""
    rows = ["id,q1,q2,comment"]
    for i in range(1, n + 1):
        c = "très bien" if encoding == "cp1252" and i < 4 else "fine"
        if i == bad_row:
            c = '"Great, but'
        if i == closed_at:
            c = 'said "ok"'
        rows.append(f"r{i},{i % 5 + 1},{(i * 3) % 5 + 1},{c}")
    path.write_text("\n".join(rows) + "\n", encoding=encoding)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_unterminated_quote_names_the_row(tmp_path, encoding):
    path = _export(tmp_path / "survey.csv", encoding=encoding)
    with pytest.raises(StudyError) as e:
        read_table(path, what="survey export")
    msg = str(e.value)
    assert "row 102" in msg and "'comment'" in msg  # data row 101 is file row 102
    assert "1469 following rows" in msg and "end of the file" in msg
    assert 'written twice: ""' in msg


def test_quote_closed_far_below_names_both_rows(tmp_path):
    path = _export(tmp_path / "survey.csv", closed_at=1500)
    with pytest.raises(StudyError) as e:
        read_table(path, what="survey export")
    assert "row 102" in str(e.value) and "line 1501" in str(e.value)


def test_cells_with_line_breaks_are_kept(tmp_path):
    """Genuine multi-line answers (comments with line breaks and commas) are no problem."""
    rows = ["id,q1,q2,comment"] + [f'r{i},1,2,"line one\nline, two"' for i in range(50)]
    path = tmp_path / "survey.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    t = read_table(path, what="survey export")
    assert t.frame.shape == (50, 4)
    assert t.frame["comment"].iloc[-1] == "line one\nline, two"
    assert list(t.rows[:3]) == [2, 3, 4]  # records, as a spreadsheet shows them
