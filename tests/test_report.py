"""report.html, tables.xlsx, results.json and figures of a whole run.

The study is the session's small simulated study with hostile text put in on purpose: item
wording with ``<script>``, ``&``, quotes, HTML, Japanese, and text a spreadsheet would take for
a formula; a title and a model name with markup; cluster labels starting with ``=``. Every such
text must appear verbatim as text in the report and run nothing; every number of the
reliability and model tables must equal results.json at the precision shown.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.cli import main

TITLE = 'Ōta <script>alert("title")</script> & "Kamata" 大田区の調査'
ITEM_TEXT = {
    "coord_1": '<script>document.title="pwned"</script> & <b>bold</b> "double" \'single\'',
    "coop_1": '=HYPERLINK("http://example.invalid/x","click")',
    "recip_1": "この地域の企業は、困ったときに互いに助け合う。",
    "trust_1": "@SUM(1+1) <img src=x onerror=alert(1)> trust",
    "coord_2": "+cmd|' /C calc'!A0 & more",
    "coop_2": "-2+3 firms share equipment",
}
MODEL = "cat<&>'alytic\""
CLUSTER_FROM, CLUSTER_TO = "C01", "=C01 <&> 大"


def _hostile_study(folder: Path) -> None:
    """Put the hostile texts into a copy of the simulated study."""
    path = folder / "instruments" / "social_capital.yaml"
    inst = yaml.safe_load(path.read_text(encoding="utf-8"))
    for construct in inst["constructs"].values():
        for item in construct["items"]:
            if item in ITEM_TEXT:
                v = construct["items"][item]
                if isinstance(v, dict):
                    v["text"] = ITEM_TEXT[item]
                else:
                    construct["items"][item] = ITEM_TEXT[item]
    path.write_text(yaml.safe_dump(inst, allow_unicode=True, sort_keys=False), encoding="utf-8")
    study = (folder / "study.yaml").read_text(encoding="utf-8")
    study = re.sub(r"(?m)^title: .*$", "title: " + json.dumps(TITLE, ensure_ascii=False), study)
    study = study.replace("- name: catalytic", "- name: " + json.dumps(MODEL))
    (folder / "study.yaml").write_text(study, encoding="utf-8")
    # a cluster label that a spreadsheet would evaluate, in both the survey and the unit table
    from openpyxl import Workbook, load_workbook
    from openpyxl.cell import WriteOnlyCell

    survey = folder / "data" / "raw" / "survey.xlsx"
    wb = load_workbook(survey)
    ws = wb.active
    header = [c.value for c in ws[1]]
    col = header.index("cluster")
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    out = Workbook(write_only=True)
    sheet = out.create_sheet(ws.title)
    sheet.append(header)
    for r in rows:
        if r[col] == CLUSTER_FROM:
            cell = WriteOnlyCell(sheet, value=CLUSTER_TO)
            cell.data_type = "s"  # text, as a survey tool writes it (not a formula)
            r[col] = cell
        sheet.append(r)
    out.save(survey)
    firms = pd.read_csv(folder / "data" / "raw" / "firms.csv", dtype=str)
    firms.loc[firms["cluster"] == CLUSTER_FROM, "cluster"] = CLUSTER_TO
    firms.to_csv(folder / "data" / "raw" / "firms.csv", index=False)


@pytest.fixture(scope="module")
def ran(tmp_path_factory, example_study) -> Path:
    folder = tmp_path_factory.mktemp("report") / "study"
    shutil.copytree(example_study, folder)
    _hostile_study(folder)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder


@pytest.fixture(scope="module")
def results(ran) -> dict:
    return json.loads((ran / "reports" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def html(ran) -> str:
    return (ran / "reports" / "report.html").read_text(encoding="utf-8")


class Page(HTMLParser):
    """Tables (by id: header and cell texts), every text node, and every tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self._table = None
        self._cell = None
        self._row = None
        self._in_head = False
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self._stack.append(tag)
        if tag == "table":
            self._table = {"header": [], "rows": []}
            self.tables[a.get("id", f"table{len(self.tables)}")] = self._table
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self._table["header"] if self._in_head else self._row).append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        self.texts.append(data)


@pytest.fixture(scope="module")
def page(html) -> Page:
    p = Page()
    p.feed(html)
    return p


#: headers the report prints as APA symbols -> the table's column names (tables.xlsx)
HEADER_NAMES = {"\u03b1": "alpha", "\u03c9total": "omega total", "M": "mean", "SD": "sd",
                "\u03b2": "beta", "\u03b2 SE": "beta SE", "\u03c72": "\u03c7\u00b2",
                "h2": "h2", "R2": "R\u00b2"}


