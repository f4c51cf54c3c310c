"""Run a validated :class:`~uqkit.cli._study.Study`: model, runner, analyses, report.

Everything that can be checked is checked before the first model run: the
entry point is imported (not called on data), the command's program and
templates are checked by :class:`uqkit.CommandModel`, the distributions are
built, the calibration data are read and matched to the model's outputs, and the
store's record of the study is compared with this one.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from ._expr import check_expression, evaluate_expression
from ._study import Study

__all__ = ["DerivedModel", "Prepared", "prepare", "execute", "study_runner"]


class DerivedModel:
    """The study's model seen from its sampled parameters: derived inputs computed first.

    ``inputs`` are the sampled parameters; each row gets the derived inputs from
    their expressions (restricted evaluator) and goes to the wrapped model with its
    inputs in its own order. The expressions enter the cache identity.
    """

    def __init__(self, model: Any, parameters: tuple[str, ...], derived: dict[str, str]):
        self.model = model
        self.inputs = tuple(parameters)
        self.outputs = tuple(model.outputs)
        self.derived = dict(derived)
        self.vectorized = bool(getattr(model, "vectorized", False))
        base = getattr(model, "name", None) or type(model).__name__
        # its own name: the store lists it apart from the wrapped model's evaluations
        self.name = f"{base} [{', '.join(f'{k}={v}' for k, v in self.derived.items())}]"
        self.version = getattr(model, "version", None)
        from ..models import model_identity

        ident = model_identity(model)["identity"]
        exprs = ";".join(f"{k}={v}" for k, v in sorted(self.derived.items()))
        self.identity = f"{ident}|derived:{exprs}"
        self.fingerprint = getattr(model, "fingerprint", None)
        self._trees = {k: check_expression(v, set(self.inputs)) for k, v in derived.items()}

    def __call__(self, X: Any) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        cols = {n: X[:, j] for j, n in enumerate(self.inputs)}
        for k, tree in self._trees.items():
            cols[k] = np.broadcast_to(evaluate_expression(tree, cols), (X.shape[0],))
        Xm = np.column_stack([cols[n] for n in self.model.inputs])
        return self.model(Xm)


@dataclass
class Prepared:
    """Everything a study needs, built and checked; no model has run."""

    study: Study
    model: Any
    parameters: Any
    base_model: Any
    data: Any = None
    store_path: Path | None = None
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _entry_point(study: Study, *, build: bool = True) -> tuple[Any, Any]:
    """The model (and an example's parameters) that ``[model] entry_point`` names.

    A study file is trusted like a script: the entry point's module is imported and
    a factory is called. The checks below catch mistakes and cheap tricks (reaching
    ``os.system`` through a module's imports), they are not a sandbox. With
    ``build=False`` (``uqkit run --check``) no factory is called but uqkit's own
    examples: the model is ``None`` unless the entry point is a model, an example,
    a plain function or a factory of ``uqkit.examples``.
    """
    spec = study.model
    key = ("model", "entry_point")
    obj = _resolve(study, spec["entry_point"])
    module_name = spec["entry_point"].split(":")[0]
    declared = "inputs" in spec
    if _is_example(obj) or _is_model(obj):
        if spec.get("kwargs"):
            raise study.error(("model", "kwargs"), "applies only to a factory function")
        made = obj
    elif callable(obj) and (declared or _plain_function(obj, spec)):
        from ..models import as_model

        if "outputs" not in spec:
            raise study.error(("model",), "needs 'outputs' with 'inputs' for a plain function")
        if spec.get("kwargs"):
            raise study.error(("model", "kwargs"), "applies only to a factory function, not "
                              "to a plain function of the inputs")
        made = as_model(obj, inputs=spec.get("inputs"), outputs=spec["outputs"],
                        vectorized=spec.get("vectorized", False), name=spec.get("name"),
                        version=spec.get("version"))
    elif callable(obj):
        required = _required_parameters(obj, spec.get("kwargs", {}))
        if required and "outputs" not in spec:
            raise study.error(("model",), f"names the function {module_name}:"
                              f"{obj.__name__}{_signature(obj)}, which needs the arguments "
                              f"{required}: to use it as the model (its arguments are the "
                              "inputs), declare its outputs in [model], e.g. outputs = "
                              "[\"y\"]; to use it as a factory, give them in "
                              "[model.kwargs]")
        ours = module_name == "uqkit.examples" or module_name.startswith("uqkit.examples.")
        if not build and not ours:  # uqkit's own example factories have no side effects
            return None, None
        try:
            made = obj(**spec.get("kwargs", {}))
        except (TypeError, ValueError) as exc:  # wrong factory arguments
            raise study.error(("model", "kwargs") if spec.get("kwargs") else key,
                              f"could not build the model: {type(exc).__name__}: {exc}") \
                from None
        if not (_is_example(made) or _is_model(made)):
            raise study.error(key, "must give a uqkit Model or Example (or a function of "
                              "the inputs with 'outputs' declared); the factory "
                              f"returned {type(made).__name__}")
    else:
        raise study.error(key, f"must name a model, an example or a function, got "
                          f"{type(obj).__name__}")
    if _is_example(made):
        return made.model, made.parameters
    return made, None


def _resolve(study: Study, entry: str) -> Any:
    """Import ``module:attr`` and check the attribute is the module's own, public name."""
    key = ("model", "entry_point")
    module_name, attr = entry.split(":")
    top = module_name.split(".")[0]
    if top in getattr(sys, "stdlib_module_names", ()) or top == "builtins":
        raise study.error(key, f"must name a model in your own package, not the standard "
                          f"library module {top!r}")
    with _on_path(study.directory):
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise study.error(key, f"names a module that cannot be imported: {exc}") from None
    _ship_by_value(sys.modules.get(top), study.directory)
    for part in attr.split("."):
        if part.startswith("_"):
            raise study.error(key, f"must not name a private attribute, got {part!r}")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise study.error(key, f"names {attr!r}, which {module_name!r} does not "
                              "define") from None
        if isinstance(obj, types.ModuleType):
            raise study.error(key, f"must name an attribute defined in {module_name!r}, "
                              f"not reach into the module {obj.__name__!r} it imports")
    home = getattr(obj, "__module__", None)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type)) and not (
            home == module_name or str(home).startswith(module_name + ".")):
        raise study.error(key, f"must name a function defined in {module_name!r} (or its "
                          f"submodules); {attr!r} is defined in {home!r}. Name it by the "
                          "module that defines it.")
    return obj


