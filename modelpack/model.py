"""``load_model``: a model folder or ``models:/`` URI as a Python object that predicts.

The path is the one ``predict`` takes: the files are checked against their manifest (and, for a
registry version, against what the registry recorded), every pickle is scanned before anything is
unpickled, a ``modelpack trust`` record lets a refused package load, and input is conformed to
the signature before the model sees it. ``Model.predict`` returns what MLflow's
``pyfunc.load_model(...).predict`` returns for the same folder: the model's own output (an ndarray
for scikit-learn), not a table.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack import _html
from modelpack._html import one_line

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

    from modelpack.config import Home
    from modelpack.package.mlmodel import MLmodel
    from modelpack.schema.signature import Schema, Signature
    from modelpack.serving.scoring import BatchScore, Scorer
    from modelpack.serving.server import Served
    from modelpack.target import Target


@dataclass(frozen=True, eq=False)
class Model:
    """A loaded model package.

    Attributes:
        path: the folder the model was loaded from (for a registry URI, the stored version's).
        uri: the ``models:/`` URI it was loaded by, or None for a folder.
        name: the registered model name (registry targets), or the name recorded at pack time.
        version: the registry version number, or None for a folder.
        signature: the package's signature, or None when it records none.
        metadata: the MLmodel ``metadata`` entries.
        flavor: ``sklearn``, ``modelpack`` or ``python_function``.
        raw: the underlying model object (e.g. the scikit-learn estimator).
        method: the method ``predict`` calls (the recorded ``predict_fn`` unless overridden).
        warnings: notes about tolerated input differences seen by the last ``predict``.
    """

    path: Path
    uri: str | None
    name: str | None
    version: int | None
    signature: Signature | None
    metadata: dict[str, Any]
    flavor: str
    raw: Any
    method: str
    _scorer: Scorer = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Conform ``data`` to the signature and predict.

        Args:
            data: a pandas DataFrame, a numpy array, a dict of columns (or of tensors) or a list
                of records (dicts).
            params: inference parameters, checked as MLflow's pyfunc checks them: against the
                signature's params (declared ones missing take their defaults, unknown ones are
                dropped with a warning), or ignored with a warning when it declares none. As in
                MLflow, the scikit-learn and ``modelpack`` flavors' ``predict`` takes no params,
                so they do not reach the model.

        Returns:
            The model's output as MLflow's pyfunc returns it for this package: an ndarray for
            scikit-learn, whatever the model returns (DataFrame, Series, ndarray) otherwise.

        Raises:
            SchemaViolationError: the data breaks the input signature, or a param breaks its
                type or shape; the message and ``violations`` list every violation.
            InvalidModelError: the model raised while predicting.
        """
        return self._score(data, params).raw

    def predict_frame(self, data: Any, params: Mapping[str, Any] | None = None) -> DataFrame:
        """Like :meth:`predict`, with the output as a DataFrame (the columns ``modelpack predict`` writes)."""
        return self._score(data, params).frame

    def check_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The params MLflow's pyfunc would hand a model that takes them: checked, defaults filled.

        Raises:
            SchemaViolationError: a param breaks its type or shape (each is listed).
        """
        return self._params(params, stacklevel=3)

    def _params(self, params: Mapping[str, Any] | None, *, stacklevel: int) -> dict[str, Any] | None:
        from modelpack.schema.params import enforce_params

        resolved, notes = enforce_params(
            params, self.signature.params if self.signature is not None else None
        )
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=stacklevel)
        return resolved

    def _score(self, data: Any, params: Mapping[str, Any] | None) -> BatchScore:
        from modelpack.serving.scoring import score_data

        self._params(params, stacklevel=5)  # checked, then not passed on: MLflow's sklearn predict drops them
        notes: list[str] = []
        scored = score_data(self._scorer, _as_input(data), warnings=notes)
        self.warnings[:] = list(dict.fromkeys(notes))
        return scored

    @property
    def input_schema(self) -> Schema | None:
        """The signature's inputs, or None."""
        return self.signature.inputs if self.signature is not None else None

    def __repr__(self) -> str:
        where = self.uri or str(self.path)
        version = f" v{self.version}" if self.version is not None else ""
        kind = type(self.raw)
        inputs = self.input_schema
        cols = f", {len(inputs)} inputs" if inputs is not None else ""
        return one_line(
            f"<Model {where}{version}: {kind.__module__}.{kind.__qualname__} ({self.flavor}{cols})>"
        )

    def _repr_html_(self) -> str:
        from modelpack.schema.signature import signature_html

        parts = [f"<p><code>{_html.text(repr(self))}</code></p>"]
        if self.signature is None:
            parts.append(_html.para("no signature"))
        else:
            parts.append(signature_html(self.signature))
        return "".join(parts)


def _as_input(data: Any) -> Any:
    """Records become a DataFrame (as MLflow's pyfunc does); everything else goes to ``conform`` as is."""
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        return pd.DataFrame(list(data))
    return data


def load_model(
    target: str | Path,
    *,
    home: str | Home | None = None,
    trusted: Iterable[str] = (),
    method: str | None = None,
) -> Model:
    """Load a model folder or registry version for prediction in this process.

    Args:
        target: a model folder, or a ``models:/`` URI (``models:/NAME/VERSION``, ``/STAGE``,
            ``/latest`` or ``models:/NAME@ALIAS``).
        home: the registry root for URIs and the place ``modelpack trust`` records live;
            ``MODELPACK_HOME`` or ``~/.modelpack`` when omitted, as for the CLI.
        trusted: modules (or ``module.qualname``) trusted beyond the allowlist for this load.
        method: ``predict``, ``predict_proba`` or ``predict_log_proba`` instead of the recorded
            ``predict_fn``.

    Returns:
        A Model.

    Raises:
        NotFoundError: the folder, model, version, stage or alias does not exist.
        InvalidModelError: the files fail their integrity check, or the model cannot be loaded.
        UnsafeModelError: a pickle imports globals outside the allowlist (they are named);
            nothing was unpickled.
    """
    from modelpack.serving.scoring import parse_signature

    resolved, mlmodel, scorer = _load(target, home=home, trusted=trusted, method=method)
    folder = resolved.path
    flavors = mlmodel.flavors
    flavor = next((f for f in ("sklearn", "modelpack") if f in flavors), "python_function")
    metadata = mlmodel.raw.get("metadata")
    recorded_name = mlmodel.modelpack_info.get("name")
    return Model(
        path=folder,
        uri=resolved.uri,
        name=resolved.name or (str(recorded_name) if recorded_name else None),
        version=resolved.version,
        signature=parse_signature(mlmodel),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        flavor=flavor,
        raw=scorer.model,
        method=scorer.method,
        _scorer=scorer,
    )


def _load(
    target: str | Path, *, home: str | Home | None, trusted: Iterable[str], method: str | None
) -> tuple[Target, MLmodel, Scorer]:
    """Resolve, check (integrity, trust, safety scan) and load: the one path to a loaded model."""
    from modelpack.config import local_home, resolve_home
    from modelpack.package.mlmodel import read_mlmodel
    from modelpack.serving.scoring import PackageChecks, check_package, load_scorer
    from modelpack.target import resolve_target

    root = resolve_home(home)
    resolved = resolve_target(str(target), home=root)
    folder = resolved.path
    trust = check_package(
        folder, PackageChecks(trust_home=local_home(root), recorded=resolved.recorded), target=resolved.uri
    )
    mlmodel = read_mlmodel(folder)
    scorer = load_scorer(
        folder,
        mlmodel,
        method=method,
        trusted=trusted,
        package_trusted=trust is not None,
        target=resolved.uri,
    )
    return resolved, mlmodel, scorer


def load_served(target: str | Path, *, home: str | Home | None = None, trusted: Iterable[str] = ()) -> Served:
    """Load a model for ``modelpack serve``: the checks of :func:`load_model`, and the names the
    server answers by (a registry version pinned as ``models:/NAME/VERSION``; a folder by its digest).

    Raises:
        As :func:`load_model`.
    """
    from modelpack.package.manifest import read_manifest
    from modelpack.serving.scoring import parse_signature
    from modelpack.serving.server import Served

    resolved, mlmodel, scorer = _load(target, home=home, trusted=trusted, method=None)
    pinned = f"models:/{resolved.name}/{resolved.version}" if resolved.uri is not None else None
    if resolved.recorded is not None:
        digest: str | None = resolved.recorded.digest
    else:
        manifest = read_manifest(resolved.path)
        digest = manifest.digest if manifest is not None else None
    label = pinned or (f"sha256:{digest.removeprefix('sha256:')[:16]}" if digest else str(resolved.path))
    return Served(
        scorer=scorer,
        mlmodel=mlmodel,
        signature=parse_signature(mlmodel),
        label=label,
        uri=pinned,
        name=resolved.name,
        version=resolved.version,
        digest=digest,
    )