def table(page: Page, key: str) -> list[dict]:
    t = page.tables["t-" + key]
    header = [HEADER_NAMES.get(h, h) for h in t["header"]]
    assert all(len(row) == len(header) for row in t["rows"])
    return [dict(zip(header, row)) for row in t["rows"]]


# ---- numbers -------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?[\d,]*\.?\d+$")


def shown(text: str, expected, what: str) -> None:
    """``text`` (as displayed) equals ``expected`` to the displayed precision."""
    if expected is None or (isinstance(expected, float) and not math.isfinite(expected)):
        assert text == "", f"{what}: shown {text!r} for a missing value"
        return
    text = text.strip()
    if text.startswith("< "):  # p-values below the smallest shown
        bound = float(text[2:])
        assert expected < bound, f"{what}: {expected} not below {bound}"
        return
    assert _NUMBER.match(text), f"{what}: {text!r} is not a number"
    value = float(text.replace(",", ""))
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(value - expected) <= 0.5 * 10 ** -decimals + 1e-12, \
        f"{what}: shown {text}, results.json {expected}"


def shown_ci(text: str, low, high, what: str) -> None:
    m = re.fullmatch(r"\[(.*), (.*)\]", text.strip())
    assert m, f"{what}: {text!r} is not an interval"
    shown(m.group(1), low, what + " (low)")
    shown(m.group(2), high, what + " (high)")


def test_reliability_table_equals_results_json(page, results):
    rows = {r["construct"]: r for r in table(page, "reliability")}
    assert set(rows) == set(results["reliability"])
    for c, rel in results["reliability"].items():
        r = rows[c]
        shown(r["items"], rel["n_items"], f"{c} items")
        shown(r["n"], rel["n"], f"{c} n")
        shown(r["alpha"], rel["alpha"], f"{c} alpha")
        shown_ci(r["alpha 95% CI"], *rel["alpha_ci"], f"{c} alpha CI")
        shown(r["omega total"], rel["omega_total"], f"{c} omega")
        shown(r["average r"], rel["average_r"], f"{c} average r")
        assert ("alpha < .70" in r["flag"]) == (rel["alpha"] < 0.70)


def test_item_statistics_equal_results_json(page, results):
    rows = {(r["construct"], r["item"]): r for r in table(page, "reliability_items")}
    n = 0
    for c, rel in results["reliability"].items():
        for item, v in rel["items"].items():
            r = rows[(c, item)]
            for col, key in (("n", "n"), ("mean", "mean"), ("sd", "sd"),
                             ("missing share", "missing"), ("item-rest r", "r_drop"),
                             ("alpha if deleted", "alpha_if_deleted")):
                shown(r[col], v[key], f"{c}/{item} {col}")
            n += 1
    assert n == len(rows) == 20


def _model_key(results):
    assert list(results["models"]) == [MODEL]
    return MODEL