def _plain_function(func: Any, spec: dict) -> bool:
    """A function of the inputs (not a factory): outputs declared and no kwargs given."""
    return "outputs" in spec and not spec.get("kwargs") and bool(
        _required_parameters(func, {}))


def _required_parameters(func: Any, kwargs: dict) -> list[str]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [n for n, p in sig.parameters.items()
            if p.default is p.empty and n not in kwargs
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _signature(func: Any) -> str:
    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(...)"


def _ship_by_value(module: Any, folder: Path) -> None:
    """A model module found next to the study file travels to workers by value.

    Worker processes (spawned pools, Dask workers on other hosts) do not have the
    study's folder on their path; cloudpickle then sends the module's code.
    """
    where = getattr(module, "__file__", None)
    if module is None or where is None:
        return
    try:
        inside = Path(where).resolve().is_relative_to(folder.resolve())
    except OSError:  # pragma: no cover
        return
    if inside:
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)


def _is_model(obj: Any) -> bool:
    return hasattr(obj, "inputs") and hasattr(obj, "outputs") and callable(obj) and not \
        isinstance(obj, type)


def _is_example(obj: Any) -> bool:
    return hasattr(obj, "model") and hasattr(obj, "parameters") and hasattr(obj, "reference")


def _command(study: Study) -> Any:
    import uqkit
    from uqkit import parsers

    spec = study.model
    argv = list(spec["command"])
    if argv[0] == "python":
        argv[0] = sys.executable
    for i, a in enumerate(argv):
        if a.startswith(("./", "../")) and "{{" not in a:
            argv[i] = str(study.resolve(a).resolve())
    files: dict[str, Any] = dict(spec["files"])
    for fname, tpath in spec["templates"].items():
        p = study.resolve(tpath)
        if not p.is_file():
            raise study.error(("model", "templates", fname), f"names a missing template {p}")
        files[fname] = p
    pf = spec["parse"]
    kind = pf["format"]
    if kind == "json":
        parse = parsers.json(pf["file"], keys=pf.get("keys"))
    elif kind == "table":
        parse = parsers.table(pf["file"], columns=pf.get("columns"))
    elif kind == "regex":
        parse = parsers.regex(pf["pattern"], pf["file"], last=pf.get("last", False))
    else:
        parse = parsers.numbers(pf["file"])
    kw = {k: spec[k] for k in ("name", "version", "timeout") if spec.get(k) is not None}
    return uqkit.CommandModel(argv, inputs=spec["inputs"], outputs=spec["outputs"],
                              files=files or None, parse=parse, **kw)


