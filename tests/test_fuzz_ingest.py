"""Property-based tests: malformed exports and instruments give a result or a StudyError.

Whatever bytes, tables or YAML structures hypothesis generates, reading them either succeeds or
raises the user-error type (exit 2, a message) -- never another exception (which would be a
crash with exit 1).
"""

from __future__ import annotations

import io
import string
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.clean import clean_responses
from pipeline.errors import StudyError
from pipeline.ingest.survey import read_survey
from pipeline.ingest.tables import read_table
from pipeline.config.instrument import instrument_from_mapping, read_instrument
from pipeline.config.study import read_study

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

INSTRUMENT = """
scale: {min: 1, max: 5, labels: {1: Strongly disagree, 2: Disagree, 3: Neither, 4: Agree, 5: Strongly agree}}
missing: [-99, "Don't know"]
constructs:
  trust: {items: {t1: a, t2: {text: b, reverse: true}, t3: c}}
"""

cell = st.one_of(
    st.none(), st.integers(-1000, 1000), st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=string.printable + "éü日本語\u200b\ufeff\"',;\t", max_size=12),
    st.sampled_from(["Agree", "agree ", "Don't know", "-99", "=1+1", "@SUM(A1)", "TRUE", "1,5",
                     "NaN", "", " ", "5.0", "3e0", "\x00"]),
)
GOOD = st.sampled_from([1, 2, 3, 4, 5, "Agree", None, -99, "Don't know", 4.0])
header = st.lists(st.sampled_from(["id", "t1", "t2", "t3", "x", "", "t1", "Status", "Finished",
                                   "Duration (in seconds)", "Progress", "email", "ImportId",
                                   '{"ImportId":"QID1"}', "Q1_1", "_uuid", "grp/t1"]),
                  min_size=0, max_size=8)


def _csv(rows) -> bytes:
    out = io.StringIO()
    for r in rows:
        out.write(",".join("" if v is None else str(v).replace("\n", " ") for v in r) + "\n")
    return out.getvalue().encode("utf-8", "surrogatepass")


def _reads_or_study_error(fn):
    try:
        result = fn()
    except StudyError:
        event("StudyError")
        return None
    event("read")
    return result


@SETTINGS
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".tsv", ".xlsx", ".txt"]))
def test_random_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("bytes") / f"export{suffix}"
    path.write_bytes(data)
    _reads_or_study_error(lambda: read_table(path, what="survey export"))


@SETTINGS
@given(names=st.lists(st.sampled_from(["[Content_Types].xml", "xl/workbook.xml",
                                        "xl/worksheets/sheet1.xml", "xl/_rels/workbook.xml.rels",
                                        "xl/sharedStrings.xml", "docProps/app.xml"]),
                      unique=True, max_size=6),
       body=st.binary(max_size=300))
def test_random_zip_named_xlsx(tmp_path_factory, names, body):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in names:
            zf.writestr(n, body)
    path = tmp_path_factory.mktemp("zip") / "export.xlsx"
    path.write_bytes(buf.getvalue())
    _reads_or_study_error(lambda: read_table(path, what="survey export"))


@SETTINGS
@given(head=st.one_of(header, header.map(lambda h: ["t1", "t2", "t3", *h]),
                      st.permutations(["t1", "t2", "t3", "Finished", "Status", "email"])),
       rows=st.one_of(
           st.lists(st.lists(cell, max_size=9), max_size=8),
           st.lists(st.lists(st.one_of(*[GOOD] * 9, cell), min_size=3, max_size=7),
                    min_size=4, max_size=25)),
       extra_header=st.lists(header, max_size=2))
def test_random_tables_through_ingest_and_cleaning(tmp_path_factory, head, rows, extra_header):
    root = tmp_path_factory.mktemp("study")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "inst.yaml").write_text(INSTRUMENT)
    (root / "study.yaml").write_text("title: t\ninstrument: inst.yaml\nsurvey:\n  files: [data/raw/s.csv]\n")
    (root / "data" / "raw" / "s.csv").write_bytes(_csv([*extra_header, head, *rows]))
    study = read_study(root)
    inst = read_instrument(root / "inst.yaml")

    def go():
        raw = read_survey(study, inst)
        return clean_responses(raw, inst, study.config, study_file=str(study.file))

    _reads_or_study_error(go)


yaml_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10), st.floats(allow_nan=False),
                      st.text(max_size=8), st.sampled_from(["min", "max", "items", "reverse"]))
yaml_tree = st.recursive(
    yaml_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 6),
                                  st.sampled_from(["scale", "constructs", "items", "labels", "min",
                                                   "max", "higher_order", "text", "reverse",
                                                   "missing", "label", "t1"])),
                        children, max_size=4)),
    max_leaves=25)


@SETTINGS
@given(tree=yaml_tree)
def test_random_instrument_structures(tree):
    _reads_or_study_error(lambda: instrument_from_mapping(tree, source="inst.yaml"))


@SETTINGS
@given(tree=yaml_tree)
def test_random_instrument_files(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("inst") / "inst.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    _reads_or_study_error(lambda: read_instrument(path))


@SETTINGS
@given(text=st.text(alphabet=string.printable + "!&*|>%@`{}[]", max_size=300))
def test_random_yaml_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "study.yaml"
    path.write_text(text)
    _reads_or_study_error(lambda: read_study(path))


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_instrument_xlsform_garbage(tmp_path, suffix):
    path = tmp_path / f"inst{suffix}"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(StudyError):
        read_instrument(path)
    assert Path(path).exists()
