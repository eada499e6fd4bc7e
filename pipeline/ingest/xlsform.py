"""Instruments as XLSForm workbooks (KoBoToolbox, ODK, SurveyCTO): read and write.

An XLSForm is the spreadsheet survey teams already use to build KoBo/ODK forms. socap reads one
into the same :class:`pipeline.config.instrument.Instrument` as a YAML instrument, and writes the default
instrument as one (``pipeline/templates/instruments/social_capital.xlsx``, generated from the
YAML by :func:`write_xlsform`, so the YAML stays the one source).

The workbook
------------
``survey`` sheet (standard XLSForm plus two columns)
    ``type``: ``select_one LIST`` for an item (LIST names its answer options in ``choices``);
    ``name``: the item id; ``label`` (or ``label::<Language>`` columns, one per language): the
    item text; ``construct``: the construct the item measures -- rows without a construct
    (notes, groups, ``start``/``end``, other questions such as the firm id) are not items;
    ``reverse``: ``yes``/``true``/``1`` for a reverse-keyed item (blank, ``no``, ``false``,
    ``0`` otherwise).
``choices`` sheet (standard)
    ``list_name``, ``name``, ``label`` / ``label::<Language>``. Numeric choice names are the
    codes; lists with text names (``agree``, ``strongly_agree``) are coded 1, 2, ... in the
    order listed, and KoBo/ODK data holding those names are recoded through them. An added
    ``missing`` column marks answer options that mean "missing" (``Don't know``, ``Prefer not to
    say``): they are offered in the form but are not scale points.
``settings`` sheet (standard, optional)
    ``form_title`` -> instrument name, ``version``, ``default_language`` (the language whose
    labels are the instrument's own; others become translations, chosen for recoding text
    answers with study.yaml's ``survey.language``).
``constructs`` sheet (socap, optional)
    One row per construct: ``name``, ``label``, ``scale`` (the choices list of the construct's
    scale, when its items' lists differ) and ``higher_order``: the name of the higher-order
    construct(s) it belongs to (e.g. ``social_capital`` on each of the four first-order rows;
    several names separated by spaces; the constructs of a higher-order construct are listed in
    the order of this sheet).
    This is how a higher-order construct is declared in XLSForm; without the sheet constructs
    are labelled by their names and there is no higher-order construct.
``instrument`` sheet (socap, optional)
    ``key``/``value`` rows: ``scale`` (the choices list of the instrument-wide scale; default the
    list most items use) and one ``missing`` row per missing code (``-99``, ``Don't know``);
    default: the labels of the choices marked ``missing``.

KoBoToolbox, ODK and pyxform ignore the two socap sheets and the ``construct``/``reverse``/
``missing`` columns, so the same workbook deploys as a form.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pipeline.errors import ProblemList, StudyError
from pipeline.config.instrument import Instrument, Scale, instrument_from_mapping

TRUE_WORDS = {"yes", "true", "1", "y", "t", "x", "reverse", "reversed"}
FALSE_WORDS = {"", "no", "false", "0", "n", "f"}


def _s(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _sheets(path: Path) -> dict[str, list[dict]]:
    """Every sheet as a list of row dicts (header -> cell text), with the row number a user sees.

    ``.xlsx`` through :func:`pipeline.ingest.tables.read_grid` (its checks of the zip); the old
    binary ``.xls`` -- what KoBoToolbox's form builder and many XLSForm templates still
    download -- with python-calamine directly, which reads both."""
    import python_calamine

    from pipeline.ingest.tables import open_workbook, read_grid

    try:
        if path.suffix.lower() != ".xls":  # encrypted, renamed, corrupt, no sheets: one message
            wb = open_workbook(path, "instrument workbook")
        else:
            wb = python_calamine.CalamineWorkbook.from_path(str(path))
        names = list(wb.sheet_names)
    except StudyError:
        raise
    except python_calamine.PasswordError:
        raise StudyError("the instrument workbook is password-protected: save it without a "
                         "password", file=path, fix="save it again without a password") from None
    except Exception as exc:
        raise StudyError(f"the instrument workbook cannot be read ({exc})", file=path,
                         fix="save it again as .xlsx from Excel or LibreOffice") from None
    out = {}
    for name in names:
        if path.suffix.lower() == ".xls":
            try:
                cells = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            except Exception as exc:  # calamine raises its own error types
                raise StudyError(f"sheet '{name}' of the instrument workbook cannot be read "
                                 f"({exc})", file=path, sheet=name,
                                 fix="save it again as .xlsx from Excel or LibreOffice") from None
            rows = [[None if v == "" else (v.strip() or None) if isinstance(v, str) else v
                     for v in r] for r in cells]
        else:
            grid = read_grid(path, sheet=name, what="instrument workbook")
            rows = grid.head_rows(len(grid.cells))
        if not rows:
            continue
        header = [_s(v).strip() for v in rows[0]]
        recs = []
        for k, r in enumerate(rows[1:], start=2):
            rec = {h: _s(v) for h, v in zip(header, r) if h}
            if any(rec.values()):
                rec["__row__"] = k
                recs.append(rec)
        out[name.strip().lower()] = {"header": header, "rows": recs, "name": name}
    return out


def _lang_of(col: str) -> str | None:
    m = re.match(r"^label::(.+)$", col.strip(), re.IGNORECASE)
    return m.group(1).strip() if m else None


def _is_num(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def read_xlsform(path: Path) -> Instrument:
    """Read an XLSForm workbook into an :class:`Instrument` (see the module docstring).

    Raises
    ------
    StudyError
        Missing sheets or columns, items without a ``select_one`` list, unknown lists,
        constructs or higher-order constructs, bad ``reverse`` values -- every problem with its
        sheet, row and column.
    """
    path = Path(path)
    if not path.exists():
        raise StudyError("the instrument workbook does not exist", file=path,
                         fix="check 'instrument:' in study.yaml (relative to the study folder)")
    sheets = _sheets(path)
    problems = ProblemList()
    file = str(path)
    if "survey" not in sheets:
        raise StudyError("the XLSForm has no 'survey' sheet", file=path,
                         fix="an XLSForm needs sheets 'survey' (questions) and 'choices' "
                             "(answer options); see pipeline/templates/instruments/social_capital.xlsx")
    survey = sheets["survey"]
    sname = survey["name"]
    header = [h for h in survey["header"] if h]
    lower = {h.lower(): h for h in header}
    for need in ("type", "name"):
        if need not in lower:
            problems.add(f"the survey sheet has no '{need}' column", file=file, sheet=sname, row=1,
                         fix="XLSForm survey sheets need type, name and label columns")
    label_cols = [h for h in header if h.lower() == "label" or _lang_of(h)]
    if not label_cols:
        problems.add("the survey sheet has no 'label' (or 'label::<Language>') column", file=file,
                     sheet=sname, row=1, fix="add the item texts in a 'label' column")
    if "construct" not in lower:
        problems.add("the survey sheet has no 'construct' column, so socap cannot tell which "
                     "questions are instrument items", file=file, sheet=sname, row=1,
                     fix="add a 'construct' column naming each item's construct (and a 'reverse' "
                         "column with yes for reverse-keyed items)")
    problems.raise_if_any(f"The XLSForm {path} has problems:")
    settings = (sheets.get("settings") or {"rows": []})["rows"]
    settings = settings[0] if settings else {}
    default_lang = settings.get("default_language") or None
    plain_label = next((h for h in label_cols if h.lower() == "label"), None)
    langs = [(_lang_of(h), h) for h in label_cols if _lang_of(h)]
    if plain_label is not None:
        own_col = plain_label
        language = default_lang if default_lang and default_lang not in [l for l, _ in langs] else None
    else:
        pick = next(((l, h) for l, h in langs if l == default_lang), langs[0])
        language, own_col = pick
    other = [(l, h) for l, h in langs if h != own_col]

    # ---- choices -> scales
    choices = sheets.get("choices")
    lists: dict[str, dict] = {}
    missing_from_choices: list[str] = []
    missing_names: list[str] = []
    if choices is not None:
        ch_header = {h.lower(): h for h in choices["header"] if h}
        c_label = ch_header.get(own_col.lower()) or ch_header.get("label")
        c_other = [(l, ch_header.get(h.lower())) for l, h in other]
        for rec in choices["rows"]:
            lname = rec.get(ch_header.get("list_name", "list_name"), rec.get("list name", ""))
            cname = rec.get(ch_header.get("name", "name"), "")
            if not lname:
                continue
            entry = lists.setdefault(lname, {"rows": [], "first_row": rec["__row__"]})
            text = rec.get(c_label, "") if c_label else ""
            if rec.get(ch_header.get("missing", "missing"), "").lower() in TRUE_WORDS - {""}:
                if text and text not in missing_from_choices:
                    missing_from_choices.append(text)
                # KoBo/ODK exports hold the choice name ("XML values": dk, 99) where they do
                # not hold its label: it means missing too
                if cname and cname not in missing_names:
                    missing_names.append(cname)
                continue
            entry["rows"].append((cname, text, {l: rec.get(h, "") for l, h in c_other if h},
                                  rec["__row__"]))
    scales: dict[str, dict] = {}
    for lname, entry in lists.items():
        rows = entry["rows"]
        if not rows:
            continue
        numeric = all(_is_num(n) for n, *_ in rows)
        codes = [float(n) if numeric else float(k) for k, (n, *_) in enumerate(rows, start=1)]
        if len(set(codes)) != len(codes):
            problems.add(f"choices list '{lname}' repeats a choice name", file=file,
                         sheet=choices["name"], row=entry["first_row"],
                         fix="give every answer option of a list its own name")
            continue
        # a label that only repeats its numeric code (written for unlabelled scale points) is none
        sc = {"min": min(codes), "max": max(codes),
              "labels": {c: t for c, (n, t, _, _) in zip(codes, rows)
                         if t and not (numeric and _is_num(t) and float(t) == c)}}
        tr = {}
        for l, _ in other:
            d = {c: tl.get(l, "") for c, (_, _, tl, _) in zip(codes, rows) if tl.get(l)}
            if d:
                tr[l] = d
        if tr:
            sc["translations"] = tr
        if not numeric:
            sc["names"] = {c: n for c, (n, *_) in zip(codes, rows)}
        scales[lname] = sc

    # ---- items
    col = {k: lower.get(k) for k in ("type", "name", "construct", "reverse")}
    items_by_construct: dict[str, list[tuple[str, dict, str]]] = {}
    for rec in survey["rows"]:
        construct = rec.get(col["construct"], "")
        if not construct:
            continue
        row = rec["__row__"]
        typ = re.sub(r"\s+", " ", rec.get(col["type"], "")).strip()
        name = rec.get(col["name"], "")
        m = re.match(r"^select_one\s+(\S+)(\s+or_other)?$", typ, re.IGNORECASE)
        if not m:
            problems.add(f"item '{name}' (construct '{construct}') has type '{typ}'; an instrument "
                         "item must be 'select_one LIST' with its answer options in the choices "
                         "sheet", file=file, sheet=sname, row=row, column="type",
                         fix="make it a select_one question, or clear its construct cell")
            continue
        lname = m.group(1)
        if lname not in scales:
            problems.add(f"item '{name}' uses choices list '{lname}', which the choices sheet "
                         "does not have (or has only missing-answer options)", file=file,
                         sheet=sname, row=row, column="type",
                         fix=f"add the answer options of '{lname}' to the choices sheet")
            continue
        rev = rec.get(col["reverse"], "").lower() if col["reverse"] else ""
        if rev not in TRUE_WORDS and rev not in FALSE_WORDS:
            problems.add(f"item '{name}': reverse must be yes or no, not '{rev}'", file=file,
                         sheet=sname, row=row, column="reverse",
                         fix="write yes for reverse-keyed items and leave the others blank")
            rev = ""
        spec = {"text": rec.get(own_col, ""), "reverse": rev in TRUE_WORDS}
        texts = {l: rec.get(h, "") for l, h in other if rec.get(h, "")}
        if texts:
            spec["texts"] = texts
        items_by_construct.setdefault(construct, []).append((name, spec, lname))

    # ---- constructs, instrument-level scale, missing
    csheet = sheets.get("constructs")
    crow: dict[str, dict] = {}
    if csheet is not None:
        for rec in csheet["rows"]:
            if rec.get("name"):
                crow[rec["name"]] = rec
        for cname, rec in crow.items():
            if cname not in items_by_construct:
                problems.add(f"the constructs sheet names '{cname}', but no survey row has it in "
                             "its construct column", file=file, sheet=csheet["name"],
                             row=rec["__row__"], column="name",
                             fix="correct the name, or delete the row")
            if rec.get("scale") and rec["scale"] not in scales:
                problems.add(f"construct '{cname}' names choices list '{rec['scale']}', which the "
                             "choices sheet does not have", file=file, sheet=csheet["name"],
                             row=rec["__row__"], column="scale")
    isheet = sheets.get("instrument")
    inst_kv: dict[str, list[str]] = {}
    if isheet is not None:
        for rec in isheet["rows"]:
            if rec.get("key"):
                inst_kv.setdefault(rec["key"].strip().lower(), []).append(rec.get("value", ""))
    problems.raise_if_any(f"The XLSForm {path} has problems:")
    all_lists = [l for its in items_by_construct.values() for _, _, l in its]
    if not all_lists:
        raise StudyError("the XLSForm has no instrument items: no survey row has a construct",
                         file=path, sheet=sname, column="construct",
                         fix="fill the construct column for every item of the instrument")
    top_list = (inst_kv.get("scale") or [None])[0] or Counter(all_lists).most_common(1)[0][0]
    if top_list not in scales:
        raise StudyError(f"the instrument sheet names scale '{top_list}', which the choices sheet "
                         "does not have", file=path, sheet=isheet["name"] if isheet else None,
                         fix="name one of the choices lists")
    constructs = {}
    for cname, its in items_by_construct.items():
        rec = crow.get(cname, {})
        c_list = rec.get("scale") or Counter(l for _, _, l in its).most_common(1)[0][0]
        cdef: dict = {}
        if rec.get("label"):
            cdef["label"] = rec["label"]
        if c_list != top_list:
            cdef["scale"] = scales[c_list]
        items = {}
        for name, spec, lname in its:
            if lname != c_list:
                spec["scale"] = scales[lname]
            items[name] = spec
        cdef["items"] = items
        constructs[cname] = cdef
    higher: dict[str, list[str]] = {}
    for cname, rec in crow.items():
        for h in re.split(r"[\s,;]+", rec.get("higher_order", "")):
            if h:
                higher.setdefault(h, []).append(cname)
    if "missing" in inst_kv:
        missing = [_code(v) for v in inst_kv["missing"] if v != ""]
    else:
        missing = list(missing_from_choices)
    covered = {_loose(m) for m in missing}
    for name in missing_names:  # choice names not already spelled by a missing code or label
        if _loose(name) not in covered:
            missing.append(_code(name))
            covered.add(_loose(name))
    data = {"name": settings.get("form_title") or path.stem,
            "version": settings.get("version") or "",
            "scale": scales[top_list], "missing": missing, "constructs": constructs}
    if higher:
        data["higher_order"] = higher
    if language:
        data["language"] = language
    return instrument_from_mapping(data, source=str(path))


def _loose(v) -> str:
    return "".join(ch for ch in str(v).casefold() if ch.isalnum())


def _code(v: str):
    """An instrument-sheet missing code: a number when it reads as one, else text."""
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() else f


def _fmt(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text).strip().lower()).strip("_")
    if not s or not re.match(r"[A-Za-z_]", s[0]):
        s = "m_" + s
    return s


def write_xlsform(instrument: Instrument, path: Path) -> Path:
    """Write an instrument as an XLSForm ready for KoBoToolbox/ODK (see the module docstring).

    One ``select_one`` question per item inside one field-list group per construct, ``start``
    and ``end`` metadata (so exports carry the interview's duration), the response scales as
    choices lists (plus the instrument's text missing codes as answer options marked
    ``missing``), the socap ``constructs`` and ``instrument`` sheets. :func:`read_xlsform` reads
    the workbook back into an instrument equal to ``instrument``.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path = Path(path)
    own = f"label::{instrument.language}" if instrument.language else "label"
    langs: list[str] = []
    for item in instrument.items:
        for lang in list(item.texts) + list(item.scale.translations):
            if lang not in langs and lang != instrument.language:
                langs.append(lang)
    label_cols = [own] + [f"label::{l}" for l in langs]

    # one choices list per distinct scale, the instrument's own first
    def sig(sc: Scale):
        return (sc.min, sc.max, tuple(sorted(sc.labels.items())),
                tuple(sorted((k, tuple(sorted(v.items()))) for k, v in sc.translations.items())),
                tuple(sorted(sc.names.items())))
    list_of: dict = {}
    names_used: set[str] = set()

    def list_name(sc: Scale, hint: str) -> str:
        key = sig(sc)
        if key not in list_of:
            name = hint
            k = 2
            while name in names_used:
                name, k = f"{hint}_{k}", k + 1
            names_used.add(name)
            list_of[key] = (name, sc)
        return list_of[key][0]

    top = list_name(instrument.scale, f"agree{instrument.scale.points}")
    construct_lists = {c.name: list_name(c.scale, f"scale_{c.name}")
                       for c in instrument.constructs.values()}
    item_lists = {i.id: list_name(i.scale, f"scale_{i.id}") for i in instrument.items}

    wb = Workbook()
    ws = wb.active
    ws.title = "survey"
    head = ["type", "name"] + label_cols + ["required", "appearance", "construct", "reverse"]
    ws.append(head)
    ws.append(["start", "start"] + [""] * (len(head) - 2))
    ws.append(["end", "end"] + [""] * (len(head) - 2))
    for c in instrument.constructs.values():
        ws.append(["begin_group", c.name] + [c.label] * len(label_cols)
                  + ["", "field-list", "", ""])
        for i in c.items:
            ws.append([f"select_one {item_lists[i.id]}", i.id, i.text]
                      + [i.texts.get(l, "") for l in langs]
                      + ["", "", c.name, "yes" if i.reverse else ""])
        ws.append(["end_group", c.name] + [""] * (len(head) - 2))

    wc = wb.create_sheet("choices")
    wc.append(["list_name", "name"] + label_cols + ["missing"])
    text_missing = [m for m in instrument.missing if not isinstance(m, (int, float))]
    for name, sc in list_of.values():
        # every scale point is an answer option; unlabelled points show their code
        points = sorted(set(sc.labels) | {float(c) for c in range(int(sc.min), int(sc.max) + 1)})
        for code in points:
            wc.append([name, sc.names.get(code, _fmt(code)), sc.labels.get(code, _fmt(code))]
                      + [sc.translations.get(l, {}).get(code, "") for l in langs] + [""])
        for m in text_missing:
            wc.append([name, _slug(m), str(m)] + [""] * len(langs) + ["yes"])

    wst = wb.create_sheet("settings")
    cols = ["form_title", "form_id", "version"] + (["default_language"] if instrument.language else [])
    wst.append(cols)
    wst.append([instrument.name, _slug(instrument.name), instrument.version]
               + ([instrument.language] if instrument.language else []))

    wcs = wb.create_sheet("constructs")
    wcs.append(["name", "label", "scale", "higher_order"])
    for c in instrument.constructs.values():
        parents = [h for h, parts in instrument.higher_order.items() if c.name in parts]
        wcs.append([c.name, c.label, construct_lists[c.name], " ".join(parents)])

    wi = wb.create_sheet("instrument")
    wi.append(["key", "value"])
    wi.append(["scale", top])
    for m in instrument.missing:
        wi.append(["missing", m])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_default_xlsform(path: Path | None = None) -> Path:
    """(Re)generate ``templates/instruments/social_capital.xlsx`` from the default YAML instrument.

    The YAML is the one source; run this after editing it (a test fails while the two differ)::

        python -c "from pipeline.ingest.xlsform import write_default_xlsform; write_default_xlsform()"
    """
    from pipeline.config.instrument import default_instrument_path, read_instrument

    src = default_instrument_path()
    return write_xlsform(read_instrument(src), path or src.with_suffix(".xlsx"))
