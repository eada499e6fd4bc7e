"""A REDCap data dictionary as the instrument.

REDCap projects describe their fields in a data dictionary (Project Setup > Data Dictionary >
Download: a csv of 18 columns, ``Variable / Field Name``, ``Form Name``, ``Section Header``,
``Field Type``, ``Field Label``, ``Choices, Calculations, OR Slider Labels``, ..., ``Matrix
Group Name``, ``Field Annotation``). socap reads it into the same
:class:`pipeline.config.instrument.Instrument` as a YAML instrument:

Items
    ``radio`` and ``dropdown`` fields (choices ``"1, Strongly disagree | 2, Disagree | ..."``:
    the codes and their labels make the item's scale) and ``slider`` fields (a continuous scale,
    0-100 unless ``Text Validation Min``/``Max`` set it). REDCap has no construct column, so the
    construct is, in order: the Field Annotation tag ``@SOCAP-CONSTRUCT=<name>`` (when any field
    has one, only fields with one are items); else the field's ``Matrix Group Name`` (REDCap's
    grid of items sharing one set of choices); else -- when the dictionary has no matrix -- the
    ``Section Header`` above the field (carried down to the next header of its form, made a
    name: "Trust in other firms" -> ``trust_in_other_firms``).
Field Annotation tags
    ``@SOCAP-REVERSE`` marks a reverse-keyed item; ``@SOCAP-MISSING=99,98`` the choice codes
    that mean missing for that item (they are offered in the form but are not scale points;
    without the tag, choices labelled "Don't know", "Prefer not to say", "Not applicable",
    "Refused" ... are); ``@SOCAP-HIGHER=social_capital`` puts the item's construct under a
    higher-order construct. Other REDCap action tags (``@HIDDEN``, ``@DEFAULT=...``) are
    ignored.
Labels
    REDCap allows HTML in labels; tags are removed.

The instrument is named after the file; its scale is the one most items use.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

from pipeline.errors import ProblemList, StudyError

HEADER = ("Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
          "Choices, Calculations, OR Slider Labels")
ITEM_TYPES = ("radio", "dropdown", "slider")
# choice labels that mean "missing" where no @SOCAP-MISSING says which codes do (compared on
# letters and digits)
MISSING_LABELS = {"dontknow", "donotknow", "idontknow", "dk", "prefernottosay", "prefernottoanswer",
                  "refused", "notapplicable", "na", "noanswer", "cantsay", "cannotsay", "unsure",
                  "notsure"}
_TAG = re.compile(r"@SOCAP-(CONSTRUCT|REVERSE|MISSING|HIGHER)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s@]+))?",
                  re.IGNORECASE)


def is_redcap_dictionary(path: Path) -> bool:
    """Whether a csv file is a REDCap data dictionary (by its header)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    first = head.splitlines()[0] if head else ""
    return "Variable / Field Name" in first and "Field Type" in first


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text or "")).strip()


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", _plain(text).lower()).strip("_")
    return s if s and s[0].isalpha() else f"c_{s}"


def _choices(text: str) -> list[tuple[str, str]]:
    """``"1, Strongly disagree | 2, Disagree"`` -> [("1", "Strongly disagree"), ...]."""
    out = []
    for part in (text or "").split("|"):
        part = part.strip()
        if not part:
            continue
        code, _, label = part.partition(",")
        out.append((code.strip(), _plain(label)))
    return out


