"""Columns that identify people: dropped at ingest, only their names (and why) are reported.

Survey exports carry e-mail addresses, names, IP addresses, phone numbers, GPS coordinates and
panel "recipient" fields. socap never needs them, so they are removed as soon as a file is read;
nothing identifying reaches ``data/processed/`` or ``reports/``. Each dropped column is reported
with the reason -- by its name (and what the name says: e-mail, name, phone ...) or by its
content (e-mail addresses, phone numbers, IP addresses, coordinates) -- never with its values.

By name (compared case- and accent-insensitively, ignoring spaces, ``_ - . / : ( )``):

* Qualtrics: ``IPAddress``, ``RecipientLastName``, ``RecipientFirstName``, ``RecipientEmail``,
  ``ExternalReference`` (legacy ``ExternalDataReference``, ``Name``, ``EmailAddress``),
  ``LocationLatitude``, ``LocationLongitude``;
* SurveyMonkey: ``IP Address``, ``Email Address``, ``First Name``, ``Last Name``,
  ``Custom Data 1`` (and 2, 3 ...: panel fields that usually hold names or e-mails);
* KoBoToolbox/ODK: ``_geolocation``, ``*_latitude``, ``*_longitude``, ``*_altitude``,
  ``*_precision`` (geopoint parts), ``_submitted_by``, ``deviceid``, ``phonenumber``,
  ``username``, ``simserial``, ``subscriberid``, ``imei``; ODK Central ``SubmitterName``,
  ``DeviceID``;
* generic, in English, German, French, Spanish, Portuguese, Italian, Dutch, Japanese, Chinese
  and Korean: e-mail (``E-Mail``, ``correo``, ``courriel``, ``メールアドレス``, ``邮箱``),
  people's names (``Name``, ``Vorname``, ``Nachname``, ``Nombre``, ``Apellidos``, ``Prénom``,
  ``Nome``, ``Cognome``, ``氏名``, ``名前``, ``姓名``, ``이름``; ``RespondentFirstName``),
  phone (``Telefon``, ``Teléfono``, ``Téléphone``, ``Handy``, ``電話番号``, ``手机``),
  postal address (``Adresse``, ``Dirección``, ``Anschrift``, ``住所``, ``地址``, postcode), GPS
  (``latitud``, ``Breitengrad``, ``緯度``).

By content, in text columns that are not platform metadata: any cell holding an e-mail address,
a phone number (9-15 digits written as phone numbers are: ``+49 30 1234 5678``, ``(555)
123-4567``, ``03-1234-5678``, ``06.12.34.56.78``, ``030 1234 5678``; dates, times, UUIDs, IPv4
addresses and numbers in prose are not) or an IP address (v4 or v6), inside free text too ("call me on +49 30 1234 5678") -- the
distinct values of a Categorical column, the first 20,000 filled cells of others; and columns most of whose cells are coordinates -- KoBo/ODK geopoints
(``lat lon alt acc``), geotraces (geopoints separated by ``;``) or latitude/longitude pairs
with at least three decimals (``35.6812, 139.7671``). Numeric columns are never judged by
content: a 1-5 answer, an id such as 0012, a firm id or a year is not personal data.

Decisions on look-alikes (documented for reviewers): ``firm_name``, ``company_name``,
``region``, ``location``, ``cluster`` are kept -- they name firms and places the analysis
aggregates to, not people; ``Status`` (whose Qualtrics value is "IP Address") is kept. Columns
that are instrument items or that study.yaml names (``survey.unit``, ``group``, ``weight``,
``columns`` keys, ``keep``) are never dropped -- a ``survey.keep`` column that looks like
personal data is kept with a warning; a ``survey.id`` that looks like personal data is an error
(:func:`check_respondent_id`), because ids are written to ``data/processed/``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

from pipeline.errors import StudyError

#: name patterns by what they denote (matched against the normalised name, see _norm)
_KINDS = {
    "e-mail address": [
        r".*e?mail(address)?", r".*email.*", r"correo.*", r"courriel.*",
        r"adressee?(mail|electronique)", r"mailadresse", r"endereco(de)?email",
        "メール.*", "電子メール.*", "eメール.*", "邮箱", "电子邮件", "电子邮箱", "電子郵件", "이메일",
        "전자우편", "почта", "электроннаяпочта",
    ],
    "person's name": [
        r"recipient.*",
        r"(respondent|contact|person|participant|your|interviewee|submitter|recipient|user"
        r"|customer|client|employee|student|patient)?(first|last|full|given|family|sur|middle"
        r"|maiden|nick|display)?name",
        r"names?(first|last)",
        # German, French, Spanish, Portuguese, Italian, Dutch
        r"vorname", r"nachname", r"familienname", r"vollername", r"rufname",
        r"nom", r"prenom", r"nomcomplet", r"nomdefamille", r"nometprenom", r"prenometnom",
        r"nombres?", r"apellidos?", r"nombrecompleto", r"nombreyapellidos?", r"primerapellido",
        r"segundoapellido", r"nome", r"nomecompleto", r"sobrenome", r"cognome",
        r"nomeecognome", r"naam", r"voornaam", r"achternaam", r"volledigenaam",
        # Japanese, Chinese, Korean, Russian
        "氏名", "名前", "お名前", "姓", "名", "姓名", "氏", "ふりがな", "フリガナ", "名字", "이름",
        "성명", "성함", "имя", "фамилия", "фио",
    ],
    "IP address or device id": [
        r"ip", r"ip(address|addr|adresse|adres|direccion)", r".*ipaddress.*", r"direccionip",
        r"adresseip", r"deviceid", r"imei", r"subscriberid", r"simserial", r"macaddress",
        r"submittedby", r"username", r"submittername", r"ipアドレス",
    ],
    "phone number": [
        r"(phone|telephone|tel|mobile|cell|cellphone|mobilephone|contactphone|telefon|telefono"
        r"|telefone|telefoon|telefonico|handy|movil|celular|mobil|mobiltelefon|portable"
        r"|whatsapp)(number|no|nr|num|nummer|numero|nro)?",
        r".*phonenumber.*", r"phone.*", r"telefonnummer.*", r"numero(de)?(telephone|telefono"
        r"|telefone|portable|celular|movil|whatsapp)", r"(tel|telefono|telefone)(movil|celular|fijo)",
        "電話.*", "携帯.*", "電話番号", "电话.*", "手机.*", "联系电话", "전화.*", "휴대폰.*",
        "телефон.*",
    ],
    "location": [
        r"(location)?(latitude|longitude)", r".*(latitude|longitude|altitude)", r"lat", r"lon",
        r"lng", r"long", r"gps.*", r".*geolocation.*", r"geopoint", r"coordinates?",
        r".*precision", r"latitud", r"longitud", r"breitengrad", r"langengrad", r"koordinaten",
        r"coordonnees(gps)?", r"coordenadas", r"geolocalizacion", r"geolocalisation",
        "緯度", "経度", "位置情報", "纬度", "经度", "위도", "경도",
    ],
    "postal address": [
        r"(street|postal|home|mailing|residential|private)address", r"address(line)?\d*",
        r"postcode", r"zipcode", r"zip", r"adresse", r"anschrift", r"strasse", r"wohnort",
        r"postleitzahl", r"plz", r"direccion", r"domicilio", r"codigopostal", r"codepostal",
        r"indirizzo", r"endereco", r"adres", r"morada", r"cep",
        "住所", "郵便番号", "地址", "住址", "邮编", "邮政编码", "주소", "우편번호", "адрес",
    ],
    "panel reference": [
        r"externalreference", r"externaldatareference", r"externalref", r"customdata\d*",
    ],
}
_BY_KIND = {kind: re.compile("^(?:" + "|".join(p) + ")$") for kind, p in _KINDS.items()}
_COMPILED = re.compile("^(?:" + "|".join(p for ps in _KINDS.values() for p in ps) + ")$")
_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


def _norm(name: str) -> str:
    """Lower case (``casefold``: ß is ss), accents of Latin letters dropped (é is e; Japanese
    kana keep their marks), spaces and ``_ - . / : ( )`` removed."""
    text = unicodedata.normalize("NFKD", str(name))
    out = []
    for ch in text:
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out)).casefold()
    return re.sub(r"[\s_\-./:()\u3000・]+", "", text)


def name_kind(name: str) -> str | None:
    """What a column name says it holds (``'e-mail address'``, ``"person's name"``, ``'phone
    number'``, ...), or None when it does not denote personal data."""
    n = _norm(name)
    if not _COMPILED.match(n):
        return None
    return next(kind for kind, rx in _BY_KIND.items() if rx.match(n))


def is_identifying(name: str) -> bool:
    """Whether a column name denotes personal identifying data."""
    return bool(_COMPILED.match(_norm(name)))


# --- content --------------------------------------------------------------------------------

_EMAIL_IN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)")
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(rf"(?<![0-9A-Fa-f:])(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,6}}:(?:{_H}:){{0,5}}{_H})"
                   r"(?![0-9A-Fa-f:])")
