"""The instrument: constructs, items, response scales and missing codes.

An instrument is read from a YAML file (CONTRACT section 3) or an XLSForm workbook
(:mod:`pipeline.ingest.xlsform`) into the same frozen :class:`Instrument` model. Validation names
the file, the key (and line) and the fix; every problem of the file is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.config.yamlfile import KeyPath, dotted, read_yaml

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# names the pipeline already gives to columns of the unit table or keys of results.json
RESERVED = {"units", "warnings", "group_level", "respondents_per_unit", "n_respondents",
            "respondent_id", "source_file", "source_row", "degree", "strength", "betweenness",
            "closeness", "eigenvector", "clustering", "constraint", "effective_size", "in_degree",
            "out_degree", "in_strength", "out_strength"}

TOP_KEYS = ("name", "version", "description", "scale", "missing", "constructs", "higher_order",
            "languages", "language", "attention_checks")
CONSTRUCT_KEYS = ("label", "description", "scale", "items", "missing", "type")
ITEM_KEYS = ("text", "reverse", "scale", "label", "texts", "missing", "type")
CHECK_KEYS = ("text", "pass", "scale", "label", "texts")
SCALE_KEYS = ("min", "max", "labels", "translations", "names", "continuous")
TYPES = ("ordinal", "continuous")


@dataclass(frozen=True)
class Scale:
    """A response scale: integer codes from ``min`` to ``max`` and their labels.

    Attributes
    ----------
    labels
        Code -> answer text in the instrument's language.
    translations
        Language -> (code -> answer text): the XLSForm ``label::<language>`` columns of the
        choices sheet (``survey.language`` picks the set used to recode text answers).
    names
        Code -> XLSForm choice name, where the form stores names that are not the codes
        (KoBo/ODK exports hold these names when exported as "XML values").
    """

    min: float
    max: float
    labels: Mapping[float, str] = field(default_factory=dict)
    translations: Mapping[str, Mapping[float, str]] = field(default_factory=dict)
    names: Mapping[float, str] = field(default_factory=dict)
    continuous: bool = False  # a slider or scale score: any value from min to max

    @property
    def points(self) -> int:
        """Number of response options (A in rwg's uniform null variance (A^2 - 1) / 12)."""
        return int(round(self.max - self.min)) + 1

    @property
    def null_variance(self) -> float:
        """Variance of the uniform null distribution of rwg (James, Demaree & Wolf 1984):
        ``(A^2 - 1) / 12`` over ``A`` discrete points, ``(max - min)^2 / 12`` for a continuous
        scale (the uniform distribution on [min, max])."""
        if self.continuous:
            return (self.max - self.min) ** 2 / 12.0
        a = float(self.points)
        return (a * a - 1.0) / 12.0

    def reverse(self, x):
        """Reverse-key a code: ``min + max - x``."""
        return self.min + self.max - x


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    construct: str
    reverse: bool
    scale: Scale
    texts: Mapping[str, str] = field(default_factory=dict)  # translations: language -> text
    missing: tuple[Any, ...] = ()  # missing codes of this item (its own and its construct's)


@dataclass(frozen=True)
class Construct:
    name: str
    label: str
    items: tuple[Item, ...]
    scale: Scale
    missing: tuple[Any, ...] = ()  # missing codes of the construct's items (beside their own)

    @property
    def item_ids(self) -> list[str]:
        return [i.id for i in self.items]


@dataclass(frozen=True)
class AttentionCheck:
    """An instructed-response item ("please answer Agree"): not part of any construct; a
    respondent whose answer is not one of ``passing`` fails it (quality rule
    ``attention_checks``)."""

    item: Item
    passing: tuple[float, ...]


@dataclass(frozen=True)
class Instrument:
    """A validated instrument.

    Attributes
    ----------
    constructs
        Constructs in file order, by name.
    higher_order
        Higher-order constructs (e.g. ``social_capital``) -> their first-order constructs.
    missing
        Codes or answer texts meaning "missing" (beside those of study.yaml).
    """

    name: str
    version: str
    scale: Scale
    missing: tuple[Any, ...]
    constructs: Mapping[str, Construct]
    higher_order: Mapping[str, tuple[str, ...]]
    source: str = ""
    language: str | None = None  # the language of texts and labels (XLSForm default_language)
    attention_checks: Mapping[str, AttentionCheck] = field(default_factory=dict)

    def checks_instrument(self) -> "Instrument | None":
        """The attention checks as an instrument of their own (one construct), so that they are
        matched to export columns and coded exactly as items are; None without checks."""
        if not self.attention_checks:
            return None
        items = tuple(c.item for c in self.attention_checks.values())
        group = Construct(name="attention_checks", label="Attention checks", items=items,
                          scale=self.scale)
        return replace(self, constructs={group.name: group}, higher_order={},
                       attention_checks={})

    @property
    def items(self) -> list[Item]:
        return [i for c in self.constructs.values() for i in c.items]

    @property
    def item_ids(self) -> list[str]:
        return [i.id for i in self.items]

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def construct_items(self) -> dict[str, list[str]]:
        return {name: c.item_ids for name, c in self.constructs.items()}

    def item_missing(self, item_id: str) -> tuple[Any, ...]:
        """The codes meaning missing for one item: the instrument's, its construct's, its own."""
        return tuple(self.missing) + tuple(self.item(item_id).missing)

    @property
    def continuous_constructs(self) -> list[str]:
        """Constructs measured on a continuous scale (sliders, scale scores)."""
        return [n for n, c in self.constructs.items() if c.scale.continuous]

    def null_variances(self) -> dict[str, float]:
        """rwg's uniform null variance per construct (see :attr:`Scale.null_variance`)."""
        return {n: c.scale.null_variance for n, c in self.constructs.items()}

    def construct_scales(self) -> dict[str, tuple[float, float]]:
        """(min, max) per construct; for higher-order constructs, those of their first construct."""
        out = {name: (c.scale.min, c.scale.max) for name, c in self.constructs.items()}
        for name, parts in self.higher_order.items():
            out[name] = out[parts[0]]
        return out

    @property
    def score_names(self) -> list[str]:
        return list(self.constructs) + list(self.higher_order)

    @property
    def has_reverse_items(self) -> bool:
        return any(i.reverse for i in self.items)

    @property
    def languages(self) -> list[str]:
        """Languages with answer labels: the instrument's own first, then its translations."""
        out = [self.language] if self.language else []
        for item in self.items:
            for lang in item.scale.translations:
                if lang not in out:
                    out.append(lang)
        return out

    def resolve_language(self, wanted: str | None) -> str | None:
        """The instrument language that ``survey.language`` names (None: the instrument's own).

        ``English (en)`` is found as ``English (en)``, ``english``, or ``en``. Returns the
        matching language name, None for the instrument's own language, or raises KeyError.
        """
        if wanted is None:
            return None
        def keys(name: str) -> set[str]:
            n = name.strip().casefold()
            out = {n}
            m = re.match(r"^(.*?)\s*\(([^)]+)\)\s*$", n)
            if m:
                out |= {m.group(1).strip(), m.group(2).strip()}
            return out
        w = wanted.strip().casefold()
        if self.language and w in keys(self.language):
            return None
        for lang in self.languages:
            if w in keys(lang):
                return None if lang == self.language else lang
        if not self.language and w in ("default", ""):
            return None
        raise KeyError(wanted)


def scale_labels(scale: Scale, language: str | None) -> Mapping[float, str]:
    """The scale's labels in ``language`` (a name :meth:`Instrument.resolve_language` returned);
    a scale not translated into that language keeps its own labels."""
    if language is None:
        return scale.labels
    return scale.translations.get(language) or scale.labels


# --------------------------------------------------------------------------------------------
# loading


def read_instrument(path: Path) -> Instrument:
    """Read a YAML instrument, an XLSForm workbook (.xlsx/.xls) or a REDCap data dictionary
    (.csv, recognised by its header; :mod:`pipeline.config.redcap`) into an
    :class:`Instrument`.

    Raises
    ------
    StudyError
        The file is missing or invalid; every problem is listed with its key and line.
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        from pipeline.ingest.xlsform import read_xlsform

        return read_xlsform(path)
    if path.suffix.lower() == ".csv" and path.exists():
        from pipeline.config.redcap import is_redcap_dictionary, read_redcap_dictionary

        if is_redcap_dictionary(path):
            return read_redcap_dictionary(path)
        raise StudyError(
            "a csv instrument must be a REDCap data dictionary (its header starts "
            "'Variable / Field Name', 'Form Name', 'Section Header', 'Field Type', ...)",
            file=path, row=1,
            fix="download the dictionary from REDCap (Project Setup > Data Dictionary), or use "
                "a YAML instrument or an XLSForm")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise StudyError(
            f"an instrument must be a YAML file (.yaml), an XLSForm workbook (.xlsx, .xls) or a "
            f"REDCap data dictionary (.csv), not '{path.suffix or 'no extension'}'",
            file=path,
            fix="point study.yaml's 'instrument:' at instruments/<name>.yaml, an XLSForm .xlsx "
                "or a REDCap data dictionary .csv",
        )
    data, lines = read_yaml(path, "instrument")
    return instrument_from_mapping(data, source=str(path), lines=lines)


def _scale_from(
    raw: Any, where: KeyPath, problems: ProblemList, file: str, lines: dict, default: Scale | None
) -> Scale | None:
    line = lines.get(where)
    if raw is None:
        return default
    if not isinstance(raw, dict):
        problems.add("a scale must be a mapping with 'min', 'max' and optional 'labels'",
                     file=file, key=dotted(where), line=line,
                     fix="write e.g. scale: {min: 1, max: 5}")
        return default
    for k in raw:
        if k not in SCALE_KEYS:
            problems.add(f"unknown key '{k}' in a scale; {did_you_mean(k, SCALE_KEYS)}",
                         file=file, key=dotted(where + (k,)), line=lines.get(where + (k,)))
    lo = raw.get("min", default.min if default else None)
    hi = raw.get("max", default.max if default else None)
    ok = True
    for name, v in (("min", lo), ("max", hi)):
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            problems.add(f"the scale's '{name}' must be a number", file=file,
                         key=dotted(where + (name,)), line=lines.get(where + (name,), line),
                         fix="write e.g. scale: {min: 1, max: 5}")
            ok = False
    if not ok:
        return default
    if lo >= hi:
        problems.add(f"the scale's min ({lo}) must be below its max ({hi})", file=file,
                     key=dotted(where), line=line)
        return default
    same = default is not None and (default.min, default.max) == (lo, hi)
    continuous = raw.get("continuous", default.continuous if default else False)
    if not isinstance(continuous, bool):
        problems.add("a scale's 'continuous' must be true or false", file=file,
                     key=dotted(where + ("continuous",)),
                     line=lines.get(where + ("continuous",), line),
                     fix="write e.g. scale: {min: 0, max: 100, continuous: true}")
        continuous = False
    translations: dict = {}
    tr_raw = raw.get("translations")
    if tr_raw is None:
        translations = {k: dict(v) for k, v in default.translations.items()} if same else {}
    elif not isinstance(tr_raw, dict):
        problems.add("a scale's 'translations' must map a language to its labels", file=file,
                     key=dotted(where + ("translations",)),
                     line=lines.get(where + ("translations",)),
                     fix="write e.g. translations: {French: {1: Pas du tout d'accord, ...}}")
    else:
        for lang, tl in tr_raw.items():
            if not isinstance(tl, dict):
                problems.add(f"the '{lang}' translation must map codes to answer texts", file=file,
                             key=dotted(where + ("translations", lang)))
                continue
            translations[str(lang)] = {float(k): str(v) for k, v in tl.items()
                                       if _is_code(k)}
    names_raw = raw.get("names")
    if names_raw is None:
        names = dict(default.names) if same else {}
    elif isinstance(names_raw, dict):
        names = {float(k): str(v) for k, v in names_raw.items() if _is_code(k)}
    else:
        names = {}
        problems.add("a scale's 'names' must map codes to choice names", file=file,
                     key=dotted(where + ("names",)))
    labels_raw = raw.get("labels")
    if labels_raw is None:
        labels = dict(default.labels) if same else {}
    elif not isinstance(labels_raw, dict):
        problems.add("a scale's 'labels' must map codes to answer texts", file=file,
                     key=dotted(where + ("labels",)), line=lines.get(where + ("labels",)),
                     fix="write e.g. labels: {1: Strongly disagree, 5: Strongly agree}")
        labels = {}
    else:
        labels = {}
        for code, text in labels_raw.items():
            kpath = where + ("labels", code)
            try:
                c = float(code)
            except (TypeError, ValueError):
                problems.add(f"label code '{code}' is not a number", file=file,
                             key=dotted(kpath), line=lines.get(kpath),
                             fix="label keys are the numeric codes, e.g. 1: Strongly disagree")
                continue
            if not lo <= c <= hi:
                problems.add(f"label code {code} lies outside the scale {lo}..{hi}", file=file,
                             key=dotted(kpath), line=lines.get(kpath))
                continue
            labels[c] = str(text)
    return Scale(min=float(lo), max=float(hi), labels=labels, translations=translations,
                 names=names, continuous=continuous)


def _is_code(k) -> bool:
    try:
        float(k)
        return True
    except (TypeError, ValueError):
        return False


def instrument_from_mapping(
    data: Any, *, source: str = "", lines: dict[KeyPath, int] | None = None
) -> Instrument:
    """Validate a parsed instrument mapping (from YAML or an XLSForm) into an Instrument."""
    lines = lines or {}
    file = source or "instrument"
    problems = ProblemList()
    if not isinstance(data, dict):
        raise StudyError(
            "an instrument must be a mapping with 'name', 'scale' and 'constructs'",
            file=file,
            fix="start from instruments/social_capital.yaml (socap init writes one)",
        )
    for k in data:
        if k not in TOP_KEYS:
            problems.add(f"unknown key '{k}'; {did_you_mean(k, TOP_KEYS)}", file=file,
                         key=str(k), line=lines.get((k,)))
    scale = _scale_from(data.get("scale"), ("scale",), problems, file, lines, None)
    if data.get("scale") is None:
        problems.add("the instrument has no 'scale'", file=file, key="scale",
                     fix="add e.g. scale: {min: 1, max: 5, labels: {1: Strongly disagree, ...}}")
    missing = data.get("missing") or []
    if not isinstance(missing, list):
        missing = [missing]
    constructs_raw = data.get("constructs")
    constructs: dict[str, Construct] = {}
    seen_items: dict[str, str] = {}
    if not isinstance(constructs_raw, dict) or not constructs_raw:
        problems.add("the instrument has no constructs", file=file, key="constructs",
                     line=lines.get(("constructs",)),
                     fix="add constructs: {trust: {items: {trust_1: 'Item text', ...}}, ...}")
        constructs_raw = {}
    for cname, craw in constructs_raw.items():
        cpath: KeyPath = ("constructs", cname)
        cname = str(cname)
        if not NAME_RE.match(cname):
            problems.add(f"construct name '{cname}' must start with a letter and contain only "
                         "letters, digits and '_' (it is used in model formulas)", file=file,
                         key=dotted(cpath), line=lines.get(cpath))
        elif cname in RESERVED or cname.startswith("degree_"):
            problems.add(f"construct name '{cname}' is taken by a column socap computes (unit "
                         "counts, network measures)", file=file, key=dotted(cpath),
                         line=lines.get(cpath), fix=f"rename it, e.g. '{cname}_score'")
        if not isinstance(craw, dict):
            problems.add(f"construct '{cname}' must be a mapping with 'items'", file=file,
                         key=dotted(cpath), line=lines.get(cpath))
            continue
        for k in craw:
            if k not in CONSTRUCT_KEYS:
                problems.add(f"unknown key '{k}' in construct '{cname}'; "
                             f"{did_you_mean(k, CONSTRUCT_KEYS)}", file=file,
                             key=dotted(cpath + (k,)), line=lines.get(cpath + (k,)))
        cscale = _scale_from(craw.get("scale"), cpath + ("scale",), problems, file, lines, scale)
        cscale = _typed(cscale, craw.get("type"), cpath, problems, file, lines)
        cmissing = _missing_list(craw.get("missing"), cpath, problems, file, lines)
        items_raw = craw.get("items")
        if not isinstance(items_raw, dict) or not items_raw:
            problems.add(f"construct '{cname}' has no items", file=file,
                         key=dotted(cpath + ("items",)), line=lines.get(cpath),
                         fix="add items: {item_id: 'Item text', ...}")
            continue
        items = []
        for iid, iraw in items_raw.items():
            ipath = cpath + ("items", iid)
            iid = str(iid)
            if not NAME_RE.match(iid):
                problems.add(f"item id '{iid}' must start with a letter and contain only "
                             "letters, digits and '_'", file=file, key=dotted(ipath),
                             line=lines.get(ipath))
            if iid in seen_items:
                problems.add(f"item '{iid}' appears in both '{seen_items[iid]}' and '{cname}'",
                             file=file, key=dotted(ipath), line=lines.get(ipath),
                             fix="give every item a unique id")
                continue
            seen_items[iid] = cname
            reverse = False
            iscale = cscale
            imissing: tuple = ()
            texts: dict[str, str] = {}
            if isinstance(iraw, str) or iraw is None:
                text = iraw or ""
            elif isinstance(iraw, dict):
                for k in iraw:
                    if k not in ITEM_KEYS:
                        problems.add(f"unknown key '{k}' in item '{iid}'; "
                                     f"{did_you_mean(k, ITEM_KEYS)}", file=file,
                                     key=dotted(ipath + (k,)), line=lines.get(ipath + (k,)))
                text = str(iraw.get("text", iraw.get("label", "")) or "")
                reverse = iraw.get("reverse", False)
                if not isinstance(reverse, bool):
                    problems.add(f"item '{iid}': 'reverse' must be true or false", file=file,
                                 key=dotted(ipath + ("reverse",)),
                                 line=lines.get(ipath + ("reverse",)))
                    reverse = False
                iscale = _scale_from(iraw.get("scale"), ipath + ("scale",), problems, file,
                                     lines, cscale)
                iscale = _typed(iscale, iraw.get("type"), ipath, problems, file, lines)
                imissing = _missing_list(iraw.get("missing"), ipath, problems, file, lines)
                if isinstance(iraw.get("texts"), dict):
                    texts = {str(k): str(v) for k, v in iraw["texts"].items()}
            else:
                problems.add(f"item '{iid}' must be its text or a mapping with 'text' and "
                             "'reverse'", file=file, key=dotted(ipath), line=lines.get(ipath))
                continue
            if iscale is None:
                continue
            items.append(Item(id=iid, text=text, construct=cname, reverse=reverse, scale=iscale,
                              texts=texts, missing=tuple(cmissing) + tuple(imissing)))
        if cscale is None:
            continue
        constructs[cname] = Construct(name=cname, label=str(craw.get("label") or cname),
                                      items=tuple(items), scale=cscale, missing=tuple(cmissing))
    higher: dict[str, tuple[str, ...]] = {}
    ho_raw = data.get("higher_order") or {}
    if not isinstance(ho_raw, dict):
        problems.add("'higher_order' must map a name to a list of constructs", file=file,
                     key="higher_order", line=lines.get(("higher_order",)),
                     fix="write e.g. higher_order: {social_capital: [trust, reciprocity]}")
        ho_raw = {}
    for hname, parts in ho_raw.items():
        hpath: KeyPath = ("higher_order", hname)
        hname = str(hname)
        if not NAME_RE.match(hname):
            problems.add(f"higher-order name '{hname}' must start with a letter and contain only "
                         "letters, digits and '_'", file=file, key=dotted(hpath),
                         line=lines.get(hpath))
        if hname in RESERVED or hname.startswith("degree_"):
            problems.add(f"higher-order name '{hname}' is taken by a column socap computes",
                         file=file, key=dotted(hpath), line=lines.get(hpath),
                         fix=f"rename it, e.g. '{hname}_score'")
        if hname in constructs_raw or hname in seen_items:
            problems.add(f"'{hname}' is already a construct or item name", file=file,
                         key=dotted(hpath), line=lines.get(hpath))
        if not isinstance(parts, list) or len(parts) < 2:
            problems.add(f"higher-order construct '{hname}' needs a list of at least two "
                         "constructs", file=file, key=dotted(hpath), line=lines.get(hpath))
            continue
        for p in parts:
            if p not in constructs_raw:
                problems.add(f"higher-order construct '{hname}' names unknown construct '{p}'; "
                             f"{did_you_mean(str(p), [str(c) for c in constructs_raw])}",
                             file=file, key=dotted(hpath), line=lines.get(hpath))
        higher[hname] = tuple(str(p) for p in parts)
    checks = _attention_checks(data.get("attention_checks"), scale, problems, file, lines,
                               set(seen_items) | set(constructs_raw) | set(higher))
    for iid, cname in seen_items.items():
        if iid in constructs_raw:
            problems.add(f"'{iid}' is both an item and a construct name", file=file,
                         key=f"constructs.{cname}.items.{iid}")
    problems.raise_if_any(f"The instrument {file} has problems:")
    assert scale is not None
    return Instrument(
        name=str(data.get("name") or Path(file).stem),
        version=str(data.get("version") or ""),
        scale=scale,
        missing=tuple(missing),
        constructs=constructs,
        higher_order=higher,
        source=str(source),
        language=str(data["language"]) if data.get("language") else None,
        attention_checks=checks,
    )


def _typed(scale: Scale | None, kind: Any, where: KeyPath, problems: ProblemList, file: str,
           lines: dict) -> Scale | None:
    """``type: continuous`` (a slider, a scale score with decimals) or ``ordinal`` (the
    default) on a construct or item: the same as ``scale: {continuous: true}``."""
    if kind is None or scale is None:
        return scale
    if kind not in TYPES:
        problems.add(f"type must be one of {', '.join(TYPES)}, not '{kind}'", file=file,
                     key=dotted(where + ("type",)), line=lines.get(where + ("type",)),
                     fix="write type: continuous for sliders and scale scores with decimals")
        return scale
    return replace(scale, continuous=kind == "continuous")


def _missing_list(raw: Any, where: KeyPath, problems: ProblemList, file: str,
                  lines: dict) -> tuple:
    """A construct's or item's ``missing:`` codes (a list, or one code)."""
    if raw is None:
        return ()
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        return (raw,)
    if not isinstance(raw, list) or any(isinstance(v, (bool, dict, list)) or v is None
                                        for v in raw):
        problems.add("'missing' must list codes or answer texts", file=file,
                     key=dotted(where + ("missing",)), line=lines.get(where + ("missing",)),
                     fix="write e.g. missing: [8, \"Not applicable\"]")
        return ()
    return tuple(raw)


def _attention_checks(raw: Any, scale: Scale | None, problems: ProblemList, file: str,
                      lines: dict, taken: set) -> dict[str, AttentionCheck]:
    """``attention_checks: {id: {text: ..., pass: [codes or answer labels], scale: ...}}``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add("'attention_checks' must map a check's id to its text and passing answers",
                     file=file, key="attention_checks", line=lines.get(("attention_checks",)),
                     fix="write e.g. attention_checks: {attn_1: {text: 'Please answer Agree', "
                     "pass: [4]}}")
        return {}
    out: dict[str, AttentionCheck] = {}
    for cid, craw in raw.items():
        cpath: KeyPath = ("attention_checks", cid)
        cid = str(cid)
        where = dict(file=file, key=dotted(cpath), line=lines.get(cpath))
        if not NAME_RE.match(cid):
            problems.add(f"attention check id '{cid}' must start with a letter and contain only "
                         "letters, digits and '_'", **where)
            continue
        if cid in taken or cid in RESERVED:
            problems.add(f"attention check id '{cid}' is already an item, construct or column "
                         "name", fix="give the check an id of its own", **where)
            continue
        if not isinstance(craw, dict) or "pass" not in craw:
            problems.add(f"attention check '{cid}' needs 'pass': the answer codes (or labels) "
                         "that pass it", fix="write e.g. attn_1: {text: 'Please answer Agree', "
                         "pass: [4]}", **where)
            continue
        for k in craw:
            if k not in CHECK_KEYS:
                problems.add(f"unknown key '{k}' in attention check '{cid}'; "
                             f"{did_you_mean(k, CHECK_KEYS)}", file=file,
                             key=dotted(cpath + (k,)), line=lines.get(cpath + (k,)))
        cscale = _scale_from(craw.get("scale"), cpath + ("scale",), problems, file, lines, scale)
        if cscale is None:
            continue
        wanted = craw["pass"] if isinstance(craw["pass"], list) else [craw["pass"]]
        by_label = {str(v).strip().casefold(): c for c, v in cscale.labels.items()}
        passing = []
        for v in wanted:
            code = (float(v) if _is_code(v) and not isinstance(v, bool)
                    else by_label.get(str(v).strip().casefold()))
            if code is None or not cscale.min <= code <= cscale.max:
                problems.add(f"attention check '{cid}': passing answer '{v}' is neither a code "
                             f"of its scale ({cscale.min:g}..{cscale.max:g}) nor one of its "
                             "labels", fix="list codes or answer labels under pass:", file=file,
                             key=dotted(cpath + ("pass",)), line=lines.get(cpath + ("pass",)))
                continue
            passing.append(code)
        texts = craw.get("texts") if isinstance(craw.get("texts"), dict) else {}
        item = Item(id=cid, text=str(craw.get("text", craw.get("label", "")) or ""),
                    construct="", reverse=False, scale=cscale,
                    texts={str(k): str(v) for k, v in texts.items()})
        out[cid] = AttentionCheck(item=item, passing=tuple(passing))
    return out


def default_instrument_path() -> Path:
    """The packaged default social-capital instrument (one source for init, simulate, example)."""
    return Path(__file__).parent.parent / "templates" / "instruments" / "social_capital.yaml"
