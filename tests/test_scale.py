"""The fast paths for 10^5-10^6 responses give exactly what the general paths give.

Each optimisation of the large-study path (pyarrow reading without decoding the file in Python,
typing columns of few distinct values on those values, the reader's factorization reused by the
cleaning, vectorised ids) keeps the general code beside it; these tests run both on the same
inputs -- chosen to hit the corner cases (spaces, blanks, leading zeros, number words, labels,
mixed encodings) -- and require identical frames, dtypes and codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline.ingest.tables as tables
from pipeline.clean import clean_responses
from pipeline.ingest.survey import RawSurvey, read_survey
from pipeline.ids import ids_as_text
from pipeline.ingest.tables import read_grid
from pipeline.config.instrument import read_instrument
from pipeline.config.study import read_study

# cells that trip typing: spaces around numbers, blanks, number words, leading zeros, signs,
# exponents, labels, non-ASCII text, a number with a comma
TRICKY = ["1", "2", " 3", "3 ", "4", "5", "", "  ", "0012", "-0", "+0.5", "0.5", "1e3", "1E-2",
          ".5", "5.", "nan", "NaN", "inf", "-Infinity", "Agree", " Agree", "Don't know", "-99",
          "é", "\u3000x", "1,5", "12"]


def cellwise(arr: pa.Array) -> tuple[pd.Series, np.ndarray]:
    """The general path: every cell trimmed and tested (no dictionary shortcut)."""
    index = pd.RangeIndex(len(arr))
    old = tables._few_distinct
    try:
        tables._few_distinct = lambda a: False
        s, null, _ = tables._arrow_string_column(arr, index, with_nulls=True)
    finally:
        tables._few_distinct = old
    return s, null


def check_same(cells: list[str]) -> None:
    arr = pa.array(cells, type=pa.string())
    index = pd.RangeIndex(len(arr))
    fast, null_fast, coded = tables._coded_column(arr, index)
    slow, null_slow = cellwise(arr)
    pd.testing.assert_series_equal(fast, slow, check_exact=True)
    np.testing.assert_array_equal(null_fast, null_slow)
    np.testing.assert_array_equal(null_fast, slow.isna().to_numpy())
    if coded is not None:
        codes, uniques = coded
        ref_codes, ref_uniques = pd.factorize(slow.astype(object), use_na_sentinel=True)
        np.testing.assert_array_equal(codes, ref_codes)
        assert list(uniques) == list(np.asarray(ref_uniques, dtype=object))
    else:
        assert slow.dtype.kind in "if"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_coded_column_equals_cellwise_typing(values, seed):
    rng = np.random.default_rng(seed)
    check_same(list(rng.choice(values, size=int(rng.integers(1000, 7000)))))


@pytest.mark.parametrize("values", [
    ["1", "2", "3", "4", "5"],  # int64
    ["1", "2", "", " 3 "],  # float with NaN
    ["1", "2", "0012"],  # leading zeros: text
    ["1", "2", "nan"],  # a number word: text
    ["1", "2", "Don't know", ""],  # answers with a missing text
    ["", "  "],  # nothing filled
    ["a", " a", "a ", "b"],  # values that trim to one
])
def test_coded_column_cases(values):
    rng = np.random.default_rng(1)
    check_same(list(rng.choice(values, size=5000)))


def test_numbers_test_looks_at_the_first_filled_cells_as_before():
    # the first 5,000 filled cells decide whether the cast is tried, in both paths
    check_same(["1"] * 6000 + ["1e5"] * 10)
    check_same(["x"] * 10 + ["1"] * 6000)
    check_same([""] * 6000 + ["1", "2"] * 10)


def write(path, text: str, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("quoted", [False, True])
def test_large_csv_reads_as_the_cell_path(tmp_path, encoding, quoted):
    rng = np.random.default_rng(3)
    n = 3000
    cols = {
        "id": [f"R{i:05d}" for i in range(n)],
        "firm": rng.choice(["F01", "F02", " F03", "0012"], n),
        "q1": rng.choice(["1", "2", "3", "Don't know", ""], n),
        "q2": rng.choice(["1", "2", "3", "4"], n),
        "name": rng.choice(["Müller", "Café", "x"], n),
        "dur": rng.integers(10, 5000, n).astype(str),
    }
    lines = [",".join(cols)]
    for i in range(n):
        row = [cols[c][i] for c in cols]
        if quoted and i == 5:
            row[4] = '"two\nlines"'
        lines.append(",".join(row))
    path = write(tmp_path / "s.csv", "\n".join(lines) + "\n", encoding)
    grid = read_grid(path)
    fast, rows_fast, codes = tables.typed_body_coded(grid, 1)
    # the general path: pandas' reader on the decoded text, cell by cell
    text, _ = tables.decode_text(path.read_bytes(), path, "survey export")
    cells = pd.read_csv(__import__("io").StringIO(text.removeprefix("\ufeff")), header=None,
                        dtype=object, keep_default_na=False, na_filter=False)
    cells.columns = range(cells.shape[1])
    general = tables.Grid(_cells=cells, path=path, encoding=None, sheet=None)
    assert grid.shape == cells.shape
    assert (grid.cells.astype(object).to_numpy() == cells.to_numpy()).all()
    slow, rows_slow = tables.typed_body(general, 1)
    # the reader keeps mostly distinct text (the ids) in arrow, as pandas' "str" dtype; the
    # cells are those of the cell path
    arrow_text = [j for j in fast.columns if isinstance(fast[j].dtype, pd.StringDtype)]
    assert arrow_text == [0]
    for j in arrow_text:
        fast[j] = fast[j].astype(object).where(fast[j].notna(), None)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    np.testing.assert_array_equal(rows_fast, rows_slow)
    for j, (c, u) in codes.items():
        ref_c, ref_u = pd.factorize(slow[j].astype(object), use_na_sentinel=True)
        np.testing.assert_array_equal(c, ref_c)
        assert list(u) == list(np.asarray(ref_u, dtype=object))


def test_prefix_cut_inside_a_character_still_reads_utf8(tmp_path):
    # the first MB decoded for sniffing ends inside a 2-byte character
    head = "id,text\n"
    filler = "a" * (1_000_000 - len(head) - 2 - 1)  # 'é' takes bytes 999,999 and 1,000,000
    text = head + "1," + filler + "é\n2,b\n"
    path = write(tmp_path / "s.csv", text)
    with pytest.raises(UnicodeDecodeError):  # the precondition: the cut splits the character
        path.read_bytes()[:1_000_000].decode("utf-8")
    grid = read_grid(path)
    assert grid.encoding == "utf-8" and grid.arrow is not None
    assert grid.head_rows(1) == [["id", "text"]]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(
    ["a", " a", "a ", "", "  ", "b\u3000", "\x1cc", "é", "x y", "F01"])), min_size=1,
    max_size=40))
def test_ids_as_text_vectorised_equals_per_value(values):
    s = pd.Series(np.array(values, dtype=object))
    expected = [None if v is None else (str(v).strip() or None) for v in values]
    assert list(ids_as_text(s)) == expected
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    assert list(ids_as_text(s, codes=(codes, np.asarray(uniques, dtype=object)))) == expected


@pytest.fixture(scope="module")
def big_study(tmp_path_factory):
    """A simulated csv study of ~2,500 responses (the dictionary paths start at 1,000 rows)."""
    from pipeline.simulate import SimulationSpec, simulate_study, write_study

    folder = tmp_path_factory.mktemp("big") / "study"
    spec = SimulationSpec(seed=5, regions=2, clusters_per_region=2, firms_per_cluster=25,
                          respondents_per_firm=12, survey_format="csv", missing_share=0.05)
    write_study(simulate_study(spec), folder)
    return folder


def test_cleaning_through_the_readers_categoricals_equals_cleaning_objects(big_study):
    study = read_study(big_study)
    inst = read_instrument(study.path(study.config.instrument))
    raw = read_survey(study, inst)
    # the text columns of few distinct values (items, unit, group) come as Categoricals over the
    # reader's codes, their categories in order of first appearance: pandas.factorize's values
    lazy = [c for c in raw.data.columns if isinstance(raw.data[c].dtype, pd.CategoricalDtype)]
    assert set(inst.item_ids) <= set(lazy) and "firm_id" in lazy
    for col in lazy:
        ref_codes, ref_uniques = pd.factorize(raw.data[col].astype(object), use_na_sentinel=True)
        np.testing.assert_array_equal(raw.data[col].cat.codes.to_numpy(), ref_codes)
        assert list(raw.data[col].cat.categories) == list(np.asarray(ref_uniques, dtype=object))
    # as the Python objects the cell path gives, the cleaning is the same
    objects = raw.data.copy()
    for c in lazy:
        objects[c] = pd.Series(raw.data[c].to_numpy(dtype=object), dtype=object).where(
            raw.data[c].notna(), None)
    as_objects = RawSurvey(data=objects, columns=raw.columns, files=raw.files,
                           personal_data_dropped=raw.personal_data_dropped, notes=raw.notes,
                           metadata_columns=raw.metadata_columns)
    a, b = _clean_both(raw, as_objects, inst, study.config)
    assert a.sample == b.sample and a.warnings == b.warnings and a.by_file == b.by_file


def test_duplicate_ids_are_still_found_in_a_large_export(big_study, tmp_path):
    import shutil

    from pipeline.errors import StudyError

    folder = tmp_path / "dup"
    shutil.copytree(big_study, folder)
    path = folder / "data" / "raw" / "survey.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[len(frame) - 1, "ResponseId"] = frame.loc[3, "ResponseId"]
    frame.to_csv(path, index=False)
    study = read_study(folder)
    inst = read_instrument(study.path(study.config.instrument))
    with pytest.raises(StudyError, match="appears more than once"):
        clean_responses(read_survey(study, inst), inst, study.config)


def test_yaml_c_loader_gives_the_same_data_and_lines(tmp_path):
    """libyaml's parser (fast path) and PyYAML's pure-Python parser agree on socap's YAML files:
    the bundled study and instrument, and a study scaffolded by `socap init`."""
    import yaml

    from pipeline.config import yamlfile
    from pipeline.template import init_study

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    init_study(tmp_path / "new")
    files = [root / "study.yaml", root / "instruments" / "social_capital.yaml",
             *sorted((tmp_path / "new").rglob("*.yaml"))]
    texts = [f.read_text(encoding="utf-8-sig") for f in files]
    texts += ["a: [1, 2, {b: c}]\nd: 'x: y'\ne: |\n  two\n  lines\nf: null\ng: 1.5e3\n",
              "- 1\n- {x: 2}\n-\n  - nested\n"]
    here = tmp_path / "x.yaml"
    for text in texts:
        data = yaml.safe_load(text)
        lines = yamlfile._walk(yaml.compose(text, Loader=yaml.SafeLoader), here, "file")
        assert yamlfile._compose_and_construct_c(text, here, "file") == (data, lines)
    # errors: the general path explains them
    assert yamlfile._compose_and_construct_c("a: [1, 2\n", here, "file") is None


def test_parquet_text_columns_clean_as_object_columns(tmp_path):
    """A parquet export's arrow-backed text columns take the factorized path in the cleaning;
    the same export with those columns as Python objects takes the general one: same result."""
    from pipeline.simulate import SimulationSpec, simulate_study, write_study

    folder = tmp_path / "pq"
    spec = SimulationSpec(seed=8, regions=2, clusters_per_region=2, firms_per_cluster=20,
                          respondents_per_firm=10, survey_format="parquet", missing_share=0.05)
    write_study(simulate_study(spec), folder)
    study = read_study(folder)
    inst = read_instrument(study.path(study.config.instrument))
    raw = read_survey(study, inst)
    text = [c for c in raw.data.columns if isinstance(raw.data[c].dtype, pd.StringDtype)]
    assert len(text) > 10
    objects = raw.data.copy()
    for c in text:
        objects[c] = pd.Series(raw.data[c].to_numpy(dtype=object, na_value=None), dtype=object)
    plain = RawSurvey(data=objects, columns=raw.columns, files=raw.files,
                      personal_data_dropped=raw.personal_data_dropped, notes=raw.notes,
                      metadata_columns=raw.metadata_columns)
    a, b = _clean_both(raw, plain, inst, study.config)
    assert a.sample == b.sample


def _clean_both(raw, plain, inst, config):
    """Clean two versions of one export; the responses, exclusions and recoding tables must be
    identical to the last bit."""
    a = clean_responses(raw, inst, config)
    b = clean_responses(plain, inst, config)
    pd.testing.assert_frame_equal(a.responses, b.responses, check_exact=True)
    pd.testing.assert_frame_equal(a.exclusions, b.exclusions, check_exact=True)
    pd.testing.assert_frame_equal(a.recoding, b.recoding, check_exact=True)
    return a, b


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="ab \u3000\t", min_size=0, max_size=4)),
                min_size=0, max_size=40),
       st.booleans())
def test_arrow_ids_equal_the_python_ids(cells, large):
    from pipeline.ids import all_distinct, arrow_text_ids

    arr = pa.array(cells, type=pa.large_string() if large else pa.string())
    s = pd.Series(pd.arrays.ArrowStringArray(arr, dtype=pd.StringDtype("pyarrow",
                                                                       na_value=np.nan)))
    fast = arrow_text_ids(s)
    slow = ids_as_text(pd.Series(cells, dtype=object))
    assert fast.to_pylist() == [None if v is None else v for v in slow.tolist()]
    kept = [v for v in slow.tolist() if v is not None]
    assert all_distinct(fast) == (len(set(kept)) == len(kept))


@pytest.mark.parametrize("width", [1, 8, 9, 17, 36])
def test_all_distinct_on_fixed_width_ids(width):
    from pipeline.ids import all_distinct

    rng = np.random.default_rng(width)
    ids = ["".join(rng.choice(list("0123456789ABCDEF"), width)) for _ in range(5000)]
    ids = list(dict.fromkeys(ids))
    arr = pa.array(ids, type=pa.large_string())
    assert all_distinct(arr) and all_distinct(arr.slice(7))
    twice = pa.array(ids + [ids[len(ids) // 2]], type=pa.large_string())
    assert not all_distinct(twice)
    assert not all_distinct(pa.array(ids[:10] + [None, ids[5]], type=pa.string()))


def test_readahead_gives_the_reader_the_same_cells(tmp_path, monkeypatch):
    # the CLI parses large csv exports while it imports pandas; the reader takes that parse
    # only for the very file it names, unchanged since
    from pipeline.ingest import readahead

    monkeypatch.setattr(readahead, "MIN_BYTES", 1)
    study = tmp_path / "st"
    (study / "data" / "raw").mkdir(parents=True)
    lines = ["id,firm,q1"] + [f"R{i:04d},F{i % 7},{1 + i % 5}" for i in range(3000)]
    (study / "data" / "raw" / "survey.csv").write_text("\n".join(lines) + "\n")
    (study / "data" / "raw" / "firms.csv").write_text("firm_id,size\nF0,1\n")
    (study / "data" / "raw" / "ties.csv").write_text("source,target\nF0,F1\n")
    (study / "study.yaml").write_text("title: t\ninstrument: i.yaml\nsurvey: {id: id}\n"
                                      "units: {file: data/raw/firms.csv, id: firm_id}\n"
                                      "network: {edges: data/raw/ties.csv}\n")
    assert readahead._guess_exports(study) == [str((study / "data/raw/survey.csv").resolve())]
    path = study / "data" / "raw" / "survey.csv"
    readahead.start(study)
    raw, fast = readahead.take(path)
    assert raw == path.read_bytes()
    direct = tables._utf8_arrow_cells(path.read_bytes(), False)
    assert fast[1:3] == direct[1:3] and fast[3].equals(direct[3])
    assert readahead.take(path) is None  # handed out once
    # a file changed after it was read ahead is read again
    readahead.start(study)
    readahead._pending[readahead._key(path)].wait()
    path.write_text("\n".join(lines[:10]) + "\n")
    assert readahead.take(path) is None
    grid = read_grid(path)
    assert grid.shape == (10, 3)
    # survey.files is followed; files below MIN_BYTES and other suffixes are not read ahead
    (study / "study.yaml").write_text("title: t\ninstrument: i.yaml\n"
                                      "survey: {files: [data/raw/firms.csv]}\n")
    assert readahead._guess_exports(study) == [str((study / "data/raw/firms.csv").resolve())]
    monkeypatch.setattr(readahead, "MIN_BYTES", 10_000)
    assert readahead._guess_exports(study) == []
    # a guess that missed is dropped once the exports are read
    readahead.start(study)
    readahead.release()
    assert readahead.take(study / "data/raw/firms.csv") is None and not readahead._results
    (study / "study.yaml").write_text("not: [valid")
    readahead.start(study)  # a broken study.yaml is left to read_study
    assert readahead._pending == {} or all(e.is_set() for e in readahead._pending.values())