def test_model_tables_equal_results_json(page, results, html):
    name = _model_key(results)
    m = results["models"][name]
    # anchors are derived from the sheet key; find the model's tables by their position
    keys = [k[2:] for k in page.tables if k.startswith("t-model_")]
    assert len(keys) == 1
    rows = {r["term"]: r for r in table(page, keys[0])}
    assert list(rows) == list(m["coefficients"])
    test = "t" if m["test"] == "t" else "z"
    for term, c in m["coefficients"].items():
        r = rows[term]
        shown(r["B"], c["estimate"], f"{term} B")
        shown(r["SE"], c["se"], f"{term} SE")
        shown(r["beta"], c.get("beta"), f"{term} beta")
        shown_ci(r["95% CI"], c["ci_low"], c["ci_high"], f"{term} CI")
        shown(r[test], c["z_or_t"], f"{term} {test}")
        shown(r["p"], c["p"], f"{term} p")
    # simple slopes
    slopes = table(page, [k[2:] for k in page.tables if k.startswith("t-slopes_")][0])
    assert len(slopes) == len(m["simple_slopes"]) == 3
    for r, s in zip(slopes, m["simple_slopes"], strict=True):
        shown(r["moderator value"], s["moderator_value"], "slope moderator value")
        shown(r["moderator (raw)"], s["moderator_value_raw"], "slope raw moderator value")
        shown(r["slope"], s["slope"], "slope")
        shown(r["SE"], s["se"], "slope SE")
        shown_ci(r["95% CI"], s["ci_low"], s["ci_high"], "slope CI")
        shown(r[test], s["z_or_t"], "slope test")
        shown(r["p"], s["p"], "slope p")
    # Johnson-Neyman
    jn = m["johnson_neyman"]
    rows = {r["quantity"]: r for r in table(page, [k[2:] for k in page.tables
                                                   if k.startswith("t-jn_")][0])}
    for i, b in enumerate(jn["bounds"]):
        shown(rows[f"Johnson-Neyman bound {i + 1}"]["value"], b, f"JN bound {i + 1}")
        shown(rows[f"Johnson-Neyman bound {i + 1}"]["raw scale"], jn["bounds_raw"][i],
              f"JN raw bound {i + 1}")
    shown(rows[f"observed {m['moderator']}: minimum"]["value"], jn["range"][0], "JN range low")
    shown(rows[f"observed {m['moderator']}: maximum"]["value"], jn["range"][1], "JN range high")
    shown(rows[f"critical value ({jn['distribution']})"]["value"], jn["critical_value"], "JN critical value")
    # a cluster-robust model with few clusters: t on fractional (Satterthwaite) df, shown per slope
    for r, s in zip(slopes, m["simple_slopes"], strict=True):
        if s.get("df") is not None:
            shown(r["df"], s["df"], "slope df")
    # fit and diagnostics
    rows = {r["statistic"]: r["value"] for r in table(
        page, [k[2:] for k in page.tables if k.startswith("t-fit_")][0])}
    shown(rows["n (rows used)"], m["n"], "n")
    shown(rows["AIC"], m["aic"], "AIC")
    shown(rows["BIC"], m["bic"], "BIC")
    shown(rows["log-likelihood"], m["loglik"], "loglik")
    shown(rows["deviance"], m["deviance"], "deviance")
    shown(rows[f"R\u00b2 ({m['r2_type']})"], m["r2"], "R2")
    shown(rows["dispersion (Pearson chi-square / df)"], m["diagnostics"]["dispersion"]["ratio"],
          "dispersion")
    for term, v in m["diagnostics"]["vif"].items():
        shown(rows[f"VIF: {term}"], v, f"VIF {term}")
    # marginal effects
    rows = table(page, [k[2:] for k in page.tables if k.startswith("t-ame_")][0])
    for r, e in zip(rows, m["marginal_effects"], strict=True):
        shown(r["AME"], e["ame"], "AME")
        shown(r["SE"], e["se"], "AME SE")
        shown_ci(r["95% CI"], e["ci_low"], e["ci_high"], "AME CI")
        shown(r["p"], e["p"], "AME p")


def test_cfa_fit_and_invariance_tables_equal_results_json(page, results):
    fit = results["cfa"]["fit"]
    rows = {r["index"]: r for r in table(page, "cfa_fit")}
    for label, key in (("chi-square", "chisq"), ("df", "df"), ("p", "pvalue"), ("CFI", "cfi"),
                       ("TLI", "tli"), ("RMSEA", "rmsea"), ("SRMR", "srmr")):
        shown(rows[label]["value"], fit[key], f"CFA {label}")
    for label, (op, cut) in (("CFI", (">=", 0.95)), ("RMSEA", ("<=", 0.06)),
                             ("SRMR", ("<=", 0.08))):
        v = fit[{"CFI": "cfi", "RMSEA": "rmsea", "SRMR": "srmr"}[label]]
        meets = v >= cut if op == ">=" else v <= cut
        assert rows[label]["verdict"] == ("meets" if meets else "misses")
    inv = results["invariance"]
    rows = {r["model"]: r for r in table(page, "invariance_fit")}
    for level in ("configural", "metric", "scalar"):
        shown(rows[level]["CFI"], inv[level]["cfi"], f"{level} CFI")
        shown(rows[level]["RMSEA"], inv[level]["rmsea"], f"{level} RMSEA")
        shown(rows[level]["SRMR"], inv[level]["srmr"], f"{level} SRMR")
    shown(rows["metric"]["\u0394CFI"], inv["metric"]["delta_cfi"], "delta CFI")


# ---- text: escaped, shown verbatim, never run -------------------------------------------------