def _number(v: str) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def read_redcap_dictionary(path: Path):
    """Read a REDCap data dictionary (csv) into an :class:`Instrument` (module docstring).

    Raises
    ------
    StudyError
        Not a data dictionary, no items, an item whose choices are not numeric codes, a bad
        ``@SOCAP-MISSING`` code -- every problem with its row and column.
    """
    from pipeline.config.instrument import instrument_from_mapping

    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or any(h not in rows[0] for h in HEADER[:5]):
        raise StudyError("the file is not a REDCap data dictionary (its header lacks "
                         "'Variable / Field Name', 'Form Name', 'Field Type', 'Field Label')",
                         file=path, row=1,
                         fix="download it from REDCap: Project Setup > Data Dictionary")
    head = [h.strip() for h in rows[0]]
    col = {h: k for k, h in enumerate(head)}

    def get(r, name):
        k = col.get(name)
        return r[k].strip() if k is not None and k < len(r) else ""

    problems = ProblemList()
    records = []
    section: dict[str, str] = {}
    any_tag = False
    any_matrix = False
    for n, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        form = get(r, "Form Name")
        if get(r, "Section Header"):
            section[form] = get(r, "Section Header")
        note = get(r, "Field Annotation")
        tags = {m.group(1).upper(): (m.group(2) or "").strip("\"'") for m in _TAG.finditer(note)}
        any_tag |= "CONSTRUCT" in tags
        any_matrix |= bool(get(r, "Matrix Group Name")) and get(r, "Field Type") in ITEM_TYPES
        records.append((n, r, tags, section.get(form, "")))
    items_by_construct: dict[str, dict] = {}
    higher: dict[str, list[str]] = {}
    scales = []
    for n, r, tags, sect in records:
        name, ftype = get(r, "Variable / Field Name"), get(r, "Field Type")
        if any_tag:
            construct = tags.get("CONSTRUCT")
        elif any_matrix:
            construct = get(r, "Matrix Group Name") or None
        else:
            construct = _slug(sect) if sect else None
        if not construct or (ftype not in ITEM_TYPES and not (any_tag and construct)):
            continue
        where = dict(file=str(path), row=n)
        if ftype not in ITEM_TYPES:
            problems.add(f"field '{name}' is marked @SOCAP-CONSTRUCT but is a '{ftype}' field; an "
                         "item must be radio, dropdown or slider", column="Field Type",
                         fix="make it a radio or dropdown field, or remove the tag", **where)
            continue
        missing: list = []
        for code in filter(None, re.split(r"[,\s]+", tags.get("MISSING", ""))):
            v = _number(code)
            missing.append(int(v) if v is not None and v.is_integer() else (v if v is not None
                                                                           else code))
        if ftype == "slider":
            lo = _number(get(r, "Text Validation Min"))
            hi = _number(get(r, "Text Validation Max"))
            scale = {"min": lo if lo is not None else 0, "max": hi if hi is not None else 100,
                     "continuous": True}
        else:
            choices = _choices(get(r, "Choices, Calculations, OR Slider Labels"))
            if "MISSING" not in tags:  # "Don't know", "Prefer not to say" ... are not points
                missing += [int(v) if (v := _number(c)) is not None and v.is_integer() else c
                            for c, lab in choices
                            if "".join(ch for ch in lab.casefold() if ch.isalnum())
                            in MISSING_LABELS]
            points = [(c, lab) for c, lab in choices if _number(c) is None or (
                _number(c) not in [_number(m) for m in missing] and str(c) not in map(str, missing))]
            codes = [_number(c) for c, _ in points]
            if not points or any(c is None for c in codes):
                problems.add(f"field '{name}' has choices that are not numeric codes "
                             f"('{get(r, 'Choices, Calculations, OR Slider Labels')[:60]}')",
                             column="Choices, Calculations, OR Slider Labels",
                             fix="code the choices with numbers (1, Strongly disagree | 2, ...)",
                             **where)
                continue
            scale = {"min": min(codes), "max": max(codes),
                     "labels": {c: lab for c, (_, lab) in zip(codes, points) if lab}}
            # choice labels of the missing codes: the texts a labels export writes
            for c, lab in choices:
                if lab and _number(c) in [_number(m) for m in missing] and lab not in missing:
                    missing.append(lab)
        spec = {"text": _plain(get(r, "Field Label")), "reverse": "REVERSE" in tags,
                "scale": scale}
        if missing:
            spec["missing"] = missing
        scales.append(repr(sorted(scale.items(), key=str)))
        if tags.get("HIGHER"):
            for h in re.split(r"[,\s]+", tags["HIGHER"]):
                if h and construct not in higher.setdefault(h, []):
                    higher[h].append(construct)
        items_by_construct.setdefault(construct, {})[name] = (spec, repr(sorted(
            scale.items(), key=str)))
    problems.raise_if_any(f"The REDCap data dictionary {path} has problems:")
    if not items_by_construct:
        raise StudyError(
            "the REDCap data dictionary has no instrument items: no radio, dropdown or slider "
            "field carries @SOCAP-CONSTRUCT=<construct> in its Field Annotation, is in a "
            "matrix group, or stands under a section header", file=path,
            column="Field Annotation",
            fix="add @SOCAP-CONSTRUCT=<construct> (and @SOCAP-REVERSE for reverse-keyed "
                "items) to the Field Annotation of each item")
    top = Counter(scales).most_common(1)[0][0]
    top_scale = None
    constructs = {}
    for cname, items in items_by_construct.items():
        c_top = Counter(sig for _, sig in items.values()).most_common(1)[0][0]
        cdef: dict = {"items": {}}
        for iname, (spec, sig) in items.items():
            if sig == top and top_scale is None:
                top_scale = spec["scale"]
            if sig == c_top:
                cdef.setdefault("_scale", spec["scale"])
            cdef["items"][iname] = spec
        constructs[cname] = cdef
    for cname, cdef in constructs.items():
        cscale = cdef.pop("_scale")
        for spec in cdef["items"].values():
            if spec["scale"] == cscale:
                spec.pop("scale")
        if cscale != top_scale:
            cdef["scale"] = cscale
    data = {"name": path.stem, "version": "", "scale": top_scale, "constructs": constructs}
    if higher:
        data["higher_order"] = higher
    return instrument_from_mapping(data, source=str(path))
