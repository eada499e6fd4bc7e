"""The survey export(s) of a study read and stacked, and the unit table.

:func:`read_survey`      the survey export(s) of a study -> :class:`RawSurvey`
:func:`survey_files`     which exports a study reads (``survey.files`` or "drop in" data/raw/)
:func:`read_unit_table`  the unit (firm) table -> DataFrame with the id as text
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import StudyError, did_you_mean
from pipeline.ids import ids_as_text
from pipeline.ingest.tables import read_table

EXPORT_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".tsv", ".txt", ".sav", ".zsav", ".por", ".dta",
                   ".parquet")


@dataclass(frozen=True)
class ExportFile:
    """One survey export as read: where it is, the layout detected and how it was decoded."""

    path: str
    layout: str
    rows: int
    columns: int
    encoding: str | None = None
    sheet: str | None = None
    header_rows: int = 1
    delimiter: str | None = None
    layout_reason: str = ""  # why the layout was chosen (detected markers, or survey.layout)


@dataclass(frozen=True)
class RawSurvey:
    """The survey export(s) as read, stacked.

    Attributes
    ----------
    data
        One row per response. Columns as in the export(s) after layout normalisation, plus
        ``source_file`` (the file's name) and ``source_row`` (the row a user sees in the file).
        Cells are as read (numbers, text, booleans, None); text columns of few distinct values
        (answers, codes, labels) as pandas Categoricals over the reader's dictionary codes, their
        categories in order of first appearance (the values ``pandas.factorize`` would give).
    columns
        Metadata per column and file: ``column`` (the name socap uses), ``source_column`` (the
        header as the file writes it), ``question`` (question text where the layout gives it),
        ``import_id`` (Qualtrics ImportId), ``value_labels`` (SPSS/Stata code -> label),
        ``missing_codes`` (SPSS missing values/ranges, Stata extended missing letters),
        ``system`` (platform metadata column), ``file``, ``layout``.
    files
        The files read, with the layout detected.
    personal_data_dropped
        Names of identifying columns dropped at ingest (their contents are never kept).
    personal_data_reasons
        Why each was dropped: ``{column: {"by": "name" | "content", "what": ...}}``, e.g.
        ``{"by": "content", "what": "phone numbers"}`` (never a value).
    notes
        Things the reader did that a user should know (encoding fallback, rows dropped...).
    metadata_columns
        Platform system columns kept as metadata (Qualtrics Status/Finished/..., KoBo _uuid,
        _submission_time, ...): not items, available to the quality rules and as columns.
    """

    data: pd.DataFrame
    columns: pd.DataFrame
    files: tuple[ExportFile, ...]
    personal_data_dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    metadata_columns: tuple[str, ...] = field(default=())
    personal_data_reasons: dict = field(default_factory=dict)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def survey_files(study) -> list[Path]:
    """The survey exports of a study: ``survey.files``, or every export in data/raw/ that is
    not the unit table or the tie list ("drop in and run")."""
    cfg = study.config
    if cfg.survey.files:
        files = [study.path(f) for f in cfg.survey.files]
        missing = [f for f in files if not f.exists()]
        if missing:
            present = sorted(p.name for p in study.raw_dir.glob("*")) if study.raw_dir.exists() else []
            raise StudyError(
                f"the survey export {missing[0]} does not exist",
                file=study.file,
                key="survey.files",
                fix=(f"{did_you_mean(missing[0].name, present)} Files in data/raw/: "
                     f"{', '.join(present) or 'none'}."),
            )
        return files
    taken = set()
    if cfg.units:
        taken.add(study.path(cfg.units.file).resolve())
    if cfg.network:
        taken.add(study.path(cfg.network.edges).resolve())
    files = sorted(p for p in study.raw_dir.glob("*")
                   if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES
                   and p.resolve() not in taken and not p.name.startswith((".", "~$")))
    if not files:
        raise StudyError(
            "no survey export found: study.yaml has no survey.files and data/raw/ holds no "
            ".xlsx, .csv, .tsv, .sav, .por or .dta file besides the unit table and tie list",
            file=study.file,
            key="survey.files",
            fix="copy the export into data/raw/ or list it under survey: files: [...]",
        )
    return files


def read_survey(study, instrument=None) -> RawSurvey:
    """Read and stack a study's survey exports.

    Parameters
    ----------
    study
        The loaded :class:`pipeline.config.study.Study`.
    instrument
        Its :class:`pipeline.config.instrument.Instrument` (read from study.yaml's ``instrument:`` when
        not given): item columns are never taken for personal data, and item ids reveal ODK's
        ``-`` group separator.

    Returns
    -------
    RawSurvey
        Files stacked in the order read (``survey.files``, or data/raw/ sorted by name), with
        ``source_file`` and ``source_row`` naming each response's place.

    Raises
    ------
    StudyError
        A file is missing, unreadable, empty, or its layout is broken; ``survey.id`` looks like
        personal data.
    """
    from pipeline.ingest.personal import check_respondent_id
    from pipeline.ingest.plain import read_export

    cfg = study.config.survey
    check_respondent_id(cfg.id, study_file=study.file)
    if instrument is None:
        from pipeline.config.instrument import read_instrument

        instrument = read_instrument(study.path(study.config.instrument))
    known = list(instrument.item_ids)
    keep = ([c for c in (cfg.id, cfg.unit, cfg.group, cfg.weight) if c] + list(cfg.columns)
            + list(cfg.keep))
    frames, metas, infos, notes, pii, system = [], [], [], [], [], []
    reasons: dict = {}
    for path in survey_files(study):
        export = read_export(path, sheet=cfg.sheet, layout=cfg.layout, separator=cfg.separator,
                             known_names=known, keep=keep)
        frame = export.data
        check_respondent_id(cfg.id, frame, study_file=study.file, file=path)
        frame.insert(0, "source_file", path.name)
        frames.append(frame)
        metas.append(export.columns)
        infos.append(export.file)
        notes.extend(export.notes)
        pii.extend(c for c in export.personal_data_dropped if c not in pii)
        for c, why in export.personal_data_reasons.items():
            reasons.setdefault(c, why)
        system.extend(c for c in export.columns.loc[export.columns["system"], "column"]
                      if c not in system)
    data = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0]
    columns = pd.concat(metas, ignore_index=True)
    if len(frames) > 1 and pii:  # a column found personal in one export goes from all of them
        again = [c for c in pii if c in data.columns]
        if again:
            data = data.drop(columns=again)
            columns = columns.loc[~columns["column"].isin(again)].reset_index(drop=True)
    return RawSurvey(data=data, columns=columns, files=tuple(infos),
                     personal_data_dropped=tuple(pii), notes=tuple(notes),
                     metadata_columns=tuple(system), personal_data_reasons=reasons)


def read_unit_table(path: Path, *, id_column: str, sheet=None, study_file=None) -> pd.DataFrame:
    """Read the unit (firm) table: one row per unit, the id kept as text.

    Raises
    ------
    StudyError
        Missing file or id column, empty or duplicated ids (all duplicates named with rows).
    """
    table = read_table(path, sheet=sheet, what="unit table")
    frame = table.frame
    if id_column not in frame.columns:
        raise StudyError(
            f"the unit table has no id column '{id_column}'",
            file=path,
            column=id_column,
            fix=f"set units: id: to one of its columns ({did_you_mean(id_column, frame.columns)})",
        )
    ids = ids_as_text(frame[id_column])
    from pipeline.errors import ProblemList

    problems = ProblemList()
    for i in frame.index[ids.isna()][:50]:
        problems.add("empty unit id", file=path, row=int(table.rows[i]), column=id_column,
                     fix="give every unit an id or delete the row")
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    for value, idx in dup.groupby(dup).groups.items():
        rows = ", ".join(str(int(table.rows[i])) for i in idx)
        problems.add(f"unit id '{value}' appears more than once (rows {rows})", file=path,
                     column=id_column, fix="each unit must have one row; merge the duplicates")
    problems.raise_if_any(f"The unit table {path} has problems:")
    frame = frame.copy()
    frame[id_column] = ids.astype(object)
    out = numeric_where_possible(frame, keep_text=[id_column])
    # where each row is in the file, for messages about a cell (pipeline.checks)
    out.attrs["source_file"] = str(path)
    out.attrs["source_rows"] = np.asarray(table.rows)
    return out


def numeric_where_possible(frame: pd.DataFrame, keep_text=()) -> pd.DataFrame:
    """Columns whose every non-empty cell is a number become numeric; others stay text."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if col in keep_text:
            out[col] = s
            continue
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[col] = s
            continue
        num = pd.to_numeric(s.where(~s.isin(["", None])), errors="coerce")
        filled = s.notna() & (s.astype("string").str.strip() != "")
        if filled.any() and num[filled].notna().all():
            out[col] = num.astype(float)
        else:
            out[col] = s
    return pd.DataFrame(out, index=frame.index)
