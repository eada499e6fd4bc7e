"""R model formulas parsed and turned into design matrices, as R's ``model.matrix`` does.

Hand-written (about 500 lines) rather than patsy (~0.5 s to import) or formulaic (~0.85 s): the
default run path must stay fast, and socap needs R's term names and R's coding rules exactly
(``degree:social_capital``, ``(Intercept)``, ``sectorretail``), which patsy prints differently.

Supported syntax (R semantics):

* ``y ~ a + b``, ``a:b`` (interaction), ``a * b`` (= ``a + b + a:b``), ``(a + b + c)^2``
  (all interactions up to order 2), ``a / b`` (= ``a + a:b``), ``- term`` (remove a term),
  ``- 1`` / ``+ 0`` (no intercept), ``+ 1``;
* transformed variables ``log(x)``, ``log1p(x)``, ``log2(x)``, ``log10(x)``, ``exp(x)``,
  ``sqrt(x)``, ``abs(x)`` with arithmetic inside the call (``log(x + 1)``), labelled as R deparses
  them;
* ``factor(x)`` to treat a numeric column as categorical; ``offset(expr)`` for a fixed-coefficient
  term (e.g. ``offset(log(exposure))`` in count models);
* backtick-quoted names for columns that are not syntactic (`` `sales 2024` ``).

Categorical (string, categorical or boolean) variables become treatment dummies with the first
level as reference.  Levels are sorted in code-point ("C locale") order unless the column is a
pandas Categorical, whose category order is kept (as an R factor's levels).  R's default ``factor``
sorts in the session's locale, where ``"Union Oil" < "US Steel"`` -- the reverse of the C order;
R scripts comparing with socap should build factors with ``sort(..., method = "radix")``.
Booleans have levels ``FALSE``, ``TRUE`` as in R.  As in R's ``model.matrix``, a factor inside a
term is coded by contrasts (reference level dropped) when the term without that factor is also
in the model (the intercept standing for the empty term), and by one indicator per level
otherwise.  Terms are ordered by their degree, then by appearance, and the variables inside an
interaction label by their first appearance in the formula, exactly as R's ``terms()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.errors import StudyError, closest

__all__ = ["Atom", "Formula", "ParsedColumn", "atom_values", "build_matrix", "columns_for", "parse_formula"]

_FUNCS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log": np.log,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
_UNSUPPORTED = {
    "I": "create the transformed column in the unit table (or use log(x), sqrt(x) ...) instead of I()",
    "poly": "create the polynomial columns in the unit table and name them in the formula",
    "scale": "list the variable under `standardize:` (or `center:`) in the model's settings",
    "C": "categorical columns are coded as treatment dummies automatically",
    "cbind": "give one outcome column on the left of `~`",
    "ns": "spline terms are not supported; create the basis columns in the unit table",
    "bs": "spline terms are not supported; create the basis columns in the unit table",
    "as.numeric": "convert the column in the unit table",
}


# ----------------------------------------------------------------------------------------------
# Tokenizer and expression trees
# ----------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z.][A-Za-z0-9._]*)|`(?P<bq>[^`]+)`"
    r"|(?P<op>%in%|[-+*/:^()~,]))"
)


class FormulaSyntaxError(ValueError):
    """A formula that cannot be parsed (turned into StudyError by the caller)."""


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FormulaSyntaxError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos + 1}")
        kind = m.lastgroup
        val = m.group(kind)
        out.append(("name" if kind == "bq" else kind, val))
        pos = m.end()
    return out


@dataclass(frozen=True)
class _Num:
    value: float
    text: str


@dataclass(frozen=True)
class _Name:
    name: str


@dataclass(frozen=True)
class _Call:
    func: str
    args: tuple


@dataclass(frozen=True)
class _Bin:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class _Neg:
    arg: object


@dataclass(frozen=True)
class _Paren:
    arg: object


_BINPREC = {"+": 1, "-": 1, "*": 2, "/": 2, "%in%": 3, ":": 4, "^": 5}
_RIGHT = {"^"}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.t = tokens
        self.i = 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, op):
        kind, val = self.take()
        if val != op:
            raise FormulaSyntaxError(f"expected {op!r} but found {val or 'the end'!r}")

    def expr(self, minprec: int = 0):
        kind, val = self.peek()
        if val in ("-", "+") and kind == "op":
            self.take()
            arg = self.expr(_BINPREC["*"])  # unary binds tighter than + and -
            left = _Neg(arg) if val == "-" else arg
        else:
            left = self.atom()
        while True:
            kind, val = self.peek()
            if kind != "op" or val not in _BINPREC:
                break
            prec = _BINPREC[val]
            if prec < minprec:
                break
            self.take()
            nxt = prec if val in _RIGHT else prec + 1
            right = self.expr(nxt)
            left = _Bin(val, left, right)
        return left

    def atom(self):
        kind, val = self.take()
        if kind == "num":
            return _Num(float(val), val)
        if kind == "name":
            if self.peek()[1] == "(":
                self.take()
                args = []
                if self.peek()[1] != ")":
                    args.append(self.expr())
                    while self.peek()[1] == ",":
                        self.take()
                        args.append(self.expr())
                self.expect(")")
                return _Call(val, tuple(args))
            return _Name(val)
        if val == "(":
            inner = self.expr()
            self.expect(")")
            return _Paren(inner)
        raise FormulaSyntaxError(f"unexpected {val or 'end of formula'!r}")


def _is_syntactic(name: str) -> bool:
    return re.fullmatch(r"(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*|\.", name) is not None


def _deparse(node) -> str:
    """The label R's deparse() gives an expression (spaces around + - * /, none around ^)."""
    if isinstance(node, _Num):
        v = node.value
        return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)
    if isinstance(node, _Name):
        return node.name if _is_syntactic(node.name) else f"`{node.name}`"
    if isinstance(node, _Call):
        return f"{node.func}({', '.join(_deparse(a) for a in node.args)})"
    if isinstance(node, _Paren):
        return f"({_deparse(node.arg)})"
    if isinstance(node, _Neg):
        return f"-{_deparse(node.arg)}"
    if isinstance(node, _Bin):
        if node.op == "^":
            return f"{_deparse(node.left)}^{_deparse(node.right)}"
        return f"{_deparse(node.left)} {node.op} {_deparse(node.right)}"
    raise TypeError(node)  # pragma: no cover


