"""Reading the study's input files: survey exports, the unit table, the tie list.

Files are read here and nowhere else (besides study.yaml and the instrument, :mod:`pipeline.config`).
Every reader returns plain frames plus metadata; nothing here interprets answers (that is
:mod:`pipeline.clean`). This package's ``__init__`` imports nothing, so that the CLI can start
:mod:`.readahead` before pandas loads.

Modules
-------
survey     the survey export(s) of a study read and stacked (:func:`~.survey.read_survey`), the
           unit table (:func:`~.survey.read_unit_table`)
plain      one export -> the common shape (header rows, layout, personal data dropped)
tables     cells of csv/tsv/xlsx/parquet, typed, with file row numbers
arrowcsv   csv/tsv parsed by pyarrow without pandas; readahead runs it while the CLI imports pandas
layouts    Qualtrics, SurveyMonkey, KoBo/ODK header rows and their detection
spss       SPSS/Stata with user-missing codes
personal   identifying columns (names, e-mails, IPs, phones, locations)
xlsform    XLSForm instruments
ties       tie lists
ids        ids as text (12, 12.0 and ' 12 ' are all '12'), in arrow where possible

Every file is opened read-only.
"""