# dates, times, UUIDs, ISO time stamps and IPv4 addresses look like digit groups: removed before
# the phone test
_NOT_PHONE = re.compile(
    r"(?<![\d.\-/])\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?![-/.]\d)"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"|(?<![\d.\-/])\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?![-/.]\d)"
    r"|\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?|(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_PHONE = re.compile(r"(?<![\w+])\+?(?:\(\d{1,5}\)|\d{1,5})(?:[ .\-/]?(?:\(\d{1,5}\)|\d{1,5})){1,7}"
                    r"(?![\w])")
_NUM = r"[+-]?\d{1,3}(?:\.\d+)?"
_GEOPOINT = re.compile(rf"^\s*({_NUM})\s+({_NUM})(?:\s+-?\d+(?:\.\d+)?){{1,2}}\s*$")
_LATLON = re.compile(r"^\s*\(?\s*([+-]?\d{1,2}\.\d{3,})\s*[,;]?\s+([+-]?\d{1,3}\.\d{3,})\s*\)?\s*$"
                     r"|^\s*\(?\s*([+-]?\d{1,2}\.\d{3,})\s*[,;]\s*([+-]?\d{1,3}\.\d{3,})\s*\)?\s*$")


#: the cells that may hold a phone number (RE2, no lookarounds): the forms _has_phone accepts
_PHONE_RE2 = (r"\+\s?\(?\d(?:[ ().\-/]{0,2}\d){8}"  # +49 30 1234 5678
              r"|\(\d{1,5}\)\s?[.\-/]?\s?\d"  # (555) 123-4567
              r"|\d{2,5}[.\-/]\d{3,5}[.\-/]\d{3,5}|\d{1,5}(?:[.\-/]\d{2,5}){3}"  # 03-1234-5678
              r"|(?:^|[^\w+])0\d{1,4} \d{2,5} \d{2,5}")  # 030 1234 5678