def _names_in(node) -> list[str]:
    if isinstance(node, _Name):
        return [node.name]
    if isinstance(node, _Num):
        return []
    if isinstance(node, _Call):
        return [n for a in node.args for n in _names_in(a)]
    if isinstance(node, (_Paren, _Neg)):
        return _names_in(node.arg)
    if isinstance(node, _Bin):
        return _names_in(node.left) + _names_in(node.right)
    return []  # pragma: no cover


def _evaluate_arith(node, frame: pd.DataFrame) -> np.ndarray:
    if isinstance(node, _Num):
        return np.float64(node.value)
    if isinstance(node, _Name):
        return _numeric_column(frame, node.name)
    if isinstance(node, _Paren):
        return _evaluate_arith(node.arg, frame)
    if isinstance(node, _Neg):
        return -_evaluate_arith(node.arg, frame)
    if isinstance(node, _Call):
        fn = _FUNCS[node.func]
        with np.errstate(all="ignore"):
            return fn(_evaluate_arith(node.args[0], frame))
    if isinstance(node, _Bin):
        a, b = _evaluate_arith(node.left, frame), _evaluate_arith(node.right, frame)
        with np.errstate(all="ignore"):
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                    "^": np.power}[node.op](a, b)
    raise FormulaSyntaxError(f"'{_deparse(node)}' cannot be evaluated")  # pragma: no cover


def _numeric_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    col = frame[name]
    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        raise _CategoricalInArithmetic(name)
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


class _CategoricalInArithmetic(Exception):
    def __init__(self, name):
        self.name = name