def test_user_text_is_shown_verbatim(page, results):
    texts = {r["item"]: r["text"] for r in table(page, "items")}
    for item, text in ITEM_TEXT.items():
        assert texts[item] == text
        assert results["items"][item]["text"] == text
    joined = "".join(page.texts)
    assert TITLE in joined
    assert f"Model '{MODEL}'" in joined
    clusters = [r["group"] for r in table(page, "network_groups")]
    assert CLUSTER_TO in clusters
    flow = {r["step"]: r["n"] for r in table(page, "sample_flow")}
    assert flow["Groups (clusters)"] == str(results["sample"]["groups"]) == "6"


def test_user_text_runs_nothing(page, html):
    tags = [t for t, _ in page.tags]
    assert "script" not in tags and "img" not in tags and "b" not in tags
    assert not any(k.startswith("on") for _, a in page.tags for k in a)
    # raw markup from the data appears only escaped
    assert "<script" not in html.lower()
    assert "&lt;script&gt;document.title" in html
    assert "<img src=x" not in html
    # nothing may be fetched or run even by mistake
    csp = next(a["content"] for t, a in page.tags
               if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_report_is_self_contained(page, html):
    for tag, a in page.tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), tag
        for attr in ("src", "href", "data", "action", "poster", "srcset"):
            v = a.get(attr)
            if v is None:
                continue
            assert v.startswith("#"), f"<{tag} {attr}={v!r}> points outside the file"
    assert "@import" not in html and "url(" not in html


def test_figures_are_inlined_svg_and_written_as_svg_and_png(ran, page, html):
    figs = ran / "reports" / "figures"
    stems = sorted(p.stem for p in figs.glob("*.svg"))
    assert sorted(p.stem for p in figs.glob("*.png")) == stems
    assert {"scree", "network"} <= set(stems)
    assert any(s.startswith("interaction_") for s in stems)
    assert any(s.startswith("jn_") for s in stems)
    svg_count = sum(1 for t, _ in page.tags if t == "svg")
    assert svg_count == len(stems)
    from PIL import Image

    for stem in stems:
        text = (figs / f"{stem}.svg").read_text(encoding="utf-8")
        root = ET.fromstring(text.encode("utf-8"))
        assert root.tag.endswith("svg")
        assert "Date" not in text and "hashsalt" not in text
        w, h = int(root.get("width")), int(root.get("height"))
        assert Image.open(figs / f"{stem}.png").size == (2 * w, 2 * h)
        assert text[text.index("<svg"):] in html  # the same drawing is inlined
    # the cluster label is a legend entry of the network drawing, escaped
    net = ET.fromstring((figs / "network.svg").read_bytes())
    labels = [t.text for t in net.iter("{http://www.w3.org/2000/svg}text")]
    assert CLUSTER_TO in labels


def test_methods_and_references_follow_what_ran(page, results):
    text = " ".join(page.texts)
    for cited in ("Cronbach 1951", "McDonald 1999", "Horn 1965", "Hu & Bentler", "Bliese 2000",
                  "Burt 1992", "Johnson & Neyman 1936", "Cameron & Miller 2015", "Chen 2007",
                  "Csardi & Nepusz 2006", "Freeman 1978", "Rosseel 2012", "Kaiser 1974",
                  "Bartlett 1950", "Jennrich 2002", "Feldt 1965", "Henseler et al. 2015",
                  "Fornell & Larcker 1981", "James, Demaree & Wolf 1984", "Velicer 1976",
                  "Bauer & Curran 2005", "Hayes 2018"):
        assert cited in text, cited
    refs = [t for t in page.texts if re.match(r"^[A-Z][a-z]+, [A-Z]\.", t)]
    for author in ("Cronbach, L. J.", "Burt, R. S.", "Hayes, A. F.", "Cameron, A. C."):
        assert any(r.startswith(author) for r in refs), author
    # nothing that did not run is cited
    assert "Bates, D." not in text and "MacKinnon, J. G." not in text
    assert "psych, lavaan, semTools, multilevel" not in text  # the sentence names each package
    for pkg in ("psych", "lavaan", "semTools", "multilevel", "sandwich", "lme4", "igraph"):
        assert pkg in text


def test_every_warning_is_listed_numbered(page, results):
    items = [(a.get("value"), t) for t, a in page.tags if t == "li" and a.get("value")]
    assert [int(v) for v, _ in items] == [w["number"] for w in results["warnings"]]
    text = "".join(page.texts)
    for w in results["warnings"]:
        assert w["message"] in text