def _has_phone(text: str) -> bool:
    """A phone number in the text: 9-15 digits in 2-6 groups, written as phone numbers are --
    starting with ``+`` (international) or with an area code in parentheses, or in groups
    joined by ``-``, ``.`` or ``/`` (three groups of 2+, 3+, 3+ digits: 03-1234-5678,
    555.123.4567; or four or more of 2+ after the first: 06-12-34-56-78), or by spaces after
    a trunk prefix 0 (030 1234 5678). Dates, times and UUIDs are removed first; numbers
    in prose (2019 2020 2021, 5 10 15 20) are not phone numbers."""
    if len(re.findall(r"\d", text)) < 9:
        return False
    text = _NOT_PHONE.sub(" ", text)
    for m in _PHONE.finditer(text):
        s = m.group()
        groups = re.findall(r"\d+", s)
        digits = sum(len(g) for g in groups)
        if not 9 <= digits <= 15 or not 2 <= len(groups) <= 6:
            continue
        if s.startswith("+") or "(" in s:
            return True
        if any(len(g) < 2 for g in groups[1:]):
            continue
        seps = set(re.findall(r"[ .\-/]", s))
        if seps and " " not in seps and (len(groups) >= 4 or (
                len(groups) == 3 and len(groups[0]) >= 2 and min(map(len, groups[1:])) >= 3)):
            return True
        if len(groups) >= 3 and seps == {" "} and s.startswith("0") and 2 <= len(groups[0]) <= 5:
            return True
    return False


