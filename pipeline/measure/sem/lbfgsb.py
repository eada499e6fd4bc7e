"""L-BFGS-B on box constraints: SciPy's compiled routine without importing ``scipy.optimize``.

The factor extractions (:func:`pipeline.measure.factors.extract`, used by the EFA, parallel analysis and
omega) reproduce R's ``optim(method = "L-BFGS-B")`` with SciPy's L-BFGS-B. Importing
``scipy.optimize`` costs 0.17-0.25 s on this machine (it imports SciPy's linear programming,
global optimisers and ``scipy.spatial``), about a tenth of a small study's whole run, for one
compiled routine. :func:`minimize` loads that routine (``scipy/optimize/_lbfgsb*.so``, the
reverse-communication ``setulb``) directly and drives it exactly as
``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` does (same workspace, same calls, same
stopping rules), so the iterates are the same to the last bit -- ``tests/test_factors.py``
compares the two. Should a SciPy release change that private routine, :func:`minimize` uses
``scipy.optimize.minimize`` itself: slower to import, same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATUS = {0: "START", 1: "NEW_X", 2: "RESTART", 3: "FG", 4: "CONVERGENCE", 5: "STOP",
          6: "WARNING", 7: "ERROR", 8: "ABNORMAL"}
TASK = {0: "", 301: "", 302: "", 401: "NORM OF PROJECTED GRADIENT <= PGTOL",
        402: "RELATIVE REDUCTION OF F <= FACTR*EPSMCH", 501: "CPU EXCEEDING THE TIME LIMIT",
        502: "TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
        503: "PROJECTED GRADIENT IS SUFFICIENTLY SMALL",
        504: "TOTAL NO. OF ITERATIONS REACHED LIMIT", 505: "CALLBACK REQUESTED HALT",
        601: "ROUNDING ERRORS PREVENT PROGRESS", 602: "STP = STPMAX", 603: "STP = STPMIN",
        604: "XTOL TEST SATISFIED", 701: "NO FEASIBLE SOLUTION", 702: "FACTR < 0",
        703: "FTOL < 0", 704: "GTOL < 0", 705: "XTOL < 0", 706: "STP < STPMIN",
        707: "STP > STPMAX", 708: "STPMIN < 0", 709: "STPMAX < STPMIN", 710: "INITIAL G >= 0",
        711: "M <= 0", 712: "N <= 0", 713: "INVALID NBD"}
MAXFUN = 15000  # scipy.optimize.minimize's default
MAXLS = 20

_setulb = None  # the compiled routine, once loaded (False: not loadable here)


@dataclass(frozen=True)
class Result:
    """The fields of ``scipy.optimize.OptimizeResult`` the callers read."""

    x: np.ndarray
    fun: float
    nit: int
    nfev: int
    success: bool
    message: str


def minimize(fun_and_grad, x0, lower, upper, *, maxcor: int = 10, ftol: float = 2.22e-09,
             gtol: float = 1e-5, maxiter: int = 15000) -> Result:
    """Minimise ``fun_and_grad(x) -> (value, gradient)`` subject to ``lower <= x <= upper``.

    The arguments mean what they mean to ``scipy.optimize.minimize(fun_and_grad, x0,
    jac=True, method="L-BFGS-B", bounds=list(zip(lower, upper)), options={"maxcor": ...,
    "ftol": ..., "gtol": ..., "maxiter": ...})``, whose result this is."""
    x0 = np.asarray(x0, dtype=float).ravel()
    n = x0.size
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    setulb = _load()
    if setulb is None:
        return _scipy_minimize(fun_and_grad, x0, lower, upper, maxcor=maxcor, ftol=ftol,
                               gtol=gtol, maxiter=maxiter)
    m = maxcor
    factr = ftol / np.finfo(float).eps
    # the driver of scipy.optimize._lbfgsb_py._minimize_lbfgsb (SciPy >= 1.15), step by step
    nbd = np.zeros(n, np.int32)
    low_bnd = np.zeros(n, np.float64)
    upper_bnd = np.zeros(n, np.float64)
    has_low, has_up = np.isfinite(lower), np.isfinite(upper)
    low_bnd[has_low] = lower[has_low]
    upper_bnd[has_up] = upper[has_up]
    nbd[has_low & ~has_up] = 1
    nbd[has_low & has_up] = 2
    nbd[~has_low & has_up] = 3
    x = np.array(np.clip(x0, lower, upper), dtype=np.float64)
    # ScalarFunction evaluates the objective at the start when it is built
    cache_x = x.copy()
    cache_f, cache_g = _evaluate(fun_and_grad, cache_x)
    nfev = 1
    f = np.array(0.0, dtype=np.float64)
    g = np.zeros((n,), dtype=np.float64)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    n_iterations = 0
    while True:
        g = g.astype(np.float64)
        setulb(m, x, low_bnd, upper_bnd, nbd, f, g, factr, gtol, wa, iwa, task, lsave, isave,
               dsave, MAXLS, ln_task)
        if task[0] == 3:
            if not np.array_equal(x, cache_x):
                cache_x = x.copy()
                cache_f, cache_g = _evaluate(fun_and_grad, cache_x)
                nfev += 1
            f, g = cache_f, cache_g.copy()
        elif task[0] == 1:
            n_iterations += 1
            if n_iterations >= maxiter:
                task[0], task[1] = 5, 504
            elif nfev > MAXFUN:
                task[0], task[1] = 5, 502
        else:
            break
    success = bool(task[0] == 4)
    return Result(x=x, fun=float(f), nit=n_iterations, nfev=nfev, success=success,
                  message=f"{STATUS.get(int(task[0]), '?')}: {TASK.get(int(task[1]), '')}")


def _evaluate(fun_and_grad, x):
    value, grad = fun_and_grad(x.copy())
    return float(value), np.asarray(grad, dtype=np.float64).ravel().copy()


def _load():
    """SciPy's compiled ``setulb``, loaded without ``scipy/optimize/__init__.py``; None when this
    SciPy does not have it in the form this module drives."""
    global _setulb
    if _setulb is None:
        _setulb = False
        try:
            import sys  # noqa: PLC0415

            module = sys.modules.get("scipy.optimize._lbfgsb")
            if module is None:
                import glob  # noqa: PLC0415
                import importlib.util  # noqa: PLC0415
                import os  # noqa: PLC0415

                import scipy  # noqa: PLC0415

                major_minor = tuple(int(v) for v in scipy.__version__.split(".")[:2])
                if not (1, 15) <= major_minor < (1, 19):
                    return None  # the C port of L-BFGS-B this driver follows
                found = glob.glob(os.path.join(os.path.dirname(scipy.__file__), "optimize",
                                               "_lbfgsb*"))
                found = [p for p in found if p.endswith((".so", ".pyd"))]
                if len(found) != 1:
                    return None
                spec = importlib.util.spec_from_file_location("scipy.optimize._lbfgsb",
                                                              found[0])
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            setulb = getattr(module, "setulb", None)
            doc = getattr(setulb, "__doc__", "") or ""
            if setulb is not None and doc.startswith(
                    "setulb(m,x,l,u,nbd,f,g,factr,pgtol,wa,iwa,task,lsave,isave,dsave,maxls,"
                    "ln_task)"):
                _setulb = setulb
        except Exception:  # noqa: BLE001 -- scipy.optimize.minimize instead
            _setulb = False
    return _setulb or None


def _scipy_minimize(fun_and_grad, x0, lower, upper, *, maxcor, ftol, gtol, maxiter) -> Result:
    from scipy.optimize import minimize as scipy_minimize  # noqa: PLC0415

    res = scipy_minimize(fun_and_grad, x0, jac=True, method="L-BFGS-B",
                         bounds=list(zip(lower, upper)),
                         options={"maxcor": maxcor, "ftol": ftol, "gtol": gtol,
                                  "maxiter": maxiter})
    return Result(x=np.asarray(res.x), fun=float(res.fun), nit=int(res.nit),
                  nfev=int(res.nfev), success=bool(res.success), message=str(res.message))