def test_provenance_shows_inputs_with_checksums_and_config(page, results):
    rows = table(page, "inputs")
    assert [r["sha256"] for r in rows] == [i["sha256"] for i in results["inputs"]]
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in rows)
    text = "".join(page.texts)
    assert f"seed {results['study']['seed']}" in text
    assert results["run"]["started"] in text
    assert "exact_betweenness_max_nodes" in text  # the validated config, defaults included
    versions = {r["software"]: r["version"] for r in table(page, "software")}
    assert versions["socap"] == results["software"]["socap"]


# ---- tables.xlsx -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workbook(ran):
    from openpyxl import load_workbook

    return load_workbook(ran / "reports" / "tables.xlsx")


def test_xlsx_has_every_table_with_frozen_headers(workbook, page):
    keys = [ws.title for ws in workbook.worksheets]
    assert keys[0] == "contents"
    # every sheet but the warnings (a numbered list in the report) is a table of the report
    assert len(keys) - 2 == len(page.tables)
    assert "warnings" in keys
    for ws in workbook.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert all(c.font.b for c in ws[1] if c.value is not None), ws.title


def test_xlsx_numbers_are_numbers(workbook, results):
    ws = workbook["reliability"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        rec = dict(zip(header, row))
        rel = results["reliability"][rec["construct"].value]
        for col, value in (("alpha", rel["alpha"]), ("omega total", rel["omega_total"]),
                           ("alpha CI low", rel["alpha_ci"][0]), ("n", rel["n"])):
            cell = rec[col]
            assert cell.data_type == "n" and cell.value == value, (col, cell.value)
        assert rec["alpha"].number_format == ".000"  # bounded by 1: no leading zero (APA)
    # every cell of every sheet: numbers never stored as text
    for ws in workbook.worksheets:
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, str):
                    assert not re.fullmatch(r"-?\d+(\.\d+)?([eE]-?\d+)?", c.value), \
                        (ws.title, c.coordinate, c.value)
                assert c.data_type != "f", (ws.title, c.coordinate)


def test_xlsx_neutralises_formula_like_text(workbook, results):
    ws = workbook["items"]
    header = [c.value for c in ws[1]]
    texts = {r[0].value: r[header.index("text")] for r in ws.iter_rows(min_row=2)}
    for item, text in ITEM_TEXT.items():
        cell = texts[item]
        assert cell.data_type == "s"
        if text[0] in "=+-@":
            assert cell.value == "'" + text
        else:
            assert cell.value == text
    seen = 0
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    assert not c.value.startswith(("=", "+", "-", "@")), (ws.title, c.value)
                    seen += CLUSTER_TO in c.value
    assert seen >= 1  # the cluster label, neutralised, in the network-by-group table
    model_sheets = [ws.title for ws in workbook.worksheets if ws.title.startswith("model_")]
    assert model_sheets == [f"model_{MODEL}"]


# ---- results.json and determinism ------------------------------------------------------------


def test_same_inputs_give_identical_files(ran, tmp_path):
    again = tmp_path / "again" / ran.name
    shutil.copytree(ran, again)
    assert main(["run", str(again), "--quiet"]) == 0
    a = json.loads((ran / "reports/results.json").read_text(encoding="utf-8"))
    b = json.loads((again / "reports/results.json").read_text(encoding="utf-8"))
    assert a.pop("run") != {} and b.pop("run") != {}
    assert a == b
    for rel in ["tables.xlsx"] + [f"figures/{p.name}" for p in
                                  sorted((ran / "reports/figures").glob("*.svg"))]:
        assert (ran / "reports" / rel).read_bytes() == (again / "reports" / rel).read_bytes(), rel
    # the report differs only where it prints the run's date and stage times
    strip = re.compile(r"20\d\d-\d\d-\d\dT[\d:+]+|Stage times \(s\):[^<]*")
    ha = strip.sub("", (ran / "reports/report.html").read_text(encoding="utf-8"))
    hb = strip.sub("", (again / "reports/report.html").read_text(encoding="utf-8"))
    assert ha == hb


def test_results_json_is_plain_json(ran):
    text = (ran / "reports/results.json").read_text(encoding="utf-8")

    def no_constant(name):
        raise AssertionError(f"results.json holds the non-JSON constant {name}")

    json.loads(text, parse_constant=no_constant)


# ---- units of the report ---------------------------------------------------------------------


def test_report_tables_from_results_alone(results, tmp_path):
    """The report can be rebuilt from results.json alone (no figures needing the fitted
    objects except the scree plot)."""
    from pipeline.report import write_report

    path = write_report(results, tmp_path / "again")
    text = path.read_text(encoding="utf-8")
    assert "Reliability by Construct" in text
    assert (tmp_path / "again" / "figures" / "scree.svg").exists()
    assert not (tmp_path / "again" / "figures" / "network.svg").exists()