def _is_coordinate(text: str) -> bool:
    """A KoBo/ODK geopoint ('lat lon alt acc', lat and lon with decimals), a geotrace or
    geoshape (geopoints separated by ';') or a latitude/longitude pair with 3+ decimals."""
    parts = [p for p in text.split(";") if p.strip()]
    if not parts:
        return False
    for part in parts:
        m = _GEOPOINT.match(part)
        if m and "." in m.group(1) and "." in m.group(2):
            lat, lon = float(m.group(1)), float(m.group(2))
        else:
            m = _LATLON.match(part) if len(parts) == 1 else None
            if not m:
                return False
            a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            lat, lon = float(a), float(b)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return False
    return True


#: what the content test reports, in the order it is tried
CONTENT_KINDS = ("e-mail addresses", "phone numbers", "IP addresses", "coordinates")


def _text_sample(values: pd.Series, limit: int = 20_000) -> list[str]:
    """The distinct filled text cells of a column (the categories of a Categorical; the first
    ``limit`` filled cells otherwise, so that 10^6 rows cost no full scan)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        return [v for v in cats[:limit].to_numpy(dtype=object) if isinstance(v, str)]
    if values.dtype.kind in "biufcmM":
        return []
    filled = values.iloc[: 5 * limit].dropna().iloc[:limit]
    return [v for v in dict.fromkeys(filled.to_numpy(dtype=object)) if isinstance(v, str)]


def redact(text: str) -> str:
    """``text`` with e-mail addresses, IP addresses and phone numbers replaced by ``<e-mail>``,
    ``<IP address>``, ``<phone>`` -- for text socap writes that may quote a cell, such as the
    traceback of an internal error in reports/socap-error.log."""
    text = _EMAIL_IN.sub("<e-mail>", text)
    text = _IPV4.sub("<IP address>", text)
    text = _IPV6.sub(lambda m: "<IP address>" if m.group().count(":") >= 3 else m.group(), text)
    return _PHONE.sub(lambda m: "<phone>" if _has_phone(m.group()) else m.group(), text)


def _picked(arr, text: list[str], prefilter: str) -> list[str]:
    """The cells of ``text`` (``arr``: the same as an arrow array) that the RE2 pattern
    ``prefilter`` finds something in."""
    import numpy as np  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    hit = pc.match_substring_regex(arr, prefilter).to_numpy(zero_copy_only=False)
    return [text[i] for i in np.flatnonzero(hit)]


_COORD_RE2 = r"^\s*\(?\s*[+-]?\d{1,3}(?:\.\d+)?[\s,;]+[+-]?\d{1,3}\.\d"


def content_kind(values: pd.Series) -> str | None:
    """What the cells of a text column reveal: ``'e-mail addresses'``, ``'phone numbers'``,
    ``'IP addresses'`` (any cell holding one, also inside free text) or ``'coordinates'`` (most
    cells geopoints or latitude/longitude pairs); None for numeric columns and text without
    them."""
    if values.dtype.kind in "biufcmM":
        return None
    text = _text_sample(values)
    if not text:
        return None
    import pyarrow as pa  # noqa: PLC0415

    # arrow's RE2 picks the cells that might hold one (linear time, C++), Python's exact
    # patterns (lookarounds, digit counts, ranges) judge only those
    arr = pa.array(text, pa.large_string())
    if any(_EMAIL_IN.search(t) for t in _picked(arr, text, r"@[A-Za-z0-9\-]+\.")):
        return "e-mail addresses"
    if any(_has_phone(t) for t in _picked(arr, text, _PHONE_RE2)):
        return "phone numbers"
    ip = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|::|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]"
    if any(_IPV4.search(t) or _IPV6.search(t) for t in _picked(arr, text, ip)):
        return "IP addresses"
    coords = _picked(arr, text, _COORD_RE2)
    if len(coords) >= 0.5 * len(text) and sum(map(_is_coordinate, coords)) >= 0.5 * len(text):
        return "coordinates"
    return None


def looks_like_emails(values: pd.Series, share: float = 0.5) -> bool:
    """Whether most filled cells of a column are e-mail addresses."""
    if values.dtype.kind in "biufcmM":
        return False
    if isinstance(values.dtype, pd.CategoricalDtype):  # a column of few distinct values
        values = pd.Series(values.cat.categories.to_numpy(dtype=object))
    filled = values.iloc[:10_000].dropna()  # the sample below, without scanning 10^6 rows
    if len(filled) < 2000 and len(values) > 10_000:
        filled = values.dropna()
    if len(filled) == 0:
        return False
    sample = filled.iloc[:2000]
    text = sample[sample.map(lambda v: isinstance(v, str))]
    if len(text) == 0:
        return False
    return bool(text.str.match(_EMAIL).mean() > share) and len(text) >= share * len(sample)


@dataclass(frozen=True)
class Finding:
    """A column found to hold personal data: ``by`` 'name' or 'content', ``what`` it holds."""

    column: str
    by: str
    what: str

    def reason(self) -> str:
        """'by name: e-mail address' / 'by content: phone numbers' (never a value)."""
        return f"by {self.by}: {self.what}"

    def to_dict(self) -> dict:
        return {"by": self.by, "what": self.what}


def identifying_names(names, keep=()) -> set[str]:
    """The columns :func:`identifying_columns` drops by their name alone (before reading them)."""
    keep_norm = {_norm(k) for k in keep}
    return {c for c in names if c not in ("source_row", "source_file")
            and _norm(c) not in keep_norm and is_identifying(c)}


def find_personal(names, frame: pd.DataFrame | None = None, keep=(),
                  no_content=()) -> list[Finding]:
    """Every column of ``names`` that holds personal data, by name or (given the data) by
    content, with the reason; columns in ``keep`` (items, configured columns) are not judged,
    columns in ``no_content`` (platform metadata) only by their name."""
    keep_norm = {_norm(k) for k in keep}
    no_content = set(no_content)
    out = []
    for c in names:
        if c in ("source_row", "source_file") or _norm(c) in keep_norm:
            continue
        kind = name_kind(c)
        if kind is not None:
            out.append(Finding(str(c), "name", kind))
            continue
        if frame is not None and c not in no_content and c in frame.columns:
            what = content_kind(frame[c])
            if what is not None:
                out.append(Finding(str(c), "content", what))
    return out


def judge(column: str, values: pd.Series | None = None) -> Finding | None:
    """Whether one column (judged although configured, e.g. a ``survey.keep`` column) looks
    like personal data, by name or by content."""
    kind = name_kind(column)
    if kind is not None:
        return Finding(str(column), "name", kind)
    if values is not None:
        what = content_kind(values)
        if what is not None:
            return Finding(str(column), "content", what)
    return None


def identifying_columns(names, frame: pd.DataFrame | None = None, keep=()) -> list[str]:
    """Columns to drop: by name (see the module docstring) or, given the data, by content."""
    return [f.column for f in find_personal(names, frame, keep)]


def check_respondent_id(id_column: str | None, frame: pd.DataFrame | None = None, *,
                        study_file=None, file=None) -> None:
    """``survey.id`` must be pseudonymous: not an e-mail, name, phone or IP column.

    Raises
    ------
    StudyError
        The configured id column looks like personal data (by its name or its values).
    """
    if id_column is None:
        return
    by_name = is_identifying(id_column)
    by_content = (frame is not None and id_column in frame.columns
                  and looks_like_emails(frame[id_column]))
    if by_name or by_content:
        what = "its values are e-mail addresses" if by_content else "its name says so"
        raise StudyError(
            f"survey.id is '{id_column}', which looks like personal data ({what}); socap writes "
            "respondent ids to data/processed/ and reports, so they must not identify people",
            file=study_file if by_name or file is None else file, key="survey.id",
            column=id_column if by_content else None,
            fix="use a pseudonymous id (Qualtrics ResponseId, SurveyMonkey Respondent ID, KoBo "
                "_uuid, or a code you assign), or remove survey: id: to number responses by row",
        )
