"""Tests of pipeline/ingest/ties.py: reading and cleaning tie lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.ids import id_text, node_ids
from pipeline.ingest.ties import read_ties, tie_list, type_slug


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def edge_map(tl) -> dict:
    return {(r.source, r.target): r for r in tl.edges.itertuples(index=False)}


def test_undirected_duplicates_merged_either_orientation(tmp_path):
    p = write(tmp_path, "ties.csv",
              "Source,Target,Weight,Type\n"
              "A,B,1,supply\n"
              "B,A,2.5,R&D\n"         # same pair, other orientation
              "A,B,,supply\n"         # empty weight -> 1
              "A,C,3,supply\n"
              "C,C,4,supply\n"        # self-loop
              "D,A,1,\n")
    tl = read_ties(p, directed=False)
    e = edge_map(tl)
    assert set(e) == {("A", "B"), ("A", "C"), ("A", "D")}
    assert e[("A", "B")].weight == 4.5 and e[("A", "B")].ties == 3
    assert tl.types == ("R&D", "supply")
    ab = tl.edges.set_index(["source", "target"]).loc[("A", "B")]
    assert ab["ties_supply"] == 2 and ab["ties_R&D"] == 1
    ad = tl.edges.set_index(["source", "target"]).loc[("A", "D")]
    assert ad["ties_supply"] == 0 and ad["ties_R&D"] == 0 and ad["ties"] == 1
    assert tl.self_loops_dropped == 1 and tl.duplicates_merged == 2 and tl.rows_read == 6
    text = " ".join(tl.notes)
    assert "1 self-loop(s)" in text and "2 duplicate tie(s)" in text
    assert "1 tie(s) have no weight" in text and "1 tie(s) have no type" in text


def test_directed_keeps_both_directions(tmp_path):
    p = write(tmp_path, "ties.csv", "from,to,weight\nA,B,1\nB,A,2\nA,B,3\n")
    tl = read_ties(p, directed=True)
    e = edge_map(tl)
    assert e[("A", "B")].weight == 4 and e[("B", "A")].weight == 2
    assert tl.duplicates_merged == 1
    # Merging the directed list again as undirected folds the mutual pair.
    und = tie_list(tl.edges, directed=False)
    assert len(und.edges) == 1 and und.edges.weight.iloc[0] == 6 and und.edges.ties.iloc[0] == 3
    assert und.duplicates_merged == 2


def test_ids_are_text(tmp_path):
    p = write(tmp_path, "ties.tsv", "source\ttarget\n0012\t12\n 007 \t7\n")
    tl = read_ties(p, directed=False)
    assert set(map(tuple, tl.edges[["source", "target"]].to_numpy())) == {
        ("0012", "12"), ("007", "7")}
    assert id_text(12.0) == "12" and id_text(np.int64(5)) == "5" and id_text(2.5) == "2.5"
    assert list(node_ids(pd.Series([1.0, 20.0]))) == ["1", "20"]
    assert list(node_ids(pd.Series([" a", "0012"]))) == ["a", "0012"]
    assert list(node_ids([3, "03"])) == ["3", "03"]
    assert list(node_ids(pd.Series([None, " ", 4.0], dtype=object))) == ["", "", "4"]
    assert id_text(None) is None and id_text(" ") is None and id_text(True) == "True"


def test_xlsx_numbers_and_text_and_row_numbers(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Survey of ties"       # a title row above the header
    ws.append([])
    ws.append(["SOURCE", "Target", "weight", "note"])   # header in row 3
    ws.append(["0012", 12, 2])                          # row 4
    ws.append([13.0, "x", 1.5])                         # row 5
    ws.append(["y", None, "lots"])                       # row 6: two problems
    p = tmp_path / "ties.xlsx"
    wb.save(p)
    with pytest.raises(StudyError) as e:
        read_ties(p, directed=True)
    msg = str(e.value)
    assert "row 6, column 'Target': empty target id" in msg
    assert "row 6, column 'weight': weight 'lots' is not a number" in msg
    assert ws.cell(row=6, column=3).value == "lots"  # the row number is the sheet's
    ws.delete_rows(6)
    wb.save(p)
    tl = read_ties(p, directed=True)
    e = edge_map(tl)
    assert set(e) == {("0012", "12"), ("13", "x")}
    assert e[("13", "x")].weight == 1.5
    # A header row with an unrecognised column is noted.
    ws.delete_rows(1, 2)
    wb.save(p)
    tl = read_ties(p, directed=True)
    assert any("columns ignored: 'note'" in n for n in tl.notes)


def test_every_bad_row_reported(tmp_path):
    p = write(tmp_path, "ties.csv",
              "source,target,weight\n"
              "A,B,1\n"         # row 2 ok
              ",B,1\n"          # row 3 empty source
              "A,B,-2\n"        # row 4 negative
              "\n"              # row 5 blank: skipped, numbering kept
              "A,C,abc\n"       # row 6 non-numeric
              "A,D,inf\n"       # row 7 non-finite
              "A,,nan\n")       # row 8 empty target and non-finite weight
    with pytest.raises(StudyError) as e:
        read_ties(p, directed=False)
    probs = e.value.problems
    got = {(pr.row, pr.column) for pr in probs}
    assert got == {(3, "source"), (4, "weight"), (6, "weight"), (7, "weight"), (8, "target"),
                   (8, "weight")}
    assert all(pr.file == str(p) and pr.fix for pr in probs)
    msg = str(e.value)
    assert "weight '-2' is negative" in msg
    assert "weight 'abc' is not a number" in msg and "weight 'inf' is not a finite number" in msg


def test_missing_columns(tmp_path):
    p = write(tmp_path, "ties.csv", "firm,partner,weight\nA,B,1\n")
    with pytest.raises(StudyError) as e:
        read_ties(p, directed=False)
    msg = str(e.value)
    assert "no 'source' column" in msg and "no 'target' column" in msg
    assert "'firm', 'partner', 'weight'" in msg and "row 1" in msg
    p2 = write(tmp_path, "t2.csv", "source,from,target\nA,B,C\n")
    with pytest.raises(StudyError, match="more than one source column"):
        read_ties(p2, directed=False)


def test_semicolon_decimal_comma_and_latin1(tmp_path):
    p = tmp_path / "ties.csv"
    p.write_bytes("source;target;weight\nMüller;B;2,5\nB;C;1\n".encode("cp1252"))
    tl = read_ties(p, directed=False)
    e = edge_map(tl)
    assert e[("B", "Müller")].weight == 2.5
    assert any("Windows-1252" in n for n in tl.notes)


def test_bad_file_kinds(tmp_path):
    with pytest.raises(StudyError, match="does not exist"):
        read_ties(tmp_path / "nope.csv", directed=False)
    p = write(tmp_path, "ties.json", "{}")
    with pytest.raises(StudyError, match="must be .csv"):
        read_ties(p, directed=False)
    p = write(tmp_path, "empty.csv", "\n\n")
    with pytest.raises(StudyError, match="empty"):
        read_ties(p, directed=False)


def test_no_weight_column_counts_rows():
    frame = pd.DataFrame({"source": ["a", "a", "b"], "target": ["b", "b", "c"]})
    tl = tie_list(frame, directed=False)
    assert not tl.weighted
    assert edge_map(tl)[("a", "b")].weight == 2.0


def test_type_slug():
    assert type_slug("R&D") == "r_d" and type_slug(" Supply chain ") == "supply_chain"


def test_corrupt_workbook_is_study_error(tmp_path):
    p = tmp_path / "ties.xlsx"
    p.write_bytes(b"this is not a zip file")
    with pytest.raises(StudyError, match="the tie list is not a valid .xlsx file"):
        read_ties(p, directed=False)