def test_network_drawing_samples_large_networks(tmp_path):
    import numpy as np

    from pipeline.report.figures import MAX_NETWORK_NODES, network_figure, snowball_sample

    rng = np.random.default_rng(3)
    n = 4000
    a = rng.integers(0, n, 12000)
    b = rng.integers(0, n, 12000)
    keep = a != b
    edges = pd.DataFrame({"source": [f"F{i}" for i in a[keep]],
                          "target": [f"F{i}" for i in b[keep]]})
    units = pd.DataFrame({"cluster": [f"K{i % 7}" for i in range(n)],
                          "social_capital": rng.normal(size=n)},
                         index=pd.Index([f"F{i}" for i in range(n)], name="firm_id"))

    class Cleaned:
        group_column = "cluster"

    art = {"ties": edges, "units": units, "cleaned": Cleaned()}
    canvas, caption = network_figure(art, {"scores": {"columns": ["social_capital"]}}, seed=5)
    assert f"snowball sample of {MAX_NETWORK_NODES:,} of the network's {n:,} nodes" in caption
    assert "every network measure is computed on the whole network" in caption
    svg = canvas.svg()
    # one circle per node, one per group in the legend, two in the size legend
    assert svg.count("<circle") == MAX_NETWORK_NODES + 7 + 2
    assert canvas.svg() == network_figure(art, {"scores": {"columns": ["social_capital"]}},
                                          seed=5)[0].svg()
    # the sample: distinct nodes, connected growth from the seeds
    s = snowball_sample(np.array([0, 1, 2, 5]), np.array([1, 2, 3, 6]), 10, 4,
                        np.random.default_rng(0))
    assert len(set(s.tolist())) == 4


def test_xlsx_writer_escapes_and_types(tmp_path):
    from openpyxl import load_workbook

    from pipeline.report.tables import ReportTable
    from pipeline.report.xlsx import write_xlsx

    frame = pd.DataFrame({"text": ["a & <b>", "=1+1", "x\x01y", None, "-5"],
                          "n": [1, 2, 3, 4, 5],
                          "v": [0.5, float("nan"), 1e-30, -2.25, float("inf")],
                          "flag": [True, False, True, False, True]})
    t = ReportTable("t<&>", "Title & more", frame, "s", "note", decimals={"v": 2})
    write_xlsx([t], tmp_path / "t.xlsx")
    wb = load_workbook(tmp_path / "t.xlsx")
    ws = wb["t<&>"]
    vals = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[0] for r in vals] == ["a & <b>", "'=1+1", "xy", None, "'-5"]
    assert [r[1] for r in vals] == [1, 2, 3, 4, 5]
    assert [r[2] for r in vals] == [0.5, None, 1e-30, -2.25, None]
    assert [r[3] for r in vals] == [True, False, True, False, True]
    assert ws["C2"].number_format == "0.00"
    assert wb["contents"]["B2"].value == "Title & more"


def test_sections_and_references_follow_what_ran(results, tmp_path):
    """A run without CFA, invariance, network, aggregation and models: no such sections,
    tables or references (the methods cite only what ran)."""
    from pipeline.report import write_report

    r = json.loads(json.dumps(results))
    r.update(cfa=None, invariance=None, network=None, aggregation=None, models={})
    r["sample"].update(units=None, groups=None)
    # the warnings of the stages left out go too (a warning's citation is a reference)
    r["warnings"] = [w for w in r["warnings"] if w["stage"] in ("reliability", "efa")]
    text = write_report(r, tmp_path / "r").read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    sections = [a.get("id") for t, a in page.tags if t == "section"]
    assert sections == ["methods", "sample", "measurement", "efa", "warnings", "provenance",
                        "references"]
    joined = "".join(page.texts)
    for absent in ("Rosseel", "Hu, L.", "Burt, R. S.", "Bliese", "Chen, F. F.", "Johnson, P. O.",
                   "Cameron, A. C.", "Csardi", "Fornell"):
        assert absent not in joined, absent
    for present in ("Cronbach, L. J.", "Horn, J. L.", "Kaiser, H. F.", "Jennrich, R. I."):
        assert present in joined, present
    assert not any(k.startswith(("t-cfa", "t-model", "t-network", "t-aggregation",
                                 "t-invariance")) for k in page.tables)