# ----------------------------------------------------------------------------------------------
# Atoms (the "variables" of R's terms object) and term algebra
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One variable of the formula: a column, a transformed column or ``factor(column)``."""

    label: str
    columns: tuple[str, ...]
    node: object = field(repr=False, compare=False)
    force_factor: bool = False


@dataclass(frozen=True)
class Formula:
    """A parsed formula: response, terms (tuples of atom indices) and intercept."""

    text: str
    response: Atom | None
    atoms: tuple[Atom, ...]
    terms: tuple[tuple[int, ...], ...]
    intercept: bool
    offsets: tuple[Atom, ...]

    @property
    def columns(self) -> list[str]:
        """Every table column the formula reads (response, predictors, offsets), in order."""
        out: list[str] = []
        for atom in ((self.response,) if self.response else ()) + self.atoms + self.offsets:
            for c in atom.columns:
                if c not in out:
                    out.append(c)
        return out

    def term_label(self, term: tuple[int, ...]) -> str:
        return ":".join(self.atoms[i].label for i in term)

    @property
    def term_labels(self) -> list[str]:
        return [self.term_label(t) for t in self.terms]


def _term_sets(node, atoms: list[Atom], atom_index: dict[str, int], offsets: list[Atom]):
    """R's term algebra: returns (list of frozenset terms, intercept flag or None)."""
    if isinstance(node, _Paren):
        return _term_sets(node.arg, atoms, atom_index, offsets)
    if isinstance(node, _Num):
        if node.value == 1:
            return [], True
        if node.value == 0:
            return [], False
        raise FormulaSyntaxError(f"the number {node.text} cannot be a term (only 0 and 1 can)")
    if isinstance(node, _Neg):
        terms, icpt = _term_sets(node.arg, atoms, atom_index, offsets)
        # "-x" alone removes x (handled by the caller through _Bin); here as a leading "- 1"
        return [("-", t) for t in terms], (None if icpt is None else not icpt)
    if isinstance(node, (_Name, _Call)):
        if isinstance(node, _Call):
            if node.func in _UNSUPPORTED:
                raise FormulaSyntaxError(f"{node.func}() is not supported in socap formulas; {_UNSUPPORTED[node.func]}")
            if node.func == "offset":
                if len(node.args) != 1:
                    raise FormulaSyntaxError("offset() takes one argument")
                offsets.append(_make_atom(node.args[0]))
                return [], None
            if node.func == "factor":
                if len(node.args) != 1 or not isinstance(node.args[0], _Name):
                    raise FormulaSyntaxError("factor() takes one column name")
            elif node.func not in _FUNCS:
                raise FormulaSyntaxError(
                    f"unknown function {node.func}(); supported: {', '.join(sorted(_FUNCS))}, factor(), offset()")
            elif len(node.args) != 1:
                raise FormulaSyntaxError(f"{node.func}() takes one argument in socap formulas")
        atom = _make_atom(node)
        if atom.label not in atom_index:
            atom_index[atom.label] = len(atoms)
            atoms.append(atom)
        return [frozenset([atom_index[atom.label]])], None
    if isinstance(node, _Bin):
        op = node.op
        if op == "^":
            if not isinstance(node.right, _Num) or node.right.value != int(node.right.value) or node.right.value < 1:
                raise FormulaSyntaxError("^ needs a positive whole number, as in (a + b + c)^2")
            base, icpt = _term_sets(node.left, atoms, atom_index, offsets)
            base = [t for t in base if not isinstance(t, tuple)]
            out = list(base)
            cur = list(base)
            for _ in range(int(node.right.value) - 1):
                cur = _unique([a | b for a in cur for b in base])
                out = _unique(out + cur)
            return out, None
        left, licpt = _term_sets(node.left, atoms, atom_index, offsets)
        right, ricpt = _term_sets(node.right, atoms, atom_index, offsets)
        left = [t for t in left if not isinstance(t, tuple)]
        rneg = [t for t in right if isinstance(t, tuple)]
        right = [t for t in right if not isinstance(t, tuple)]
        if op == "+":
            terms = _unique(left + right)
            terms = [t for t in terms if t not in [r[1] for r in rneg]]
            icpt = ricpt if ricpt is not None else licpt
            return terms, icpt
        if op == "-":
            terms = [t for t in left if t not in right]
            icpt = licpt
            if ricpt is not None:
                icpt = not ricpt if ricpt else licpt
                if ricpt is True:
                    icpt = False
            return terms, icpt
        if op == ":":
            return _unique([a | b for a in left for b in right]), None
        if op == "*":
            return _unique(left + right + [a | b for a in left for b in right]), None
        if op == "/":
            allvars = frozenset().union(*left) if left else frozenset()
            return _unique(left + [allvars | b for b in right]), None
        if op == "%in%":
            return _unique([a | b for a in left for b in right]), None
    raise FormulaSyntaxError(f"cannot read '{_deparse(node)}' as a term")


