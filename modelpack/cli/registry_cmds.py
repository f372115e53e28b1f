"""Registry commands: register, promote, set, rename, list, history, delete, gc, doctor, copy,
export, import.

Each body is one call into ``modelpack.registry`` through the ``_run`` funnel. ``--field NAME``
prints just that value (one line per row) for shell capture, e.g.
``v=$(modelpack register ./model --name iris --field version)``.

Results are printed as plain text (aligned columns, summary lines) rather than through rich:
these commands run in loops and CI steps, where importing and laying out rich costs more than
the registry work itself; errors and warnings still go through ``render`` on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from modelpack import render
from modelpack._text import plural
from modelpack.cli import _run
from modelpack.cli._app import app
from modelpack.cli._run import JsonFlag
from modelpack.config import resolve_home
from modelpack.errors import UsageError

if TYPE_CHECKING:
    from modelpack.registry import AnyRegistry
    from modelpack.registry.records import (
        DeleteResult,
        DoctorReport,
        GateCheck,
        GcResult,
        History,
        ModelDeleteResult,
        ModelList,
        PromoteResult,
        RegisterResult,
        RenameResult,
        SetResult,
        VersionList,
        VersionRecord,
    )
    from modelpack.registry.transfer import ExportResult, TransferResult

#: Test-only: name a crash point (see modelpack.registry.faults) to SIGKILL this process there.
ENV_TEST_CRASH_AT: Final = "MODELPACK_TEST_CRASH_AT"

FieldOption = Annotated[
    str | None,
    typer.Option(
        "--field",
        metavar="NAME",
        help="Print only this field (one line per row), for shell capture; e.g. version, uri, path.",
    ),
]


def _registry(home: str | None, *, progress: bool = False) -> AnyRegistry:
    from modelpack.registry import open_registry
    from modelpack.registry.faults import Faults

    # Progress only draws on a terminal; checking first keeps rich unimported otherwise.
    reporter: Any = render.StderrReporter(True) if progress and sys.stderr.isatty() else None
    kwargs: dict[str, Any] = {"faults": Faults(os.environ.get(ENV_TEST_CRASH_AT) or None)}
    if reporter is not None:
        kwargs["reporter"] = reporter
    return open_registry(resolve_home(home), **kwargs)


_DURATION_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_grace(text: str) -> float:
    """``--grace``: seconds, or a number with s, m, h or d (``90``, ``30m``, ``24h``)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if match is None:
        raise UsageError(f"--grace {text!r}: give seconds or a number with s, m, h or d, e.g. 24h or 30m")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ",".join(_format_value(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _check_field(field: str | None, json_output: bool, rows: list[dict[str, Any]], known: set[str]) -> None:
    """Refuse an unknown ``--field`` (exit 2) before anything is printed."""
    if field is None:
        return
    if json_output:
        raise UsageError("use either --json or --field, not both")
    available = known.union(*(row.keys() for row in rows)) if rows else set(known)
    if field not in available:
        raise UsageError(f"unknown field {field!r}; fields: {', '.join(sorted(available))}")


def _print_field(field: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        render.plain(_format_value(row.get(field)))


#: Columns that may shrink to fit the terminal, and how: a path keeps its end, text its start.
_KEEP_END: Final = {"source", "origin", "path"}
#: Narrowed first (down to a floor), before any column leaves the table.
_SHRINK_FIRST: Final = ("source", "origin", "path", "stages", "aliases")
#: Narrowed last: what the table is read for.
_SHRINK_LAST: Final = ("description", "tags")
#: Never cut when it is the last column: a terminal wraps it, and it is what the table is read
#: for (an event's whole detail). The columns before it make room for this many characters.
_WRAPS: Final = {"detail"}
_WRAP_ROOM: Final = 40
_MIN_WIDTH: Final = 12
_TIME_COLUMNS: Final = {"created", "updated", "time"}
_DROP_ORDER: Final = ("origin", "digest", "size", "source", "by")
#: Left out only when description and tags are down to their floor and it still does not fit.
_LATE_DROP_ORDER: Final = ("updated", "created", "aliases", "stages")


def _terminal_width() -> int | None:
    """The width to fit: ``COLUMNS`` if set, else the terminal's; None (no limit) when stdout
    is no terminal, so logs and pipes get whole lines."""
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _short_time(value: str) -> str:
    """``2025-01-31T12:00:00.123456Z`` -> ``2025-01-31T12:00Z`` (to the minute, still UTC)."""
    return value[:16] + "Z" if len(value) > 17 and value[10:11] == "T" and value.endswith("Z") else value


def _ellipsize(text: str, width: int, *, keep_end: bool) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return "\u2026" + text[-(width - 1) :] if keep_end else text[: width - 1] + "\u2026"


def _fit(headers: list[str], cells: list[list[str]], limit: int) -> list[int | None]:
    """Column widths for ``limit`` characters (None: the column is left out).

    In order, until the table fits: paths, stages and aliases narrow one character at a time,
    widest first, down to a floor; times are shortened (``2025-01-31T12:00Z``); columns a
    reader can get elsewhere leave (origin, digest, size, source, by); then description and tags
    narrow; last, times, aliases and stages leave and description and tags narrow further.
    So the name or version, description and tags stay on screen. A last ``detail`` column is
    never cut: the columns before it leave it ``_WRAP_ROOM`` characters and the terminal wraps it.
    """
    widths: list[int | None] = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    wraps = headers[-1] in _WRAPS

    def total() -> int:
        shown = [w for w in widths if w is not None]
        if wraps:
            shown[-1] = min(shown[-1], _WRAP_ROOM)
        return sum(shown) + 2 * (len(shown) - 1)

    def shorten_times() -> None:
        for i, h in enumerate(headers):
            if h in _TIME_COLUMNS:
                for row in cells:
                    row[i] = _short_time(row[i])
                widths[i] = max([len(h), *(len(r[i]) for r in cells)])

    def narrow(names: tuple[str, ...], floor: int = _MIN_WIDTH) -> bool:
        """Take one character off the widest of ``names`` above its floor; False if none is."""
        candidates = [
            i
            for i, h in enumerate(headers)
            if h in names and (w := widths[i]) is not None and w > max(floor, len(h))
        ]
        if not candidates:
            return False
        widest = max(candidates, key=lambda i: widths[i] or 0)
        widths[widest] = (widths[widest] or 1) - 1
        return True

    droppable = [headers.index(h) for h in _DROP_ORDER if h in headers]
    late_drops = [headers.index(h) for h in _LATE_DROP_ORDER if h in headers]
    times_short = False
    while total() > limit:
        if narrow(_SHRINK_FIRST):
            continue
        if not times_short:
            shorten_times()
            times_short = True
        elif droppable:
            widths[droppable.pop(0)] = None
        elif narrow(_SHRINK_LAST):
            continue
        elif late_drops:
            widths[late_drops.pop(0)] = None
        elif not narrow(_SHRINK_LAST, floor=6):
            break
    return widths


def _columns(headers: list[str], rows: list[list[Any]]) -> None:
    """An aligned plain-text table, written in one go, fitted to the terminal's width.

    Registry listings grow with the registry (a model may have thousands of versions), and a
    rich Table costs about half a millisecond per row; aligned columns cost microseconds, stay
    on one line per row (easy to grep and to read in CI logs) and need no terminal. On a
    terminal (or with ``COLUMNS`` set) long times and wide columns shrink so every column stays
    on screen; piped output keeps whole values.
    """
    cells = [[_format_value(v) for v in row] for row in rows]
    limit = _terminal_width()
    fitted: list[int | None] = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    if limit is not None:
        fitted = _fit(headers, cells, limit)
    keep = [i for i, w in enumerate(fitted) if w is not None]
    heads = [headers[i] for i in keep]
    widths = [fitted[i] or 0 for i in keep]
    last = len(keep) - 1
    cells = [
        [
            r[i] if n == last and h in _WRAPS else _ellipsize(r[i], w, keep_end=h in _KEEP_END)
            for n, (i, w, h) in enumerate(zip(keep, widths, heads, strict=True))
        ]
        for r in cells
    ]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    render.plain("\n".join(lines))


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


VERSION_FIELDS: Final = {
    "name",
    "version",
    "stage",
    "aliases",
    "uri",
    "path",
    "local_path",
    "digest",
    "created",
    "source",
    "size",
    "user",
    "host",
    "description",
    "tags",
    "flavors",
    "signature",
    "file_count",
    "deleted",
    "origin",
    "provenance",
}
#: ``copy`` and ``import`` print a version too, plus where it went (and the archive it came from).
TRANSFER_FIELDS: Final = VERSION_FIELDS | {
    "already_registered",
    "home",
    "archive",
    "archive_sha256",
    "manifest_sha256",
    "mlmodel",
    "modelpack_version",
}
EXPORT_FIELDS: Final = {
    "output",
    "sha256",
    "bytes",
    "compressed",
    "name",
    "version",
    "source",
    "digest",
    "file_count",
}
MODEL_FIELDS: Final = {
    "name",
    "created",
    "updated",
    "latest_version",
    "version_count",
    "stages",
    "aliases",
    "description",
    "tags",
}
#: The models table's column headings that are not field names, so every heading works as --field.
MODEL_COLUMN_FIELDS: Final = {"latest": "latest_version", "versions": "version_count"}
EVENT_FIELDS: Final = {"id", "event", "name", "time", "user", "host", "pid", "version"}


# ---------------------------------------------------------------------- register


@app.command()
def register(
    target: Annotated[
        str,
        typer.Argument(
            help="Model folder, a models:/ URI to copy a version from, or runs:/RUN_ID/PATH: a model "
            "logged in an MLflow run (local tracking store)."
        ),
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Registered model name.")],
    description: Annotated[
        str | None,
        typer.Option("--description", help="Free text stored with the version."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="KEY=VALUE", help="Tag stored with the version (repeatable)."),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", "-a", help="Point this alias at the registered version."),
    ] = None,
    allow_duplicate: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate",
            help="Mint a new version even when identical content is already a version of NAME.",
        ),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="For runs:/ URIs: the local MLflow tracking store (an mlruns folder, file:// or "
            "sqlite:///path.db). Default: MLFLOW_TRACKING_URI, else ./mlruns or sqlite:///mlflow.db.",
        ),
    ] = None,
    metric: _run.MetricOption = None,
    param: _run.ParamOption = None,
    training_data: _run.TrainingDataOption = None,
    no_provenance: _run.NoProvenanceFlag = False,
    field: FieldOption = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Store a model folder as the next version of NAME (never unpickles anything).

    The folder's MLmodel and integrity manifest are checked, its files are stored once by
    sha256, and the version number is claimed atomically. Registering content identical to an
    existing version returns that version (exit 0) unless --allow-duplicate.

    runs:/RUN_ID/PATH registers the model an MLflow run logged (as mlflow.register_model does)
    from a local tracking store, recording the run id, experiment, params, latest metrics and
    git commit as the version's provenance. MLflow is not needed.

    The version records the package's provenance (from pack) and where register ran: the git
    commit of the working directory's repository and the CI run, unless --no-provenance.
    """
    tags = _run.parse_key_values(tag, "--tag")
    pairs = _run.provenance_pairs(metric, param)

    def action() -> RegisterResult:
        from pathlib import Path

        from modelpack.provenance.record import for_register
        from modelpack.registry_api import register_target

        request = _run.provenance_request(pairs, training_data, no_provenance)
        given = for_register(request, Path.cwd())
        result = register_target(
            _registry(home, progress=not json_output),
            target,
            name=name,
            tracking_uri=tracking_uri,
            description=description,
            tags=tags,
            alias=alias,
            allow_duplicate=allow_duplicate,
            provenance=given,
        )
        _check_field(field, json_output, [result.to_dict()], VERSION_FIELDS)
        return result

    def human(result: RegisterResult) -> None:
        if field is not None:
            _print_field(field, [result.to_dict()])
            return
        v = result.version
        if result.already_registered:
            render.plain(
                f"{v.name} v{v.version} already holds this content (sha256:{_short(v.digest)}); "
                "no new version registered (--allow-duplicate forces one)"
            )
        else:
            render.plain(
                f"registered {v.name} v{v.version} (sha256:{_short(v.digest)}, {_size(v.size)}) "
                f"from {v.source}"
            )
        run = v.provenance.get("mlflow")
        if isinstance(run, dict):
            render.plain(_run_summary(run, v.provenance))
        if alias is not None:
            render.plain(f"alias {alias} -> {v.name} v{v.version}")

    _run.run("register", json_output, action, human)


def _run_summary(run: dict[str, Any], provenance: dict[str, Any]) -> str:
    """``run 9549cb0f... (experiment wifi): 3 params, 2 metrics, commit 1a2b3c4d5e6f``."""
    experiment = run.get("experiment_name") or run.get("experiment_id")
    params = len(provenance.get("params") or {})
    metrics = len(provenance.get("metrics") or {})
    line = f"run {run.get('run_id')} (experiment {experiment}): {plural(params, 'param')}, {plural(metrics, 'metric')}"
    git = provenance.get("git")
    if isinstance(git, dict) and git.get("commit"):
        line += f", commit {str(git['commit'])[:12]}"
    return line


# ---------------------------------------------------------------------- promote


def _complete_stage(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for ``--stage``: the stages of the registry the command would use."""
    try:
        stages = _registry(ctx.params.get("home")).stages.all
    except Exception:  # completion must never fail loudly: offer nothing
        return []
    return [s for s in stages if s.lower().startswith(incomplete.lower())]


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version number.", min=1)],
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            help="The stage to move the version to (any case): None or one of the registry's stages "
            "('modelpack stages'; by default Staging, Production, Archived).",
            autocompletion=_complete_stage,
        ),
    ] = None,
    keep_existing: Annotated[
        bool,
        typer.Option(
            "--keep-existing",
            help="Leave versions already in the target stage there (default: move them to the archive stage).",
        ),
    ] = False,
    alias: Annotated[
        str | None,
        typer.Option("--alias", "-a", help="Point this alias at the version."),
    ] = None,
    remove_alias: Annotated[
        str | None,
        typer.Option("--remove-alias", help="Remove this alias (it must point at the version)."),
    ] = None,
    require_compatible: Annotated[
        bool,
        typer.Option(
            "--require-compatible",
            help=(
                "Refuse (exit 3) when the signature would break callers of the version now in the "
                "stage, or now under the alias."
            ),
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --require-compatible: promote anyway; the event log records it."),
    ] = False,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Move a version to a stage, or point or remove an alias.

    The stored version's integrity is verified first. By default the version previously in an
    active stage (Staging or Production, or the registry's own) moves to the archive stage
    (Archived); --keep-existing keeps both (MLflow's default).
    --require-compatible refuses a version whose signature breaks the one now in the stage or
    under the alias.
    """

    def action() -> PromoteResult:
        if stage is None and alias is None and remove_alias is None:
            raise UsageError("nothing to do: give --stage, --alias or --remove-alias")
        return _registry(home).promote(
            name,
            version,
            stage=stage,
            archive_existing=not keep_existing,
            alias=alias,
            remove_alias=remove_alias,
            require_compatible=require_compatible,
            force=force,
        )

    def human(result: PromoteResult) -> None:
        v = result.version
        for check in result.compatibility or []:
            render.plain(_gate_line(check))
        if not result.changed:
            render.plain(f"{v.name} v{v.version} is already {v.stage}; nothing changed")
            return
        if stage is not None:
            if result.previous_stage == v.stage:
                line = f"{v.name} v{v.version} stays in {v.stage}"
            else:
                line = f"{v.name} v{v.version}: {result.previous_stage} -> {v.stage}"
            if result.archived:
                line += f"; archived {', '.join(f'v{n}' for n in result.archived)}"
            render.plain(line)
        if result.alias_set is not None:
            was = f" (was v{result.alias_moved_from})" if result.alias_moved_from else ""
            render.plain(f"alias {result.alias_set} -> {v.name} v{v.version}{was}")
        if result.alias_removed is not None:
            render.plain(f"removed alias {result.alias_removed} from {v.name} v{v.version}")

    _run.run("promote", json_output, action, human)


# ---------------------------------------------------------------------- list


@app.command("list")
def list_cmd(
    name: Annotated[
        str | None,
        typer.Argument(help="A model name to list its versions, or a models:/ URI to show one version."),
    ] = None,
    include_deleted: Annotated[
        bool, typer.Option("--deleted", help="Include deleted versions when listing a model.")
    ] = False,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            help="Only versions in this stage, or models with a version in it (repeatable: any of them).",
        ),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", "-a", help="Only the version under this alias, or models having it."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="KEY[=VALUE]",
            help="Only rows with this tag (KEY alone: any value); repeatable, all must match.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only versions registered (models changed) since WHEN: 2025-01-31, 2025-01-31T12:00, 7d, 12h.",
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            metavar="TEXT",
            help="Only rows whose name or description contains TEXT (any case).",
        ),
    ] = None,
    field: FieldOption = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """List models (latest version, stages, aliases), a model's versions, or one URI's version.

    Filters compose (all must match): --stage, --alias, --tag, --since and --search. Without a
    NAME they pick models (a model matches a stage or alias any of its versions has, and its own
    tags); with a NAME, its versions.
    """
    if name is None and field is not None:
        field = MODEL_COLUMN_FIELDS.get(field, field)

    def action() -> ModelList | VersionList | VersionRecord:
        from modelpack.registry.filters import ListFilter, parse_since, parse_tag_filters
        from modelpack.registry.records import ModelList, VersionList
        from modelpack.uri import is_model_uri

        chosen = ListFilter(
            stages=tuple(stage or ()),
            alias=alias,
            tags=parse_tag_filters(tag or []),
            since=parse_since(since) if since is not None else None,
            text=search,
        )
        registry = _registry(home)
        result: ModelList | VersionList | VersionRecord
        if name is None:
            result = ModelList(chosen.models(registry.list_models()))
            _check_field(field, json_output, result.rows(), MODEL_FIELDS)
        elif is_model_uri(name):
            if chosen.active:
                raise UsageError("filters apply to listings; a models:/ URI names one version")
            result = registry.resolve(name)
            _check_field(field, json_output, [result.to_dict()], VERSION_FIELDS)
        else:
            versions = registry.list_versions(name, include_deleted=include_deleted)
            result = VersionList(name, chosen.versions(versions))
            _check_field(field, json_output, result.rows(), VERSION_FIELDS)
        return result

    def human(result: ModelList | VersionList | VersionRecord) -> None:
        from modelpack.registry.records import REGISTRATION_FACTS, ModelList, VersionList

        if isinstance(result, ModelList):
            if field is not None:
                _print_field(field, result.rows())
            elif not result.models:
                filtered = bool(stage or alias or tag or since or search)
                render.plain("no models match" if filtered else "no models registered")
            else:
                # Description and tags only when some model has them (as origin for versions).
                extra = [
                    h
                    for h, used in (
                        ("description", any(m.description for m in result.models)),
                        ("tags", any(m.tags for m in result.models)),
                    )
                    if used
                ]
                _columns(
                    ["name", "latest", "versions", "stages", "aliases", "updated", *extra],
                    [
                        [
                            m.name,
                            m.latest_version,
                            m.version_count,
                            "; ".join(f"{s}: {', '.join(map(str, vs))}" for s, vs in m.stages.items()),
                            ", ".join(f"{a}->{v}" for a, v in m.aliases.items()),
                            m.updated,
                            *([m.description] if "description" in extra else []),
                            *([_tags_text(m.tags)] if "tags" in extra else []),
                        ]
                        for m in result.models
                    ],
                )
        elif isinstance(result, VersionList):
            if field is not None:
                _print_field(field, result.rows())
                return
            # Copied or imported versions also show where their content was first registered.
            origins = [_origin_text(v.facts.get("origin")) for v in result.versions]
            extra = ["origin"] if any(origins) else []
            # Which commit and CI run each version was built by, when any version records one.
            built = [_built_text(v.provenance) for v in result.versions]
            built_col = ["provenance"] if any(built) else []
            # Description and tags (when any version has them) come before the long source.
            described = any(v.facts.get("description") for v in result.versions)
            tagged = any(v.facts.get("tags") for v in result.versions)
            notes = [h for h, used in (("description", described), ("tags", tagged)) if used]
            _columns(
                [
                    "version",
                    "stage",
                    "aliases",
                    "created",
                    "digest",
                    "size",
                    *notes,
                    *built_col,
                    "source",
                    *extra,
                ],
                [
                    [
                        f"{v.version}" + (" (deleted)" if v.deleted else ""),
                        v.stage,
                        ", ".join(v.aliases),
                        v.created,
                        _short(v.digest),
                        _size(v.size),
                        *([v.facts.get("description") or ""] if described else []),
                        *([_tags_text(v.facts.get("tags") or {})] if tagged else []),
                        *([prov] if built_col else []),
                        v.source,
                        *([origin] if extra else []),
                    ]
                    for v, origin, prov in zip(result.versions, origins, built, strict=True)
                ],
            )
        else:
            if field is not None:
                _print_field(field, [result.to_dict()])
                return
            data = result.to_dict()
            keys = (
                "uri",
                "stage",
                "aliases",
                *REGISTRATION_FACTS,
                "origin",
                "flavors",
                "description",
                "tags",
                "local_path",
            )
            from modelpack.provenance.record import lines

            rows = [(k, _format_value(data.get(k))) for k in keys] + lines(result.provenance)
            # Description, tags and provenance may come from an archive or package someone else made.
            rows = [(render.printable(k), render.printable(v)) for k, v in rows]
            width = max(len(k) for k, _v in rows)
            render.plain(
                "\n".join(
                    [f"{result.name} v{result.version}"]
                    + [f"  {k.ljust(width)}  {v}".rstrip() for k, v in rows]
                )
            )

    _run.run("list", json_output, action, human)


# ---------------------------------------------------------------------- history


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", help="Only events of this version.", min=1),
    ] = None,
    field: FieldOption = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Show a model's event log: registrations, stage changes, aliases, deletions."""

    def action() -> History:
        from modelpack.registry.records import History

        result = History(name, _registry(home).history(name, version=version))
        _check_field(field, json_output, result.rows(), EVENT_FIELDS)
        return result

    def human(result: History) -> None:
        if field is not None:
            _print_field(field, result.rows())
            return
        _columns(
            # The detail last: it is never cut (a terminal wraps it), the columns before it fit.
            ["time", "event", "version", "by", "detail"],
            [[e.get("time"), e.get("event"), e.get("version"), _by(e), _detail(e)] for e in result.events],
        )

    _run.run("history", json_output, action, human)


def _built_text(provenance: dict[str, Any]) -> str:
    """The provenance cell of ``list NAME``: short commit, dirty, CI system and run."""
    from modelpack.provenance.record import short_text

    return short_text(provenance) or short_text(provenance.get("registered_from"))


def _tags_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _origin_text(origin: Any) -> str:
    """``URI (user@host, created)``: a copied version's first registration, in one cell."""
    if not isinstance(origin, dict):
        return ""
    return f"{origin.get('uri')} ({origin.get('user')}@{origin.get('host')}, {origin.get('created')})"


def _gate_line(check: GateCheck) -> str:
    if check.against is None:
        return f"compatibility: {check.target} has no version yet; nothing to compare, passes"
    if not check.breaking:
        return f"compatibility: compatible with {check.target} (v{check.against})"
    return (
        f"compatibility: FORCED past breaking changes for callers of {check.target} "
        f"(v{check.against}): {'; '.join(check.breaking)}"
    )


def _detail(event: dict[str, Any]) -> str:
    text = _event_text(event)
    if event.get("forced"):
        # A breaking version pushed past --require-compatible: say so, and what it broke.
        broke = "; ".join(str(b) for b in event.get("breaking") or [])
        text += f"; FORCED past the compatibility gate, breaking: {broke or 'not recorded'}"
    return text


def _event_text(event: dict[str, Any]) -> str:
    kind = event.get("event")
    if kind == "registered":
        # What it was built by comes before the source path, which may be long and is the
        # part a narrow table cuts.
        text = f"sha256:{_short(str(event.get('digest', '')))}"
        if isinstance(event.get("provenance"), dict):
            from modelpack.provenance.record import short_text

            built = short_text(event["provenance"])
            text += f", built from {built}" if built else ""
        return text + f", from {event.get('source')}"
    if kind == "stage_changed":
        return f"{event.get('from')} -> {event.get('to')}" + (
            f" ({event['reason']})" if str(event.get("reason", "")).startswith("archived") else ""
        )
    if kind == "alias_set":
        was = f" (was v{event['previous']})" if event.get("previous") else ""
        return f"alias {event.get('alias')}{was}"
    if kind == "alias_removed":
        return f"alias {event.get('alias')} removed"
    if kind == "deleted":
        aliases = event.get("removed_aliases") or []
        return f"was {event.get('stage')}" + (f"; removed aliases {', '.join(aliases)}" if aliases else "")
    if kind == "tags_set":
        return f"tags {_tags_text(event.get('tags') or {}) or '(none)'}"
    if kind == "description_set":
        return f"description {json.dumps(event.get('description'), ensure_ascii=False)}"
    if kind == "model_deleted":
        versions = event.get("versions") or []
        aliases = event.get("removed_aliases") or []
        text = f"model deleted with {plural(len(versions), 'version')}"
        return text + (f"; removed aliases {', '.join(aliases)}" if aliases else "")
    if kind == "renamed":
        return f"renamed {event.get('from')} -> {event.get('to')}"
    return ""


def _by(event: dict[str, Any]) -> str:
    return f"{event.get('user')}@{event.get('host')}"


# ---------------------------------------------------------------------- delete / gc / doctor


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[
        int | None, typer.Argument(help="Version number; without it the whole model is deleted.", min=1)
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete even a version in Production or under an alias."),
    ] = False,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Delete a version, or with no VERSION the whole model; gc frees the files.

    A version's files and aliases go and its number is never reused. A whole model leaves
    'list'; its history stays ('history NAME' ends with model_deleted) and registering the name
    again continues its numbers. A version in Production or under an alias needs --force.
    """

    def human(result: DeleteResult | ModelDeleteResult) -> None:
        extra = f"; removed aliases {', '.join(result.removed_aliases)}" if result.removed_aliases else ""
        if hasattr(result, "versions"):
            numbers = ", ".join(f"v{n}" for n in result.versions) or "no live versions"
            render.plain(f"deleted model {result.name} ({numbers}){extra}; 'modelpack gc' frees its files")
        else:
            render.plain(f"deleted {result.name} v{result.version} (was {result.stage}){extra}")

    def action() -> DeleteResult | ModelDeleteResult:
        registry = _registry(home)
        if version is None:
            return registry.delete_model(name, force=force)
        return registry.delete(name, version, force=force)

    _run.run("delete", json_output, action, human)


# ---------------------------------------------------------------------- set / rename


@app.command("set")
def set_cmd(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[
        int | None, typer.Argument(help="Version number; without it the model itself is edited.", min=1)
    ] = None,
    description: Annotated[
        str | None,
        typer.Option("--description", help="Replace the description ('' clears it)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="KEY=VALUE", help="Set a tag (repeatable)."),
    ] = None,
    remove_tag: Annotated[
        list[str] | None,
        typer.Option("--remove-tag", metavar="KEY", help="Remove a tag (repeatable; absent keys are fine)."),
    ] = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Edit the description and tags of a version, or of the model itself (no VERSION).

    Each change is an event in 'history' (tags_set, description_set). Setting what is already
    there changes nothing, records nothing and says so (exit 0).
    """

    tags = _run.parse_key_values(tag, "--tag")

    def action() -> SetResult:
        from modelpack.registry.edits import apply_set

        if description is None and not tag and not remove_tag:
            raise UsageError("nothing to set: give --description, --tag or --remove-tag")
        clash = sorted(set(tags) & set(remove_tag or []))
        if clash:
            raise UsageError(f"--tag and --remove-tag both name {', '.join(clash)}")
        return apply_set(
            _registry(home),
            name,
            version,
            description=None if description is None else (description or None),
            clear_description=description == "",
            tags=tags,
            remove_tags=list(remove_tag or []),
        )

    def human(result: SetResult) -> None:
        what = result.name if result.version is None else f"{result.name} v{result.version}"
        if not result.changed:
            render.plain(f"{what}: nothing changed (already so)")
            return
        render.plain(f"{what}: {' and '.join(e.replace('_set', '') for e in result.events)} set")
        render.plain(f"  description  {result.description or ''}".rstrip())
        render.plain(f"  tags         {_tags_text(result.tags)}".rstrip())

    _run.run("set", json_output, action, human)


@app.command()
def rename(
    old: Annotated[str, typer.Argument(help="The model's current name.")],
    new: Annotated[str, typer.Argument(help="Its new name (must not exist, nor have existed).")],
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Rename a model: versions, stages, aliases, tags and history move to NEW.

    OLD stays as a tombstone naming NEW ('history OLD' shows the rename; writes to OLD are
    refused). Refused (exit 5) when NEW exists or existed.
    """

    def human(result: RenameResult) -> None:
        render.plain(
            f"renamed {result.old} -> {result.new} ({plural(len(result.versions), 'version')}); "
            f"use models:/{result.new}/... from now on"
        )

    _run.run("rename", json_output, lambda: _registry(home).rename(old, new), human)


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be removed.")] = False,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace",
            metavar="AGE",
            help=(
                "s3:// registries only: keep anything younger than AGE (seconds, or 30m, 24h, 2d; "
                "default 24h), since a register running now may still need it. A local registry "
                "needs none: gc locks it."
            ),
        ),
    ] = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Remove stored file contents no version uses any more, and staging of dead processes.

    In an s3:// registry (no locks there) only what is older than the grace period goes:
    unreferenced blobs, store probes and incomplete multipart uploads.
    """

    def human(result: GcResult) -> None:
        verb = "would remove" if result.dry_run else "removed"
        render.plain(
            f"{verb} {plural(result.removed_blobs, 'unreferenced blob')} ({_size(result.freed_bytes)}) and "
            f"{plural(result.removed_temp, 'staging leftover')}; {plural(result.kept_blobs, 'blob')} in use"
        )

    def collect() -> GcResult:
        from modelpack.registry import FileRegistry

        grace_seconds = _parse_grace(grace) if grace is not None else None
        registry = _registry(home)
        if isinstance(registry, FileRegistry):
            if grace_seconds is not None:
                raise UsageError(
                    "--grace applies to s3:// registries only; a local gc locks the registry and needs none"
                )
            from modelpack.registry.gc import collect_garbage

            return collect_garbage(registry, dry_run=dry_run)
        from modelpack.registry.bucket_care import DEFAULT_GRACE, collect_bucket_garbage

        return collect_bucket_garbage(
            registry,
            dry_run=dry_run,
            grace_seconds=DEFAULT_GRACE if grace_seconds is None else grace_seconds,
        )

    _run.run("gc", json_output, collect, human)


@app.command()
def doctor(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Finish or roll back interrupted operations, remove leftovers, rebuild derived data.",
        ),
    ] = False,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Verify every stored file against its digest and all registry metadata (exit 3 on damage)."""

    def human(report: DoctorReport) -> None:
        for f in report.findings:
            mark = "FIXED" if f.repaired else ("ERROR" if f.severity == "error" else "WARN ")
            render.plain(f"{mark} {f.kind}: {f.path}: {f.message}")
        open_warnings = sum(1 for f in report.findings if f.severity == "warning" and not f.repaired)
        repaired = sum(1 for f in report.findings if f.repaired)
        verdict = "consistent" if report.consistent else f"DAMAGED ({plural(len(report.errors), 'error')})"
        render.plain(
            f"registry {verdict}: {plural(report.models, 'model')}, {plural(report.versions, 'version')}, "
            f"{plural(report.files_checked, 'file')} and {plural(report.blobs_checked, 'blob')} verified; "
            f"{plural(open_warnings, 'warning')}, {repaired} repaired"
        )

    def check() -> DoctorReport:
        from modelpack.registry import FileRegistry

        registry = _registry(home)
        if isinstance(registry, FileRegistry):
            from modelpack.registry.doctor import run_doctor

            return run_doctor(registry, repair=repair)
        from modelpack.registry.bucket_care import run_bucket_doctor

        return run_bucket_doctor(registry, repair=repair)

    _run.run("doctor", json_output, check, human)


# ---------------------------------------------------------------------- copy / export / import


@app.command()
def copy(
    source: Annotated[
        str, typer.Argument(help="The version to copy: a models:/ URI in this registry (--home).")
    ],
    dest_home: Annotated[
        str,
        typer.Argument(
            metavar="DEST_HOME", help="The registry to copy into: a folder or s3://BUCKET/PREFIX."
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Register under this name (default: the source's).")
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="Point this alias at the copied version.")
    ] = None,
    field: FieldOption = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Copy a version (files, description, tags, provenance) into another registry.

    The copy records the exact version it came from, qualified by its registry
    (REGISTRY#models:/NAME/N), never the stage or alias SOURCE named it by. Copying content the
    destination already holds under the name returns that version (exit 0).
    """

    def action() -> TransferResult:
        from modelpack.registry.transfer import copy_version

        _check_field(field, json_output, [], TRANSFER_FIELDS)  # before anything is written
        if not dest_home.strip():
            raise UsageError("DEST_HOME is empty; give a folder or s3://BUCKET/PREFIX")
        destination = _registry(dest_home, progress=not json_output)
        result = copy_version(_registry(home), source, destination, name=name, alias=alias)
        _check_field(field, json_output, [result.to_dict()], TRANSFER_FIELDS)
        return result

    def human(result: TransferResult) -> None:
        _transfer_lines(result, field, alias, "copied")

    _run.run("copy", json_output, action, human)


@app.command()
def export(
    target: Annotated[
        str, typer.Argument(help="A models:/ URI in this registry (--home), or a model folder.")
    ],
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="The archive file to write (.tar, or .tar.gz/.tgz for gzip)."),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
    field: FieldOption = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Write a version (or a model folder) to one verifiable archive file, for air-gapped moves.

    The archive holds the MLmodel folder and a document recording the version, its source,
    description, tags and the sha256 of every file; 'modelpack import' refuses it if any byte
    changed. The file is written under a temporary name and renamed, so a failed export leaves
    nothing.
    """

    def action() -> ExportResult:
        from pathlib import Path

        from modelpack.registry.transfer import export_target
        from modelpack.uri import is_model_uri

        _check_field(field, json_output, [], EXPORT_FIELDS)
        registry = _registry(home) if is_model_uri(target) else None
        result = export_target(registry, target, Path(output), force=force)
        _check_field(field, json_output, [result.to_dict()], EXPORT_FIELDS)
        return result

    def human(result: ExportResult) -> None:
        if field is not None:
            _print_field(field, [result.to_dict()])
            return
        what = f"{result.name} v{result.version}" if result.name else result.source
        render.plain(
            f"exported {what} (sha256:{_short(result.digest)}, {plural(result.file_count, 'file')}) "
            f"to {result.output} ({_size(result.bytes)}, archive sha256 {result.sha256})"
        )

    _run.run("export", json_output, action, human)


@app.command("import")
def import_cmd(
    archive: Annotated[str, typer.Argument(metavar="FILE", help="An archive 'modelpack export' wrote.")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Register under this name (default: the exported one).")
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="Point this alias at the imported version.")
    ] = None,
    sha256: Annotated[
        str | None,
        typer.Option(
            "--sha256",
            metavar="HEX",
            help="Refuse the file unless its sha256 is this (as export printed it).",
        ),
    ] = None,
    field: FieldOption = None,
    json_output: JsonFlag = False,
    home: _run.HomeOption = None,
) -> None:
    """Verify every byte of an export archive, then register its version in this registry.

    Each file is checked against the archive's document and the folder digest against the
    manifest; anything changed, missing, extra, duplicated, unsafe (links, devices, paths
    leaving the folder) or truncated is refused (exit 3, naming the member) before anything
    reaches the registry. The version records the source the archive carries.
    """

    def action() -> TransferResult:
        from pathlib import Path

        from modelpack.registry.transfer import import_archive

        _check_field(field, json_output, [], TRANSFER_FIELDS)
        result = import_archive(
            _registry(home, progress=not json_output),
            Path(archive),
            name=name,
            alias=alias,
            expect_sha256=sha256,
        )
        _check_field(field, json_output, [result.to_dict()], TRANSFER_FIELDS)
        return result

    def human(result: TransferResult) -> None:
        _transfer_lines(result, field, alias, "imported")

    _run.run("import", json_output, action, human)


def _transfer_lines(result: TransferResult, field: str | None, alias: str | None, verb: str) -> None:
    if field is not None:
        _print_field(field, [result.to_dict()])
        return
    v = result.version
    if result.already_registered:
        render.plain(
            f"{v.name} v{v.version} in {result.home} already holds this content "
            f"(sha256:{_short(v.digest)}); no new version registered"
        )
    else:
        render.plain(
            f"{verb} {result.source} to {v.name} v{v.version} in {result.home} "
            f"(sha256:{_short(v.digest)}, {_size(v.size)})"
        )
    if alias is not None:
        render.plain(f"alias {alias} -> {v.name} v{v.version}")