def _umbridge(study: Study) -> Any:
    import uqkit

    spec = study.model
    kw: dict[str, Any] = {k: spec[k] for k in ("inputs", "outputs") if k in spec}
    if spec.get("timeout") is not None:
        kw["timeout"] = spec["timeout"]
    return uqkit.UMBridgeModel(spec["umbridge"], spec["model_name"], **kw)


def _build_parameters(study: Study) -> Any:
    from .. import distributions
    from ..parameters import Parameters

    dists = {}
    for name, spec in study.parameters.items():
        args = {k: v for k, v in spec.items() if k != "dist"}
        cls = getattr(distributions, spec["dist"])
        try:
            dists[name] = cls(**args)
        except TypeError as exc:
            raise study.error(("parameters", name), f"has arguments that {spec['dist']} does "
                              f"not take: {exc}") from None
        except InvalidParameterError as exc:
            raise study.error(("parameters", name), f"is not a valid distribution: {exc}") \
                from None
    return Parameters(dists)


def prepare(study: Study, *, build: bool = True) -> Prepared:
    """Build and check the model, parameters and data of ``study`` (no model run).

    With ``build=False`` a model factory named by ``entry_point`` is not called:
    the result's ``model`` is then None and the model's inputs are not checked.
    """
    kind = study.model["kind"]
    key = ("model", kind)
    example_params = None
    try:
        if kind == "entry_point":
            model, example_params = _entry_point(study, build=build)
        elif kind == "command":
            model = _command(study)
        else:
            model = _umbridge(study)
    except InvalidParameterError as exc:
        if getattr(exc, "key", None):
            raise
        raise study.error(key, f"does not give a usable model: {exc}") from None
    except (ImportError, AttributeError) as exc:
        raise study.error(key, f"needs a uqkit feature that is not available: {exc}") from None
    if study.parameters:
        params = _build_parameters(study)
    elif example_params is not None:
        params = example_params
    elif model is None:
        return Prepared(study, None, None, None)
    else:
        raise study.error(("parameters",), "is required: the model does not come with "
                          "parameter distributions")
    if model is None:
        return Prepared(study, None, params, None)
    names = set(params.names) | set(study.derived)
    if names != set(model.inputs):
        missing = sorted(set(model.inputs) - names)
        extra = sorted(names - set(model.inputs))
        raise study.error(("parameters",), f"must give the model's inputs "
                          f"{list(model.inputs)} (as parameters or derived); missing "
                          f"{missing}, not inputs of the model {extra}")
    base = model
    if study.derived:
        model = DerivedModel(model, tuple(params.names), study.derived)
    elif tuple(params.names) != tuple(model.inputs):
        from ..parameters import Parameters

        params = Parameters({n: params[n] for n in model.inputs})
    prep = Prepared(study, model, params, base)
    if "calibrate" in study.analyses:
        fixed = study.analyses["calibrate"]["fixed"]
        for name, value in fixed.items():
            if name not in params.names:
                raise study.error(("analyses", "calibrate", "fixed", name),
                                  f"must name a parameter ({', '.join(params.names)})")
            lo, hi = params[name].support
            if not lo <= value <= hi:
                raise study.error(("analyses", "calibrate", "fixed", name),
                                  f"must lie in the support [{lo:g}, {hi:g}], got {value!r}")
        if len(fixed) >= len(params):
            raise study.error(("analyses", "calibrate", "fixed"), "must leave at least one "
                              "parameter to calibrate")
        prep.data = _read_data(study, model)
        try:
            import uqkit

            uqkit.calibrate  # noqa: B018 - availability check before any run
        except (ImportError, AttributeError):
            raise study.error(("analyses", "calibrate"), "needs uqkit.calibrate, which this "
                              "installation does not have") from None
    return prep


def probe(prep: Prepared, n_points: int) -> list[str]:
    """Run the model on ``n_points`` design points in process, with no store.

    Returns one line per point that failed or gave non-finite outputs.
    """
    import uqkit

    X = prep.parameters.sample(n_points, rng=prep.study.seed)
    runner = uqkit.Runner(on_failure="nan", progress=False,
                          max_consecutive_failures=n_points + 1)
    ev = runner.evaluate(prep.model, X)
    problems = []
    for i in range(n_points):
        point = ", ".join(f"{n}={v:.6g}" for n, v in zip(prep.parameters.names, X[i]))
        bad = [o for o, y in zip(ev.outputs, ev.Y[i]) if not np.isfinite(y)]
        if ev.status[i] == "nonfinite" or (ev.ok[i] and bad):
            problems.append(f"point {i + 1} ({point}): non-finite {', '.join(bad[:5])}")
        elif not ev.ok[i]:
            problems.append(f"point {i + 1} ({point}): {ev.status[i]}: {ev.errors[i]}")
    return problems


