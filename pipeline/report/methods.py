"""The methods paragraphs of the report, generated from what the run did, with references.

Each paragraph is written only for a stage that ran and cites only the methods it used, so the
reference list of a study without a network has no Burt (1992), and one without moderation has no
Johnson & Neyman (1936). Numbers quoted here are read from the results dictionary (they are in
results.json); the text is plain and is escaped by the HTML template.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.report.apa import fmt_number

#: APA-style entries, keyed by citation label.
REFERENCES: dict[str, str] = {
    "Aiken & West 1991": "Aiken, L. S., & West, S. G. (1991). Multiple regression: Testing and "
    "interpreting interactions. Sage.",
    "Bartlett 1950": "Bartlett, M. S. (1950). Tests of significance in factor analysis. British "
    "Journal of Psychology (Statistical Section), 3(2), 77-85. "
    "https://doi.org/10.1111/j.2044-8317.1950.tb00285.x",
    "Bates et al. 2015": "Bates, D., Maechler, M., Bolker, B., & Walker, S. (2015). Fitting "
    "linear mixed-effects models using lme4. Journal of Statistical Software, 67(1), 1-48. "
    "https://doi.org/10.18637/jss.v067.i01",
    "Bauer & Curran 2005": "Bauer, D. J., & Curran, P. J. (2005). Probing interactions in fixed "
    "and multilevel regression: Inferential and graphical techniques. Multivariate Behavioral "
    "Research, 40(3), 373-400. https://doi.org/10.1207/s15327906mbr4003_5",
    "Bliese 2000": "Bliese, P. D. (2000). Within-group agreement, non-independence, and "
    "reliability: Implications for data aggregation and analysis. In K. J. Klein & S. W. J. "
    "Kozlowski (Eds.), Multilevel theory, research, and methods in organizations (pp. 349-381). "
    "Jossey-Bass.",
    "Bonacich 1987": "Bonacich, P. (1987). Power and centrality: A family of measures. American "
    "Journal of Sociology, 92(5), 1170-1182. https://doi.org/10.1086/228631",
    "Browne 2001": "Browne, M. W. (2001). An overview of analytic rotation in exploratory factor "
    "analysis. Multivariate Behavioral Research, 36(1), 111-150. "
    "https://doi.org/10.1207/S15327906MBR3601_05",
    "Burt 1992": "Burt, R. S. (1992). Structural holes: The social structure of competition. "
    "Harvard University Press.",
    "Byrne, Shavelson & Muthen 1989": "Byrne, B. M., Shavelson, R. J., & Muthen, B. (1989). "
    "Testing for the equivalence of factor covariance and mean structures: The issue of partial "
    "measurement invariance. Psychological Bulletin, 105(3), 456-466. "
    "https://doi.org/10.1037/0033-2909.105.3.456",
    "Cameron & Miller 2015": "Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to "
    "cluster-robust inference. Journal of Human Resources, 50(2), 317-372. "
    "https://doi.org/10.3368/jhr.50.2.317",
    "Chen, Sousa & West 2005": "Chen, F. F., Sousa, K. H., & West, S. G. (2005). Testing "
    "measurement invariance of second-order factor models. Structural Equation Modeling, 12(3), "
    "471-492. https://doi.org/10.1207/s15328007sem1203_7",
    "Chen 2007": "Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of "
    "measurement invariance. Structural Equation Modeling, 14(3), 464-504. "
    "https://doi.org/10.1080/10705510701301834",
    "Cronbach 1951": "Cronbach, L. J. (1951). Coefficient alpha and the internal structure of "
    "tests. Psychometrika, 16(3), 297-334. https://doi.org/10.1007/BF02310555",
    "Csardi & Nepusz 2006": "Csardi, G., & Nepusz, T. (2006). The igraph software package for "
    "complex network research. InterJournal, Complex Systems, 1695.",
    "Feldt 1965": "Feldt, L. S. (1965). The approximate sampling distribution of "
    "Kuder-Richardson reliability coefficient twenty. Psychometrika, 30(3), 357-370. "
    "https://doi.org/10.1007/BF02289499",
    "Fornell & Larcker 1981": "Fornell, C., & Larcker, D. F. (1981). Evaluating structural "
    "equation models with unobservable variables and measurement error. Journal of Marketing "
    "Research, 18(1), 39-50. https://doi.org/10.1177/002224378101800104",
    "Freeman 1978": "Freeman, L. C. (1978). Centrality in social networks: Conceptual "
    "clarification. Social Networks, 1(3), 215-239. https://doi.org/10.1016/0378-8733(78)90021-7",
    "Fruchterman & Reingold 1991": "Fruchterman, T. M. J., & Reingold, E. M. (1991). Graph "
    "drawing by force-directed placement. Software: Practice and Experience, 21(11), 1129-1164. "
    "https://doi.org/10.1002/spe.4380211102",
    "Hayes 2018": "Hayes, A. F. (2018). Introduction to mediation, moderation, and conditional "
    "process analysis: A regression-based approach (2nd ed.). Guilford Press.",
    "Hendrickson & White 1964": "Hendrickson, A. E., & White, P. O. (1964). Promax: A quick "
    "method for rotation to oblique simple structure. British Journal of Statistical Psychology, "
    "17(1), 65-70. https://doi.org/10.1111/j.2044-8317.1964.tb00244.x",
    "Henseler et al. 2015": "Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new "
    "criterion for assessing discriminant validity in variance-based structural equation "
    "modeling. Journal of the Academy of Marketing Science, 43(1), 115-135. "
    "https://doi.org/10.1007/s11747-014-0403-8",
    "Horn 1965": "Horn, J. L. (1965). A rationale and test for the number of factors in factor "
    "analysis. Psychometrika, 30(2), 179-185. https://doi.org/10.1007/BF02289447",
    "Hu & Bentler 1999": "Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in "
    "covariance structure analysis: Conventional criteria versus new alternatives. Structural "
    "Equation Modeling, 6(1), 1-55. https://doi.org/10.1080/10705519909540118",
    "James, Demaree & Wolf 1984": "James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating "
    "within-group interrater reliability with and without response bias. Journal of Applied "
    "Psychology, 69(1), 85-98. https://doi.org/10.1037/0021-9010.69.1.85",
    "Jennrich 2002": "Jennrich, R. I. (2002). A simple general method for oblique rotation. "
    "Psychometrika, 67(1), 7-19. https://doi.org/10.1007/BF02294706",
    "Johnson & Neyman 1936": "Johnson, P. O., & Neyman, J. (1936). Tests of certain linear "
    "hypotheses and their application to some educational problems. Statistical Research "
    "Memoirs, 1, 57-93.",
    "Kaiser 1958": "Kaiser, H. F. (1958). The varimax criterion for analytic rotation in factor "
    "analysis. Psychometrika, 23(3), 187-200. https://doi.org/10.1007/BF02289233",
    "Kaiser 1974": "Kaiser, H. F. (1974). An index of factorial simplicity. Psychometrika, "
    "39(1), 31-36. https://doi.org/10.1007/BF02291575",
    "MacKinnon & White 1985": "MacKinnon, J. G., & White, H. (1985). Some "
    "heteroskedasticity-consistent covariance matrix estimators with improved finite sample "
    "properties. Journal of Econometrics, 29(3), 305-325. "
    "https://doi.org/10.1016/0304-4076(85)90158-7",
    "McDonald 1999": "McDonald, R. P. (1999). Test theory: A unified treatment. Lawrence "
    "Erlbaum.",
    "Nakagawa & Schielzeth 2013": "Nakagawa, S., & Schielzeth, H. (2013). A general and simple "
    "method for obtaining R2 from generalized linear mixed-effects models. Methods in Ecology "
    "and Evolution, 4(2), 133-142. https://doi.org/10.1111/j.2041-210x.2012.00261.x",
    "Rosseel 2012": "Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. "
    "Journal of Statistical Software, 48(2), 1-36. https://doi.org/10.18637/jss.v048.i02",
    "Belsley, Kuh & Welsch 1980": "Belsley, D. A., Kuh, E., & Welsch, R. E. (1980). Regression diagnostics: Identifying influential data and sources of collinearity. Wiley. https://doi.org/10.1002/0471725153",
    "Bell & McCaffrey 2002": "Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression with multi-stage samples. Survey Methodology, 28(2), 169-181.",
    "Benjamini & Hochberg 1995": "Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate: A practical and powerful approach to multiple testing. Journal of the Royal Statistical Society: Series B (Methodological), 57(1), 289-300. https://doi.org/10.1111/j.2517-6161.1995.tb02031.x",
    "Breusch & Pagan 1979": "Breusch, T. S., & Pagan, A. R. (1979). A simple test for heteroscedasticity and random coefficient variation. Econometrica, 47(5), 1287-1294. https://doi.org/10.2307/1911963",
    "Brosseau-Liard & Savalei 2014": "Brosseau-Liard, P. E., & Savalei, V. (2014). Adjusting incremental fit indices for nonnormality. Multivariate Behavioral Research, 49(5), 460-470. https://doi.org/10.1080/00273171.2014.933697",
    "Cameron, Gelbach & Miller 2008": "Cameron, A. C., Gelbach, J. B., & Miller, D. L. (2008). Bootstrap-based improvements for inference with clustered errors. The Review of Economics and Statistics, 90(3), 414-427. https://doi.org/10.1162/rest.90.3.414",
    "Croon & van Veldhoven 2007": "Croon, M. A., & van Veldhoven, M. J. P. M. (2007). Predicting group-level outcome variables from variables measured at the individual level: A latent variable multilevel model. Psychological Methods, 12(1), 45-57. https://doi.org/10.1037/1082-989X.12.1.45",
    "Lüdtke et al. 2008": "Lüdtke, O., Marsh, H. W., Robitzsch, A., Trautwein, U., Asparouhov, T., & Muthén, B. (2008). The multilevel latent covariate model: A new, more reliable approach to group-level effects in contextual studies. Psychological Methods, 13(3), 203-229. https://doi.org/10.1037/a0012869",
    "Carroll et al. 2006": "Carroll, R. J., Ruppert, D., Stefanski, L. A., & Crainiceanu, C. M. (2006). Measurement error in nonlinear models: A modern perspective (2nd ed.). Chapman & Hall/CRC. https://doi.org/10.1201/9781420010138",
    "Cohen 1988": "Cohen, J. (1988). Statistical power analysis for the behavioral sciences (2nd ed.). Lawrence Erlbaum.",
    "Enders 2010": "Enders, C. K. (2010). Applied missing data analysis. Guilford Press.",
    "Fuller 1987": "Fuller, W. A. (1987). Measurement error models. Wiley. https://doi.org/10.1002/9780470316665",
    "Friedrich 1982": "Friedrich, R. J. (1982). In defense of multiplicative terms in multiple regression equations. American Journal of Political Science, 26(4), 797-833. https://doi.org/10.2307/2110973",
    "Holm 1979": "Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of Statistics, 6(2), 65-70.",
    "Kline & Santos 2012": "Kline, P., & Santos, A. (2012). A score based approach to wild bootstrap inference. Journal of Econometric Methods, 1(1), 23-41.",
    "Kenward & Roger 1997": "Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed effects from restricted maximum likelihood. Biometrics, 53(3), 983-997. https://doi.org/10.2307/2533558",
    "Kline 2016": "Kline, R. B. (2016). Principles and practice of structural equation modeling (4th ed.). Guilford Press.",
    "Koenker 1981": "Koenker, R. (1981). A note on studentizing a test for heteroscedasticity. Journal of Econometrics, 17(1), 107-112. https://doi.org/10.1016/0304-4076(81)90062-2",
    "Savalei 2021": "Savalei, V. (2021). Improving fit indices in structural equation modeling with categorical data. Multivariate Behavioral Research, 56(3), 390-407. https://doi.org/10.1080/00273171.2020.1717922",
    "Muthén, du Toit & Spisic 1997": "Muthén, B. O., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using weighted least squares and quadratic estimating equations in latent variable modeling with categorical and continuous outcomes [Unpublished manuscript].",
    "Pustejovsky & Tipton 2018": "Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance estimation and hypothesis testing in fixed effects models. Journal of Business & Economic Statistics, 36(4), 672-683. https://doi.org/10.1080/07350015.2016.1247004",
    "Satterthwaite 1946": "Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance components. Biometrics Bulletin, 2(6), 110-114. https://doi.org/10.2307/3002019",
    "Webb 2023": "Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. Canadian Journal of Economics, 56(3), 839-858. https://doi.org/10.1111/caje.12661",
    "Satorra 2000": "Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample analysis of moment structures. In R. D. H. Heijmans, D. S. G. Pollock, & A. Satorra (Eds.), Innovations in multivariate statistical analysis (pp. 233-247). Kluwer Academic. https://doi.org/10.1007/978-1-4615-4603-0_17",
    "Wu & Estabrook 2016": "Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor analysis models of different levels of invariance for ordered categorical outcomes. Psychometrika, 81(4), 1014-1045. https://doi.org/10.1007/s11336-016-9506-0",
    "Yuan & Bentler 2000": "Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean and covariance structure analysis with nonnormal missing data. Sociological Methodology, 30(1), 165-200. https://doi.org/10.1111/0081-1750.00078",
    "Velicer 1976": "Velicer, W. F. (1976). Determining the number of components from the "
    "matrix of partial correlations. Psychometrika, 41(3), 321-327. "
    "https://doi.org/10.1007/BF02293557",
    "Venables & Ripley 2002": "Venables, W. N., & Ripley, B. D. (2002). Modern applied "
    "statistics with S (4th ed.). Springer. https://doi.org/10.1007/978-0-387-21706-2",
}

#: The R packages (and versions) that produced the test suite's reference values
#: (tests/reference/*.R); tests/test_report_methods.py checks lavaan's against its fixture.
REFERENCE_VERSIONS = {"R": "4.2.2", "lavaan": "0.6.14", "semTools": "0.5.6", "psych": "2.2.9",
                      "GPArotation": "2022.10.2", "multilevel": "2.7", "sandwich": "3.0.2",
                      "lmtest": "0.9.40", "clubSandwich": "0.5.8", "lme4": "1.1.31",
                      "MASS": "7.3.58.2", "igraph": "1.3.5"}


def _v(pkg: str) -> str:
    return f"{pkg} {REFERENCE_VERSIONS[pkg]}"


VERIFICATION = (
    "Every number of this report was computed by socap itself (Python; no R code ran). socap's "
    "test suite checks its implementations against R's reference implementations on committed "
    f"reference data, each reference value produced by a committed R script (R "
    f"{REFERENCE_VERSIONS['R']}): reliability against {_v('psych')}, factor analysis against "
    f"psych and {_v('GPArotation')}, CFA and measurement invariance against {_v('lavaan')} and "
    f"{_v('semTools')}, aggregation statistics against {_v('multilevel')}, robust and "
    f"cluster-robust standard errors against {_v('sandwich')} and {_v('clubSandwich')}, "
    f"random-intercept models against {_v('lme4')}, negative binomial models against "
    f"{_v('MASS')}, and network measures against {_v('igraph')}. reports/reproduce.R "
    "recomputes the key numbers of this run in R from the processed data (csv copies of "
    "data/processed/ in reports/reproduce/).")


@dataclass(frozen=True)
class Methods:
    """Methods paragraphs (plain text with author-year citations) and the references they cite."""

    paragraphs: tuple[tuple[str, str], ...]  # (heading, text)
    references: tuple[str, ...]  # APA entries, alphabetical
    verification: str = VERIFICATION


class _Cites:
    def __init__(self) -> None:
        self.used: list[str] = []

    def __call__(self, *keys: str) -> str:
        """'(A 1999; B 2000)' and the keys remembered for the reference list."""
        for k in keys:
            if k not in REFERENCES:
                raise KeyError(k)
            if k not in self.used:
                self.used.append(k)
        return "(" + "; ".join(keys) + ")"

    def add(self, *keys: str) -> None:
        self(*keys)

    def bare(self, *keys: str) -> str:
        """'A 1999; B 2000' (inside a parenthesis already open)."""
        return self(*keys)[1:-1]

    def narrative(self, key: str) -> str:
        """'Hu and Bentler (1999)'."""
        self(key)
        authors, year = key.rsplit(" ", 1)
        return f"{authors.replace(' & ', ' and ')} ({year})"


def _model_sentence(inv: dict, cite) -> str:
    from pipeline.report.tables import invariance_model_sentence  # noqa: PLC0415

    text = invariance_model_sentence(inv)
    if "Chen, Sousa & West 2005" in text:
        text = text.replace("(Chen, Sousa & West 2005)", cite("Chen, Sousa & West 2005"))
    return text


def _partial_text(inv: dict, cite) -> str:
    """'Partial scalar invariance was reached by freeing ... ' when the search freed anything."""
    partial = inv.get("partial") or {}
    parts = []
    for name in ("metric", "scalar"):
        lv = partial.get(name) or {}
        if lv.get("freed"):
            parts.append(f"{', '.join(lv['freed'])} for partial {name} invariance"
                         + ("" if lv.get("holds") else " (which still failed)"))
    if not parts:
        return ""
    return ("Where a level failed, the equality constraint with the largest univariate score "
            "test (lavaan's lavTestScore) was released and the model refitted until the level "
            "held, keeping at least two invariant indicators per factor "
            f"{cite('Byrne, Shavelson & Muthen 1989')}; freed: " + "; ".join(parts) + ". ")


def _and(words: list[str]) -> str:
    words = [str(w) for w in words]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _n(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


SE_TYPES = {"classical": "model-based (classical)", "hc3": "heteroskedasticity-consistent HC3",
            "HC3": "heteroskedasticity-consistent HC3", "cluster": "cluster-robust CR1",
            "CR1": "cluster-robust CR1", "CR2": "cluster-robust CR2 (bias-reduced linearisation)"}
DF_METHODS = {"residual": "t tests with the residual df", "normal": "z tests (normal distribution)",
              "Satterthwaite": "t tests with Satterthwaite df",
              "G-1": "t tests with G - 1 df (G clusters)",
              "Kenward-Roger": "t tests with Kenward-Roger df"}


def inference_sentence(m: dict, spec: dict, cite=None) -> str:
    """Estimator, SE type and df of a model's tests, in one sentence: from the model's
    ``se_type`` / ``df_method`` / ``inference_reason`` where the model wrote them, otherwise
    what pipeline.models does (gaussian: t with the residual df; other families and mixed
    models: z)."""
    cite = cite or (lambda *k: "(" + "; ".join(k) + ")")
    se = m.get("se_type") or "classical"
    rnd = m.get("random")
    if rnd:
        se_text = "model-based (lme4)"
    else:
        se_text = SE_TYPES.get(se, se)
    if se in ("cluster", "CR1", "CR2"):
        g = (spec or {}).get("cluster") or "the clusters"
        se_text += f" over {g}"
        se_text += " " + (cite("Bell & McCaffrey 2002", "Pustejovsky & Tipton 2018")
                          if se == "CR2" else cite("Cameron & Miller 2015"))
        se_text += (" (clubSandwich::vcovCR, type = \"CR2\")" if se == "CR2" else
                    " (sandwich::vcovCL, type = \"HC1\")")
    elif se in ("hc3", "HC3"):
        se_text += f" {cite('MacKinnon & White 1985')} (sandwich::vcovHC, type = \"HC3\")"
    dfm = m.get("df_method")
    if dfm is None:
        dfm = "residual" if m.get("test") == "t" else "normal"
    df_text = DF_METHODS.get(dfm, f"tests with {dfm} df")
    if dfm == "residual" and m.get("df_residual") is not None:
        df_text = f"t tests with the residual df ({_n(m.get('df_residual'))})"
    if dfm == "Satterthwaite":
        df_text += f" {cite('Satterthwaite 1946')}"
    elif dfm == "Kenward-Roger":
        df_text += f" {cite('Kenward & Roger 1997')}"
    text = (f"Standard errors are {se_text}; coefficients are tested with {df_text}, and 95% "
            f"confidence intervals are {m.get('ci_method') or 'Wald'} intervals on the same "
            "distribution")
    if m.get("inference_reason"):
        text += f". {m['inference_reason'].rstrip('.')}"
    return text


#: method names that cite a source without an author-year citation beside them
ALIASES = {"Belsley-Kuh-Welsch": "Belsley, Kuh & Welsch 1980",
           "Breusch-Pagan": "Breusch & Pagan 1979", "Koenker": "Koenker 1981",
           "Fruchterman-Reingold": "Fruchterman & Reingold 1991",
           "Fornell-Larcker": "Fornell & Larcker 1981", "Johnson-Neyman": "Johnson & Neyman 1936"}


def _citation_pattern(key: str) -> str:
    """A regex for the citation ``key`` as it is written in running text: 'A, B & C 2008',
    'A, B, & C, 2008', 'A and B (2008)', 'A et al. 2015'."""
    import re  # noqa: PLC0415

    authors, year = key.rsplit(" ", 1)
    if authors.endswith(" et al."):
        names = [authors[: -len(" et al.")]]
        tail = r"\s+et\s+al\."
    else:
        names = [n.strip() for n in re.split(r",\s*|\s+&\s+", authors) if n.strip()]
        tail = ""
    sep = r"(?:,\s*&\s*|,\s*and\s+|,\s*|\s+&\s+|\s+and\s+)"
    return (sep.join(re.escape(n) for n in names) + tail + r",?\s+\(?" + re.escape(year)
            + r"\b")


_CITATION_RE = None


def cited_keys(texts) -> list[str]:
    """The reference keys cited anywhere in ``texts`` (table notes, captions, warnings,
    model notes): author-year citations in any of the usual spellings, and the method names
    of :data:`ALIASES`."""
    import re  # noqa: PLC0415

    global _CITATION_RE
    if _CITATION_RE is None:
        _CITATION_RE = [(k, re.compile(_citation_pattern(k))) for k in REFERENCES]
    found: list[str] = []
    for text in texts:
        if not text:
            continue
        for key, pattern in _CITATION_RE:
            if key not in found and pattern.search(text):
                found.append(key)
        for alias, key in ALIASES.items():
            if key not in found and alias in text:
                found.append(key)
    return found


def methods(results: dict, other_texts=()) -> Methods:
    """The methods section for what this run did; its references are those the methods cite
    and those cited in ``other_texts`` (the report's notes, captions and warnings)."""
    cite = _Cites()
    paras: list[tuple[str, str]] = []
    cfg = results.get("config") or {}
    s = results.get("sample") or {}

    # ---- sample
    rules = [f"{k.replace('_', ' ')} ({v})" for k, v in (s.get("excluded_by_rule") or {}).items()
             if v]
    text = (f"Of {_n(s.get('rows_read'))} survey responses read, {_n(s.get('excluded'))} were "
            f"excluded by the quality rules" + (f" ({', '.join(rules)})" if rules else "")
            + f", leaving {_n(s.get('respondents'))} respondents")
    if s.get("units"):
        text += f" who answered for {_n(s.get('units'))} units (firms)"
    if s.get("groups"):
        text += f" in {_n(s.get('groups'))} groups (clusters)"
    text += ". Answers were coded with the instrument's scales; reverse-keyed items were " \
            "recoded as min + max - x before any analysis."
    paras.append(("Sample", text))

    # ---- reliability
    if results.get("reliability"):
        paras.append(("Reliability", (
            "Internal consistency of each construct was estimated with Cronbach's alpha "
            f"{cite('Cronbach 1951')} on pairwise-complete data, as R's psych::alpha does, with "
            f"Feldt's 95% confidence interval {cite('Feldt 1965')}, and with McDonald's omega "
            f"total from a one-factor model {cite('McDonald 1999')}. Item-rest correlations "
            "and alpha if an item is deleted identify weak items; alpha below .70 is flagged.")))

    # ---- EFA
    efa = results.get("efa") or {}
    if efa:
        sug = efa.get("suggested") or {}
        ps = efa.get("parallel_settings") or {}
        crit = []
        if "parallel" in sug or "parallel_fa" in sug:
            detail = (f"; observed eigenvalues against the {ps['quantile'] * 100:.0f}th "
                      f"percentile of {ps.get('n_iter')} simulated normal data sets, seed "
                      f"{ps.get('seed')}" if ps.get("quantile") else "")
            crit.append(f"parallel analysis ({cite.bare('Horn 1965')}{detail})")
        if "kaiser" in sug:
            crit.append("the Kaiser criterion (eigenvalues above 1)")
        if "map" in sug:
            crit.append(f"Velicer's minimum average partial {cite('Velicer 1976')}")
        rot = efa.get("rotation")
        rot_cite = {"oblimin": ("Jennrich 2002",), "geomin": ("Browne 2001", "Jennrich 2002"),
                    "varimax": ("Kaiser 1958",), "promax": ("Hendrickson & White 1964",)}.get(rot)
        method = {"ml": "maximum likelihood", "minres": "minimum residual"}.get(
            efa.get("method"), efa.get("method"))
        text = (f"Sampling adequacy was assessed with the Kaiser-Meyer-Olkin measure "
                f"{cite('Kaiser 1974')} and Bartlett's test of sphericity "
                f"{cite('Bartlett 1950')}. "
                + ("The number of factors was judged from " + _and(crit) + "; " if crit else "")
                + (f"{efa.get('n_factors')} factors were" if efa.get("n_factors") != 1 else
                   "one factor was")
                + f" extracted by {method} from the "
                + ("polychoric correlations of the ordered items (pairwise-complete tables)"
                   if efa.get("correlation") == "polychoric" else
                   "pairwise-complete item correlations"))
        if efa.get("n_factors") == 1:
            pass  # nothing to rotate
        elif rot_cite:
            text += f" and rotated by {rot} {cite(*rot_cite)}"
        else:
            text += " without rotation" if rot == "none" else f" and rotated by {rot}"
        text += (", as R's psych::fa does. Loadings below .30 are greyed in the pattern "
                 "matrix.")
        paras.append(("Exploratory factor analysis", text))

    # ---- CFA
    cfa = results.get("cfa") or {}
    scores = results.get("scores") or {}
    if cfa:
        ho = list((cfa.get("higher_order") or {}).keys())
        est = cfa.get("estimator") or "ML"
        missing = cfa.get("missing") or "listwise"
        est_text = {"ML": "maximum likelihood (ML)",
                    "MLR": "maximum likelihood with Huber-White robust standard errors and the "
                           f"Yuan-Bentler scaled test statistic {cite('Yuan & Bentler 2000')}",
                    "WLSMV": "diagonally weighted least squares with mean- and variance-adjusted "
                             f"test statistic on polychoric correlations "
                             f"{cite('Muthén, du Toit & Spisic 1997')}"}.get(est, est)
        miss_text = (f"full-information maximum likelihood on every respondent with an answer "
                     f"{cite('Enders 2010')}" if missing == "fiml" else
                     f"pairwise-complete data (thresholds from each item's answers, "
                     f"polychorics from each pair's; n = {_n(cfa.get('n'))})"
                     if missing == "pairwise" else
                     f"listwise-complete data (n = {_n(cfa.get('n'))}"
                     + (f"; {_n(cfa.get('n_dropped_listwise'))} respondents with a missing "
                        "item dropped" if cfa.get("n_dropped_listwise") else "") + ")")
        text = (f"The instrument's measurement model was tested by confirmatory factor analysis "
                f"estimated by {est_text} on {miss_text}"
                + (f", with {', '.join(ho)} as a second-order factor of the first-order "
                   "constructs" if ho else "")
                + "; each factor's first loading was fixed at 1. "
                + (f"{cfa['estimator_reason']} " if cfa.get("estimator_reason") else "")
                + "The estimates were computed by socap's own structural-equation engine, which "
                f"implements lavaan's defaults {cite('Rosseel 2012')} and is checked against "
                f"lavaan {REFERENCE_VERSIONS['lavaan']} in socap's test suite (lavaan did not "
                "run here; reports/reproduce.R refits the model with lavaan::cfa). Standard "
                "errors are "
                + _cfa_se_text(cfa)
                + "; loadings are tested by z = estimate / SE against the standard normal "
                "distribution, and model fit by the "
                + ("scaled chi-square test" if est in ("MLR", "WLSMV") else
                   "likelihood-ratio chi-square test")
                + f" with df = {_n((cfa.get('fit') or {}).get('df'))}"
                + (f" and robust fit indices {cite('Savalei 2021')}" if est == "WLSMV" and
                   (cfa.get("fit") or {}).get("cfi_robust") is not None else
                   f" and robust fit indices {cite('Brosseau-Liard & Savalei 2014')}"
                   if (cfa.get("fit") or {}).get("cfi_robust") is not None else "")
                + f". Fit was judged against the cutoffs of "
                f"{cite.narrative('Hu & Bentler 1999')}: CFI and TLI at least .95, RMSEA at most "
                ".06, SRMR at most .08; local misfit from residual correlations above .10 in "
                f"absolute value {cite('Kline 2016')} and modification indices. Convergent "
                "validity was assessed with composite reliability and the average variance "
                f"extracted {cite('Fornell & Larcker 1981')}, discriminant validity with the "
                "Fornell-Larcker criterion and the heterotrait-monotrait ratio "
                f"{cite('Henseler et al. 2015')}.")
        paras.append(("Confirmatory factor analysis", text))
    if scores.get("method"):
        text = ("Construct scores are regression (Thurstone) factor scores from the CFA."
                if scores["method"] == "factor" else
                "Construct scores are the means of each respondent's valid items (at least "
                f"{scores.get('min_valid_share', 0.5):.0%} of a construct's items), and "
                "higher-order scores the means of their constructs' scores.")
        paras.append(("Scores", text))

    # ---- invariance
    inv = results.get("invariance") or {}
    if inv and inv.get("estimator") == "WLSMV":
        crit = inv.get("criteria") or {}
        text = (f"Measurement invariance of the ordered items across {inv.get('group')} "
                f"({len(inv.get('groups') or [])} groups) was tested with multi-group CFA "
                "by WLSMV (diagonally weighted least squares on each group's polychoric "
                "correlations and thresholds, delta parameterisation), with the identification "
                f"of ordered-categorical invariance models of {cite('Wu & Estabrook 2016')}: "
                "configural (same structure, group-specific thresholds and loadings), "
                "threshold invariance (equal thresholds, item intercepts and latent-response "
                "scales free), metric (thresholds and loadings equal) and scalar (thresholds, "
                "loadings and intercepts equal). Each level holds when the scaled CFI fell by "
                f"at most {crit.get('delta_cfi', 0.01)} and the scaled RMSEA rose by at most "
                f"{crit.get('delta_rmsea', 0.015)} {cite('Chen 2007')} against the previous "
                "level; the scaled-shifted chi-square difference test "
                f"{cite('Satorra 2000')} is reported beside them. The levels were tested on the "
                "first-order model (correlated constructs). Invariance reached: "
                f"{inv.get('level_reached')}. Partial invariance was not searched for. "
                f"{inv.get('defensible_comparisons') or ''}")
        paras.append(("Measurement invariance", text.strip()))
    elif inv:
        crit = inv.get("criteria") or {}
        text = (f"Measurement invariance across {inv.get('group')} "
                f"({len(inv.get('groups') or [])} groups) was tested with multi-group CFA: "
                "configural (same structure), metric (equal loadings) and scalar (equal loadings "
                "and intercepts) models, each level holding when CFI fell by at most "
                f"{crit.get('delta_cfi', 0.01)} and RMSEA rose by at most "
                f"{crit.get('delta_rmsea', 0.015)} {cite('Chen 2007')}. "
                f"{_model_sentence(inv, cite)} Invariance reached: "
                f"{inv.get('level_reached')}. {_partial_text(inv, cite)}"
                f"{inv.get('defensible_comparisons') or ''}")
        paras.append(("Measurement invariance", text.strip()))

    # ---- aggregation
    agg = results.get("aggregation") or {}
    if agg:
        paras.append(("Aggregation", (
            "Respondents' scores were aggregated to their units by the mean. Between-unit "
            "variance and the reliability of unit means were estimated with ICC(1) and ICC(2) "
            f"from a one-way ANOVA {cite('Bliese 2000')}, as R's multilevel package does, and "
            "within-unit agreement with rwg(j) against the uniform null distribution of each "
            f"construct's scale {cite('James, Demaree & Wolf 1984')}.")))

    # ---- network
    net = results.get("network") or {}
    if net:
        text = (f"The tie list gave a{' directed' if net.get('directed') else 'n undirected'} "
                f"network of {_n(net.get('nodes'))} nodes and {_n(net.get('edges'))} distinct "
                "ties (repeated ties between a pair merged, weights summed). Unit measures were "
                f"computed with igraph {cite('Csardi & Nepusz 2006')}: degree and betweenness "
                f"{cite('Freeman 1978')}, harmonic closeness, eigenvector centrality "
                f"{cite('Bonacich 1987')}, local clustering, and Burt's constraint and effective "
                f"size {cite('Burt 1992')}; group (cluster) density and degree centralization "
                "describe each cluster's network. The network drawing uses the "
                f"Fruchterman-Reingold layout {cite('Fruchterman & Reingold 1991')}.")
        if net.get("approximate"):
            text += (" Path-based measures (betweenness, closeness) were estimated from a "
                     "random sample of source nodes because of the network's size.")
        paras.append(("Network", text))

    # ---- models
    for name, m in (results.get("models") or {}).items():
        spec = next((x for x in (cfg.get("analysis") or {}).get("models") or []
                     if x.get("name") == name), {})
        rnd = m.get("random")
        fam = {"gaussian": "linear (OLS) regression", "poisson": "Poisson regression",
               "negbin": "negative binomial regression", "logit": "logistic regression"}.get(
            m.get("family"), f"{m.get('family')} regression")
        if rnd:
            fam = {"gaussian": "linear mixed model", "poisson": "Poisson mixed model",
                   "logit": "logistic mixed model"}.get(m.get("family"), f"{fam} (mixed)")
        text = (f"Model '{name}' is a {fam} at the {m.get('level')} level, "
                f"{m.get('formula')} (n = {_n(m.get('n'))})")
        if m.get("family") == "negbin":
            text += f", with the dispersion parameter estimated as MASS::glm.nb does " \
                    f"{cite('Venables & Ripley 2002')}"
        if rnd:
            text += (f", with a random intercept for {rnd.get('group')} estimated by "
                     f"{rnd.get('estimation')} as lme4 does {cite('Bates et al. 2015')}; R\u00b2 "
                     f"is the marginal R\u00b2 of {cite.narrative('Nakagawa & Schielzeth 2013')}")
        text += ". " + inference_sentence(m, spec, cite)
        wb = m.get("wild_bootstrap") or {}
        if wb:
            score = "score" in str(wb.get("method") or "")
            draws = (f"all {_n(wb.get('draws'))} sign vectors of the {wb.get('clusters')} clusters"
                     if wb.get("enumerated") else
                     f"{_n(wb.get('draws'))} draws, seed {wb.get('seed')}")
            text += (f" The test of {wb.get('term')} was repeated with a "
                     + ("score " if score else "") + "wild cluster bootstrap "
                     f"(restricted, {wb.get('weights', 'Rademacher')} weights, {draws}; the CI "
                     "inverts the bootstrap test) "
                     + (cite('Cameron, Gelbach & Miller 2008', 'Kline & Santos 2012', 'Webb 2023') if score
                        else cite('Cameron, Gelbach & Miller 2008', 'Webb 2023')))
        es = m.get("effect_sizes") or {}
        if es:
            parts = []
            if es.get("f2") is not None or es.get("delta_r2") is not None:
                parts.append(f"the interaction's \u0394R\u00b2 and Cohen's f\u00b2 "
                             f"{cite('Cohen 1988')}")
            if es.get("lr_test"):
                parts.append("a likelihood-ratio test of the interaction")
            if es.get("exp_coef"):
                parts.append("exponentiated coefficients (rate or odds ratios) with their CIs")
            if es.get("standardized_interaction") is not None:
                parts.append("the interaction on z-scored variables")
            if parts:
                text += ". Effect sizes: " + _and(parts)
        cor = m.get("corrected") or {}
        if cor:
            how = cor.get("method") if isinstance(cor, dict) else None
            ref = {"holm": ("Holm 1979",), "bh": ("Benjamini & Hochberg 1995",),
                   "fdr": ("Benjamini & Hochberg 1995",)}.get(str(how).lower())
            text += (f". p-values corrected for multiple tests"
                     + (f" ({how}) {cite(*ref)}" if ref else f" ({how})" if how else ""))
        scc = m.get("score_correction") or {}
        if scc:
            cols = list(scc.get("scores") or {})
            rel = [f"{c}: mean reliability of the unit means "
                   f"{fmt_number((scc['scores'][c] or {}).get('reliability_mean'), 2, bounded=True)}"
                   for c in cols]
            what = ("the unit's latent mean over all its potential respondents, so within-unit "
                    f"sampling error counts as error {cite('Lüdtke et al. 2008')}"
                    if scc.get("method") == "latent" else
                    "the mean of its respondents' true scores, so only the items' measurement "
                    "error (from the CFA) counts as error")
            text += (f". Because the unit scores of {_and(cols)} are means of few respondents, "
                     f"the model was also fitted on regression-calibrated unit scores "
                     f"{cite('Croon & van Veldhoven 2007', 'Carroll et al. 2006')}: each unit "
                     f"mean replaced by its best linear prediction of the unit's construct -- "
                     f"{what} -- given the model's other unit-level predictors ("
                     + "; ".join(rel) + ")"
                     + (", the estimated true between-unit variance including a second-order "
                        "small-sample bias adjustment " + cite("Fuller 1987")
                        if scc.get("small_sample") else "")
                     + ". The "
                     + ("corrected estimates are the model's reported coefficients, the "
                        "uncorrected ones reported beside them" if scc.get("headline") else
                        "uncorrected estimates are the model's reported coefficients, the "
                        "corrected ones reported beside them"))
        scaled = [v for v in spec.get("standardize") or []]
        centred = [v for v in spec.get("center") or []]
        text += "."
        if scaled:
            text += (f" The variable{'s' if len(scaled) > 1 else ''} {_and(scaled)} "
                     f"{'was' if len(scaled) == 1 else 'were'} z-scored")
        if centred:
            text += ("; " if scaled else f" The variable{'s' if len(centred) > 1 else ''} ") + (
                f"{_and(centred)} {'was' if len(centred) == 1 else 'were'} mean-centred")
        if scaled or centred:
            text += " before product terms were formed."
        if m.get("focal") and m.get("moderator"):
            text += (f" The moderation of {m['focal']}'s effect by {m['moderator']} was probed "
                     f"with simple slopes at the moderator's mean and one standard deviation "
                     f"either side {cite('Aiken & West 1991')} and with the Johnson-Neyman "
                     "region of significance "
                     f"{cite('Johnson & Neyman 1936', 'Bauer & Curran 2005', 'Hayes 2018')}"
                     f", using the {(m.get('johnson_neyman') or {}).get('distribution', 'normal')}"
                     " distribution.")
        med = m.get("mediation")
        if med:
            text += (f" The indirect effect of {med.get('x')} on {med.get('y')} through "
                     f"{', '.join(med.get('m') or [])} ({med.get('model')}) was tested with "
                     f"{_n(med.get('n_boot'))} bootstrap resamples"
                     + (f" of whole clusters ({_n(med.get('clusters'))} clusters drawn with "
                        "replacement per resample; paths with cluster-robust "
                        + ("CR2 standard errors and Satterthwaite df)" if med.get("path_se") == "CR2"
                           else "CR1 standard errors and G - 1 df)")
                        if med.get("resampling") == "clusters" else "")
                     + f" (percentile and bias-corrected intervals) {cite('Hayes 2018')}.")
        paras.append((f"Model '{name}'", text))

    for k in cited_keys([t for _, t in paras] + list(other_texts)):
        cite.add(k)
    refs = tuple(sorted((REFERENCES[k] for k in cite.used), key=str.lower))
    return Methods(paragraphs=tuple(paras), references=refs)


def _cfa_se_text(cfa: dict) -> str:
    """How the CFA's SEs were computed, in words (FIML's standard SEs come from the observed
    information, lavaan's default for missing = "ml"; MLR's sandwich too)."""
    se = str(cfa.get("se") or "standard")
    if se.startswith("cluster:"):
        return (f"cluster-robust over the clusters of '{se.split(':', 1)[1]}' (sandwich with "
                "the observed information and the scores summed within clusters)")
    if se == "standard":
        return ("the inverse of the observed information matrix" if cfa.get("missing") == "fiml"
                else "the inverse of the expected information matrix")
    return {"robust.huber.white": "robust (Huber-White sandwich with the observed information)",
            "robust.sem": "robust (sandwich with the expected information)"}.get(se, se)