def _unique(terms):
    out = []
    for t in terms:
        if t not in out:
            out.append(t)
    return out


def _make_atom(node) -> Atom:
    if isinstance(node, _Name):
        return Atom(_deparse(node), (node.name,), node)
    if isinstance(node, _Call) and node.func == "factor":
        name = node.args[0].name
        return Atom(_deparse(node), (name,), node.args[0], force_factor=True)
    if isinstance(node, (_Call, _Bin, _Paren, _Neg, _Num)):
        cols = tuple(dict.fromkeys(_names_in(node)))
        if isinstance(node, _Bin) or isinstance(node, _Neg):
            raise FormulaSyntaxError(f"arithmetic '{_deparse(node)}' is only allowed inside a function such as log()")
        return Atom(_deparse(node), cols, node)
    raise FormulaSyntaxError(f"cannot read '{_deparse(node)}' as a variable")  # pragma: no cover


def parse_formula(text: str) -> Formula:
    """Parse an R model formula (``y ~ a * b + c``) into R's terms.

    Raises
    ------
    FormulaSyntaxError
        For text that is not a formula socap understands (the caller turns it into StudyError).
    """
    if not isinstance(text, str) or "~" not in text:
        raise FormulaSyntaxError("a model formula needs '~' between the outcome and the predictors, as in 'y ~ a * b'")
    tokens = _tokenize(text)
    tilde = [i for i, t in enumerate(tokens) if t == ("op", "~")]
    if len(tilde) != 1:
        raise FormulaSyntaxError("a formula has exactly one '~'")
    lhs, rhs = tokens[: tilde[0]], tokens[tilde[0] + 1:]
    if not rhs:
        raise FormulaSyntaxError("nothing on the right of '~'")
    response = None
    if lhs:
        p = _Parser(lhs)
        node = p.expr()
        if p.i != len(lhs):
            raise FormulaSyntaxError("the left of '~' must be one outcome column")
        if isinstance(node, _Call) and node.func in _UNSUPPORTED:
            raise FormulaSyntaxError(f"{node.func}() is not supported; {_UNSUPPORTED[node.func]}")
        if isinstance(node, _Call) and node.func == "factor":
            # factor(y) ~ ...: a two-level outcome of a logit model, the second level modelled
            # against the first (R's glm(factor(y) ~ ..., family = binomial))
            if len(node.args) != 1 or not isinstance(node.args[0], _Name):
                raise FormulaSyntaxError("factor() takes one column name")
        elif isinstance(node, _Call) and node.func not in _FUNCS:
            raise FormulaSyntaxError(f"unknown function {node.func}() on the left of '~'")
        if not isinstance(node, (_Name, _Call)):
            raise FormulaSyntaxError("the left of '~' must be one outcome column (or log(column))")
        response = _make_atom(node)
    p = _Parser(rhs)
    node = p.expr()
    if p.i != len(rhs):
        raise FormulaSyntaxError(f"unexpected {p.peek()[1]!r} in the formula")
    atoms: list[Atom] = []
    atom_index: dict[str, int] = {}
    # R puts the response first among the variables: interaction labels follow this order
    if response is not None:
        atom_index[response.label] = -1
    offsets: list[Atom] = []
    terms, icpt = _term_sets(node, atoms, atom_index, offsets)
    terms = [t for t in terms if not isinstance(t, tuple)]
    intercept = True if icpt is None else bool(icpt)
    if response is not None:
        resp_terms = [t for t in terms if -1 in t]
        if resp_terms:
            raise FormulaSyntaxError(f"the outcome '{response.label}' also appears on the right of '~'")
    order = {i: i for i in range(len(atoms))}
    terms_sorted = sorted(
        (tuple(sorted(t, key=order.__getitem__)) for t in terms), key=lambda t: len(t)
    )  # stable: appearance order kept within a degree
    if not terms_sorted and not intercept:
        raise FormulaSyntaxError("the model has no terms (not even an intercept)")
    return Formula(text.strip(), response, tuple(atoms), tuple(terms_sorted), intercept, tuple(offsets))