def _read_data(study: Study, model: Any) -> Any:
    import pandas as pd

    key = ("analyses", "calibrate", "data")
    path = study.resolve(study.analyses["calibrate"]["data"])
    try:
        df = pd.read_csv(path, comment="#")
    except FileNotFoundError:
        raise study.error(key, f"names a missing file {path}") from None
    except Exception as exc:
        raise study.error(key, f"could not be read as CSV ({path}): {exc}") from None
    unknown = [c for c in df.columns if c not in model.outputs]
    if unknown or df.empty:
        raise study.error(key, f"must be a CSV with a header of model outputs "
                          f"{list(model.outputs)[:8]} and at least one row; {path} has "
                          f"columns {list(df.columns)}")
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise study.error(key, f"must hold numbers; columns {bad} of {path} do not")
    return df


@contextlib.contextmanager
def study_runner(study: Study, *, progress: bool = True) -> Iterator[Any]:
    """The :class:`uqkit.Runner` the study asks for (a pool or Dask client it starts is
    shut down on exit)."""
    import uqkit

    r = study.runner
    ex: Any = None
    owned: list[Callable[[], Any]] = []
    if r["executor"] == "processes":
        ex = r["workers"] or "processes"
    elif r["executor"] == "threads":
        if r["workers"]:
            import concurrent.futures as cf

            ex = cf.ThreadPoolExecutor(max_workers=r["workers"])
            owned.append(lambda: ex.shutdown(wait=True, cancel_futures=True))
        else:
            ex = "threads"
    elif r["executor"] == "dask":
        from dask.distributed import Client

        if r["scheduler"]:
            ex = Client(r["scheduler"])
            owned.append(ex.close)
        else:
            cluster = local_dask_cluster(r["workers"] or 2)
            ex = Client(cluster)
            owned.extend([cluster.close, ex.close])
    store = study.resolve(r["store"])
    store.parent.mkdir(parents=True, exist_ok=True)
    if r["executor"] == "slurm":
        ex = slurm_study_executor(study, store)
        owned.append(ex.shutdown)
    runner = uqkit.Runner(executor=ex, store=store, on_failure=r["on_failure"],
                          retries=r["retries"],
                          progress="auto" if (progress and r["progress"]) else False)
    try:
        yield runner
    finally:
        runner.close()
        for close in reversed(owned):
            with contextlib.suppress(Exception):
                close()


def slurm_study_executor(study: Study, store: Path) -> Any:
    """The SLURM executor of ``[runner] executor = "slurm"``, checked against ``sinfo``
    before anything is submitted (errors name the key and its line). Its jobs are named
    after the store, so that ``uqkit store info`` finds them."""
    from ..runner import _slurm

    s = study.runner["slurm"]
    key = ("runner", "executor")
    reason = _slurm.slurm_status()
    if reason is not None:
        raise study.error(key, f"= \"slurm\" but {reason}; run the study on a SLURM login "
                          "node or choose a local executor")
    module = "submitit" if s["backend"] == "submitit" else "dask_jobqueue"
    try:
        _slurm.require_hpc(module, 'executor = "slurm"')
    except ImportError as exc:
        raise study.error(("runner", "backend"), str(exc)) from None
    problems = _slurm.check_request(partition=s["partition"], walltime=s["walltime"],
                                    cores=s["cores"],
                                    memory_mb=_slurm._memory_mb(s["memory"]),
                                    account=s["account"])
    if problems:
        name, message = problems[0]
        raise study.error(("runner", name), message)
    return _slurm.slurm_executor(
        backend=s["backend"], partition=s["partition"], walltime=s["walltime"],
        cores=s["cores"], memory=s["memory"], max_jobs=s["max_jobs"], account=s["account"],
        job_name=_slurm.job_tag(store), folder=store.parent / "slurm-logs", check=False)


def local_dask_cluster(n_workers: int):
    """A Dask ``LocalCluster`` listening on loopback only
    (tests/test_cli.py::test_cluster_started_by_uqkit_listens_on_loopback_only).

    ``tcp://`` is unauthenticated and tasks are pickled, so the scheduler, the workers and
    the dashboard bind 127.0.0.1 (the dashboard on a free port: ``dashboard_address=None``
    no longer disables it in recent distributed). For several hosts, use TLS (Dask's docs).
    """
    from dask.distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address="127.0.0.1:0")


