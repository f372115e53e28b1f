"""Where ``pack`` gets the model object: a pickle/joblib/cloudpickle file or a Python reference.

References are ``package.module:attr`` (importable) or ``path/to/file.py:attr``; ``attr`` may
be a fitted model or a zero-argument function returning one. Model files are scanned before they
are unpickled; a file whose pickle imports something outside the allowlist is refused unless the
user trusts those names (``--trust-pickle``) or trusted the file's exact bytes (``modelpack
trust FILE``, the only way for classes pickled by value).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from modelpack.errors import InputFileError, InvalidModelError, NotFoundError, UnsafeModelError

if TYPE_CHECKING:
    from modelpack.safety.trust import TrustRecord

_MODULE_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    source: str
    by_value_module: Any = None  # a module loaded from a .py file, pickled by value
    trust: TrustRecord | None = None  # the scan refused the file; the user trusted its bytes
    more_by_value: tuple[Any, ...] = ()  # further user modules the model's parts come from

    @property
    def by_value_modules(self) -> tuple[Any, ...]:
        """Every module whose classes must travel inside the model file."""
        first = () if self.by_value_module is None else (self.by_value_module,)
        return (*first, *(m for m in self.more_by_value if m is not self.by_value_module))


def looks_like_reference(text: str) -> bool:
    """``pkg.mod:attr`` or ``some/file.py:attr`` (and not an existing file path)."""
    if Path(text).exists():
        return False
    head, sep, _ = text.rpartition(":")
    return bool(sep) and (head.endswith(".py") or bool(_MODULE_REF.match(text)))


def load_model_source(
    text: str, *, trusted: Iterable[str] = (), trust_home: Path | None = None
) -> LoadedModel:
    """Resolve MODEL as given on the command line to a live model object.

    ``trust_home`` is where ``modelpack trust`` records live (MODELPACK_HOME); a model file whose
    exact bytes are recorded there loads even when the scan refuses it. None consults no record.

    Raises:
        NotFoundError: the file or module does not exist.
        UnsafeModelError: the pickle imports globals outside the allowlist.
        InputFileError: the file is not a pickle of any kind, or the reference fails.
    """
    if looks_like_reference(text):
        return _load_reference(text)
    path = Path(text)
    if not path.exists():
        raise NotFoundError(f"model file not found: {text}", path=text)
    if path.is_dir():
        raise InputFileError(
            f"{text} is a folder, not a model file",
            hint="pass a .pkl/.joblib file or a package.module:attr reference",
        )
    with path.open("rb") as fh:
        model, trust = _load_file(path, fh, tuple(trusted), trust_home)
    return LoadedModel(model, str(path), trust=trust)


def object_source(model: Any) -> LoadedModel:
    """A fitted model object handed over in Python (a notebook, a script), as ``pack`` takes it.

    Classes from the user's own code (``__main__``, or a module that is not installed: a file
    beside the notebook, a module loaded from a path) are pickled by value, as for ``file.py:attr``
    on the command line, so the package loads where that code is absent. Classes from installed
    packages are pickled by reference.

    Raises:
        InvalidModelError: the object has no ``predict`` method.
    """
    if not callable(getattr(model, "predict", None)):
        kind = type(model)
        raise InvalidModelError(
            f"a {kind.__module__}.{kind.__qualname__} is not a model: it has no predict method",
            hint="pass a fitted estimator (or a model file, or a package.module:attr reference)",
        )
    modules = [m for m in _part_modules(model) if _is_user_module(m)]
    kind = type(model)
    return LoadedModel(
        _as_loaded(model),
        f"<{kind.__module__}.{kind.__qualname__} object>",
        by_value_module=modules[0] if modules else None,
        more_by_value=tuple(modules[1:]),
    )


def _as_loaded(model: Any) -> Any:
    """The model as ``joblib.load`` gives it back, so the package has the CLI's bytes.

    Pickle writes an object that two places share once and refers back to it, so the bytes
    depend on which equal values are one object, and a file round trip changes that: joblib
    stores each array with its own dtype object, where a model trained in memory shares numpy's
    cached dtype between its arrays. Packing a round-tripped copy gives the folder (and digest)
    ``pack model.joblib`` gives for the same model saved with ``joblib.dump``.
    """
    import io

    import joblib

    buffer = io.BytesIO()
    try:
        joblib.dump(model, buffer)
        buffer.seek(0)
        return joblib.load(buffer)
    except Exception:  # not picklable as is: the flavor's serializer reports it when saving
        return model


def _part_modules(model: Any) -> list[Any]:
    """The modules defining the model's class and, for scikit-learn meta-estimators, its parts'."""
    kinds = [type(model)]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        try:
            params = get_params(deep=True)
        except Exception:  # a hand-written get_params may want arguments or fail; the class is enough
            params = {}
        if isinstance(params, dict):
            kinds += [
                type(v)
                for v in params.values()
                if not isinstance(v, (str, bytes, int, float, bool, type(None)))
            ]
    found: dict[str, Any] = {}
    for kind in kinds:
        module = sys.modules.get(kind.__module__)
        if module is not None:
            found.setdefault(kind.__module__, module)
    return list(found.values())


def _is_user_module(module: Any) -> bool:
    """``__main__`` or a module whose file lies outside every installed-library location."""
    import site
    import sysconfig

    if module.__name__ == "__main__":
        return True
    file = getattr(module, "__file__", None)
    if not file:
        return False  # built-in or namespace module: installed, not user code
    path = Path(file).resolve()
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    roots.add(site.getusersitepackages())
    for root in roots:
        try:
            path.relative_to(Path(root).resolve())
        except ValueError:
            continue
        return False
    return True


def _load_file(
    path: Path, fh: IO[bytes], trusted: tuple[str, ...], trust_home: Path | None
) -> tuple[Any, TrustRecord | None]:
    from modelpack import safety
    from modelpack.safety.trust import find_file_trust

    result = safety.scan_file(path, trusted=trusted)
    if result.format == "unknown":
        raise InputFileError(f"{path} is not a pickle, joblib or cloudpickle file")
    trust = None
    if result.findings:
        # Hash the handle the model is then read from, so what loads is what was trusted.
        trust = find_file_trust(fh, trust_home)
        fh.seek(0)
    if result.format == "skops":
        from modelpack.package.flavors.sklearn import load_skops

        return load_skops(path, trusted=trusted, package_trusted=trust is not None), trust
    if result.findings and trust is None:
        names = sorted({f.global_name for f in result.findings})
        raise UnsafeModelError(
            f"refusing to unpickle {path.name}: it imports globals outside the allowlist: {', '.join(names)}",
            findings=[f.to_dict() for f in result.findings],
            hint=safety.trust_advice(result.findings, str(path), noun="file"),
        )
    try:
        if result.format == "joblib":
            import joblib

            return joblib.load(fh), trust
        import cloudpickle  # reads plain pickles too, and cloudpickle's by-value functions

        return cloudpickle.load(fh), trust
    except (ImportError, AttributeError) as exc:
        raise InputFileError(
            f"cannot unpickle {path.name}: {exc}",
            hint="install the library the model was trained with, in this environment",
        ) from exc
    except Exception as exc:
        raise InputFileError(f"cannot unpickle {path.name}: {type(exc).__name__}: {exc}") from exc


def _load_reference(text: str) -> LoadedModel:
    target, _, attr = text.rpartition(":")
    by_value = None
    if target.endswith(".py"):
        file = Path(target)
        if not file.is_file():
            raise NotFoundError(f"Python file not found: {target}", path=target)
        module_name = "_modelpack_user_" + re.sub(r"\W", "_", file.stem)
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise InputFileError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        loader = spec.loader
        _exec(lambda: loader.exec_module(module), text)
        by_value = module
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise NotFoundError(f"cannot import module {target!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise NotFoundError(f"{target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(getattr(obj, "predict", None)) and callable(obj):
        obj = _exec(obj, text)
    if not callable(getattr(obj, "predict", None)):
        raise InvalidModelError(
            f"{text} gave a {type(obj).__qualname__}, which has no predict method",
            hint="point at a fitted model or a zero-argument function that returns one",
        )
    return LoadedModel(obj, text, by_value)


def _exec(fn: Any, text: str) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise InputFileError(f"running {text} failed: {type(exc).__name__}: {exc}") from exc