# ----------------------------------------------------------------------------------------------
# Evaluation of atoms over a table and the design matrix
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedColumn:
    """One design-matrix column as a product of factors: (atom index, level index or None)."""

    name: str
    factors: tuple[tuple[int, int | None], ...]
    term: int  # index into Formula.terms, -1 for the intercept


def _level_label(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating)):
        fv = float(v)
        if fv == int(fv) and abs(fv) < 1e15:
            return str(int(fv))
        return repr(fv)
    return str(v)


def atom_values(formula: Formula, frame: pd.DataFrame, which: Sequence[int] | None = None):
    """Evaluate atoms: numeric arrays, or (codes, levels) for categorical atoms.

    Returns
    -------
    dict[int, np.ndarray | tuple[np.ndarray, list[str]]]
        Numeric atoms map to float arrays (NaN where missing or undefined); categorical atoms to
        integer codes (-1 where missing) and level labels.
    """
    out = {}
    idx = range(len(formula.atoms)) if which is None else which
    for i in idx:
        out[i] = evaluate_atom(formula.atoms[i], frame)
    return out


def is_categorical_column(series: pd.Series) -> bool:
    dt = series.dtype
    return (isinstance(dt, pd.CategoricalDtype) or dt == object or pd.api.types.is_string_dtype(dt)
            or pd.api.types.is_bool_dtype(dt))


def evaluate_atom(atom: Atom, frame: pd.DataFrame):
    node = atom.node
    if isinstance(node, _Name) and (atom.force_factor or is_categorical_column(frame[node.name])):
        return _categorical(frame[node.name])
    try:
        vals = _evaluate_arith(node, frame)
    except _CategoricalInArithmetic as exc:
        raise FormulaSyntaxError(f"'{exc.name}' is categorical and cannot be used inside {atom.label}")
    return np.broadcast_to(np.asarray(vals, dtype=np.float64), (len(frame),)).copy()


def _categorical(series: pd.Series):
    dt = series.dtype
    if isinstance(dt, pd.CategoricalDtype):
        levels = [_level_label(c) for c in series.cat.categories]
        return series.cat.codes.to_numpy().astype(np.int64), levels
    if pd.api.types.is_bool_dtype(dt):
        arr = series.to_numpy(dtype=object)
        notna = ~pd.isna(series).to_numpy()
        codes = np.full(len(arr), -1, dtype=np.int64)
        codes[notna] = (arr[notna] == True).astype(np.int64)
        return codes, ["FALSE", "TRUE"]
    codes, uniques = pd.factorize(series, sort=False)
    uniques = np.asarray(uniques, dtype=object)
    labels = [_level_label(u) for u in uniques]
    if pd.api.types.is_numeric_dtype(dt):
        order = np.argsort(np.asarray(uniques, dtype=float), kind="stable")
    else:
        order = np.asarray(sorted(range(len(labels)), key=lambda k: labels[k]), dtype=np.int64)
    remap = np.empty(len(labels), dtype=np.int64)
    remap[order] = np.arange(len(labels))
    out = np.full(len(codes), -1, dtype=np.int64)
    ok = codes >= 0
    out[ok] = remap[codes[ok]]
    return out, [labels[k] for k in order]