def execute(prep: Prepared, runner: Any, *, log: Callable[[str], None] = lambda s: None
            ) -> list[Any]:
    """Run the analyses of a prepared study through ``runner``; return the results."""
    import uqkit

    study, model, params = prep.study, prep.model, prep.parameters
    store = runner.store
    if store is not None:
        from ..models import model_identity

        spec = {**study.spec(), "model_id": model_identity(model)["id"]}
        spec.pop("analyses")
        store.check_study(f"study:{study.name}", spec)
        store.save_checkpoint(f"study:{study.name}:spec", {}, {
            "path": str(study.path), "text": study.text, "spec": study.spec()})
    results: list[Any] = []
    a = study.analyses
    seed = study.seed
    if "sobol" in a:
        s = a["sobol"]
        log(f"sobol: n={s['n']} ({s['n'] * (len(params) + 2)} evaluations)")
        results.append(uqkit.sobol(model, params, s["n"], second_order=s["second_order"],
                                   method=s["method"], confidence=s["confidence"], rng=seed,
                                   runner=runner))
    if "morris" in a:
        s = a["morris"]
        log(f"morris: {s['n_trajectories']} trajectories")
        results.append(uqkit.morris(model, params, s["n_trajectories"], levels=s["levels"],
                                    rng=seed, runner=runner))
    if "pce" in a:
        s = a["pce"]
        log(f"pce: n={s['n']}")
        with warnings.catch_warnings(record=True) as caught:  # the report shows the verdict
            warnings.simplefilter("always", uqkit.PoorSurrogateWarning)
            pce = uqkit.fit_pce(model, params, n=s["n"], degree=s["degree"],
                                method=s["method"], rng=seed, runner=runner)
            results.append(pce)
            if s["validation"]:
                Xv = params.sample(s["validation"], method="random", rng=seed + 7919)
                ev = runner.evaluate(model, Xv)
                val = pce.validate(Xv[ev.ok], ev.Y[ev.ok])
                val.attrs["title"] = (f"PCE validation on {int(ev.ok.sum())} independent "
                                      f"points (seed {seed + 7919})")
                results.append(val)
        for w in caught:
            if issubclass(w.category, uqkit.PoorSurrogateWarning):
                log(f"warning: {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if "calibrate" in a:
        s = a["calibrate"]
        log("calibrate: sampling the posterior")
        kw = {k: s[k] for k in ("n_walkers", "n_steps", "max_evaluations") if k in s}
        data = prep.data
        data = data.iloc[0] if len(data) == 1 else data
        cal_model, prior = model, params
        if s["fixed"]:  # calibrate the others; the fixed inputs enter as constants
            free = tuple(n for n in params.names if n not in s["fixed"])
            cal_model = DerivedModel(model, free, {k: repr(float(v))
                                                   for k, v in s["fixed"].items()})
            prior = params.subset(free)
        results.append(uqkit.calibrate(
            cal_model, prior, data, noise=uqkit.Gaussian(s["noise"]),
            target_ess=s["target_ess"], surrogate="pce" if s["surrogate"] == "pce" else None,
            rng=seed, runner=runner, **kw))
    return results


def write_report(prep: Prepared, runner: Any, results: list[Any]) -> tuple[str, str]:
    """Write the study's HTML and JSON report and keep the document in the store."""
    from ..reports._document import document_to_dict
    from ..reports._report import build_document, write_document

    study = prep.study
    r = study.runner
    facts = {"study": study.name, "study file": str(study.path), "seed": study.seed,
             "analyses": ", ".join(study.analyses), "executor": r["executor"],
             "workers": r["workers"], "failure policy": r["on_failure"],
             "store": str(runner.store.path) if runner.store is not None else "-"}
    if study.derived:
        facts["derived inputs"] = "; ".join(f"{k} = {v}" for k, v in study.derived.items())
    objs: list[Any] = [facts, prep.parameters, prep.base_model, *results]
    if runner.store is not None:
        objs.append(runner.store)
    doc = build_document(*objs, title=study.report["title"], truth=study.report.get("truth"))
    paths = write_document(doc, study.resolve(study.report["path"]))
    if runner.store is not None:
        runner.store.save_checkpoint(f"study:{study.name}:report", {},
                                     {"report_path": paths[0],
                                      "document": document_to_dict(doc, figures=True)})
    return paths