def drop_unused_levels(codes: np.ndarray, levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Keep only the levels present (R's model.frame(drop.unused.levels = TRUE))."""
    present = np.bincount(codes[codes >= 0], minlength=len(levels)) > 0
    if present.all():
        return codes, levels
    remap = np.cumsum(present) - 1
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return out, [lv for lv, keep in zip(levels, present) if keep]


def columns_for(formula: Formula, levels: Mapping[int, list[str] | None]) -> list[ParsedColumn]:
    """Design columns as R's model.matrix lays them out (contrasts vs. full indicator coding)."""
    cols: list[ParsedColumn] = []
    if formula.intercept:
        cols.append(ParsedColumn("(Intercept)", (), -1))
    present = {frozenset(t) for t in formula.terms}
    if formula.intercept:
        present.add(frozenset())
    for ti, term in enumerate(formula.terms):
        per_atom: list[list[tuple[tuple[int, int | None], str]]] = []
        for a in term:
            lev = levels.get(a)
            if lev is None:
                per_atom.append([((a, None), formula.atoms[a].label)])
            else:
                contrasts = frozenset(term) - {a} in present
                start = 1 if contrasts else 0
                per_atom.append([((a, k), formula.atoms[a].label + lev[k]) for k in range(start, len(lev))])
        # first variable varies fastest, as in R
        combos: list[list[tuple[tuple[int, int | None], str]]] = [[]]
        for options in per_atom:
            combos = [c + [o] for o in options for c in combos]
        for combo in combos:
            cols.append(ParsedColumn(":".join(n for _, n in combo), tuple(f for f, _ in combo), ti))
    return cols


def build_matrix(columns: Sequence[ParsedColumn], values: Mapping[int, np.ndarray], n: int) -> np.ndarray:
    """The design matrix from atom values.

    ``values[a]`` is a float array (numeric atom) or an (n, n_levels) float array of level
    indicators (categorical atom; fractional rows give "average" rows for plots).
    """
    X = np.empty((n, len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        if not col.factors:
            X[:, j] = 1.0
            continue
        acc = None
        for a, lev in col.factors:
            v = values[a]
            v = v if lev is None else v[:, lev]
            acc = v.copy() if acc is None else acc * v
        X[:, j] = acc
    return X


def one_hot(codes: np.ndarray, n_levels: int) -> np.ndarray:
    out = np.zeros((len(codes), n_levels), dtype=np.float64)
    ok = codes >= 0
    out[np.nonzero(ok)[0], codes[ok]] = 1.0
    return out


def suggest_column(name: str, valid: Sequence[str]) -> str | None:
    best = closest(name, valid)
    if best is None:
        low = {v.lower(): v for v in valid}
        best = low.get(name.lower())
    return best


def check_columns(formula: Formula, table: pd.DataFrame, key: str) -> None:
    """Raise StudyError for each formula name that is not a column of the analysis table."""
    valid = [str(c) for c in table.columns]
    problems = []
    for col in formula.columns:
        if col not in table.columns:
            best = suggest_column(col, valid)
            hint = f" The closest column is '{best}'." if best else ""
            fix = (f"write '{best}' instead of '{col}' in the formula" if best else
                   "use one of the analysis table's columns: " + ", ".join(valid[:30])
                   + (" ..." if len(valid) > 30 else ""))
            problems.append((col, hint, fix))
    if problems:
        from pipeline.errors import Problem

        probs = [Problem(f"the formula '{formula.text}' names '{c}', which is not a column of the "
                         f"analysis table.{h}", key=key, fix=f) for c, h, f in problems]
        if len(probs) == 1:
            p = probs[0]
            raise StudyError(p.message, key=p.key, fix=p.fix)
        raise StudyError("The model formula names unknown columns:", problems=probs)
