"""The CI system a command runs in, from its standard environment variables.

An allowlist, not a denylist: only the variables named in ``SYSTEMS`` and ``MLFLOW_VARIABLES``
are ever read, each a public fact about the run (an id, a URL, a job name, a branch), so a
token in ``GITHUB_TOKEN``, ``CI_JOB_TOKEN`` or any other variable can never be recorded. URLs
are still stripped of credentials (a Jenkins ``BUILD_URL`` may carry ``user:token@``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelpack.provenance.git import strip_credentials

#: The longest value taken from one variable; anything longer is cut (a CI variable is short).
VALUE_MAX: Final = 1000

Env = Mapping[str, str]


@dataclass(frozen=True)
class System:
    """One CI system: the variable that says it is running, and how to read the run."""

    name: str
    detect: str  # set (to anything but empty or "false") when this system runs the command
    run_url: Callable[[Env], str | None]
    job: tuple[str, ...]  # the first of these that is set
    run_id: tuple[str, ...]
    branch: tuple[str, ...]
    variables: tuple[str, ...]  # every variable read: the allowlist


def _get(env: Env, name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()[:VALUE_MAX]


def _first(env: Env, names: tuple[str, ...]) -> str | None:
    return next((v for v in (_get(env, n) for n in names) if v is not None), None)


def _github_url(env: Env) -> str | None:
    server, repo, run = (_get(env, n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if not (server and repo and run):
        return None
    attempt = _get(env, "GITHUB_RUN_ATTEMPT")
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}" + (f"/attempts/{attempt}" if attempt else "")


def _azure_url(env: Env) -> str | None:
    base, project, build = (
        _get(env, n) for n in ("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT", "BUILD_BUILDID")
    )
    if not (base and project and build):
        return None
    return f"{base.rstrip('/')}/{project}/_build/results?buildId={build}"


def _var(name: str) -> Callable[[Env], str | None]:
    return lambda env: _get(env, name)


SYSTEMS: Final = (
    System(
        "github-actions",
        "GITHUB_ACTIONS",
        _github_url,
        ("GITHUB_JOB",),
        ("GITHUB_RUN_ID",),
        ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        (
            "GITHUB_ACTIONS",
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
            "GITHUB_RUN_ID",
            "GITHUB_RUN_ATTEMPT",
            "GITHUB_JOB",
            "GITHUB_HEAD_REF",
            "GITHUB_REF_NAME",
        ),
    ),
    System(
        "gitlab-ci",
        "GITLAB_CI",
        _var("CI_PIPELINE_URL"),
        ("CI_JOB_NAME",),
        ("CI_PIPELINE_ID",),
        ("CI_COMMIT_REF_NAME",),
        ("GITLAB_CI", "CI_PIPELINE_URL", "CI_JOB_NAME", "CI_PIPELINE_ID", "CI_COMMIT_REF_NAME"),
    ),
    System(
        "jenkins",
        "JENKINS_URL",
        _var("BUILD_URL"),
        ("JOB_NAME",),
        ("BUILD_NUMBER",),
        ("BRANCH_NAME", "GIT_BRANCH"),
        ("JENKINS_URL", "BUILD_URL", "JOB_NAME", "BUILD_NUMBER", "BRANCH_NAME", "GIT_BRANCH"),
    ),
    System(
        "buildkite",
        "BUILDKITE",
        _var("BUILDKITE_BUILD_URL"),
        ("BUILDKITE_LABEL", "BUILDKITE_PIPELINE_SLUG"),
        ("BUILDKITE_BUILD_NUMBER",),
        ("BUILDKITE_BRANCH",),
        (
            "BUILDKITE",
            "BUILDKITE_BUILD_URL",
            "BUILDKITE_LABEL",
            "BUILDKITE_PIPELINE_SLUG",
            "BUILDKITE_BUILD_NUMBER",
            "BUILDKITE_BRANCH",
        ),
    ),
    System(
        "circleci",
        "CIRCLECI",
        _var("CIRCLE_BUILD_URL"),
        ("CIRCLE_JOB",),
        ("CIRCLE_BUILD_NUM",),
        ("CIRCLE_BRANCH",),
        ("CIRCLECI", "CIRCLE_BUILD_URL", "CIRCLE_JOB", "CIRCLE_BUILD_NUM", "CIRCLE_BRANCH"),
    ),
    System(
        "azure-pipelines",
        "TF_BUILD",
        _azure_url,
        ("SYSTEM_JOBDISPLAYNAME", "AGENT_JOBNAME"),
        ("BUILD_BUILDID",),
        ("BUILD_SOURCEBRANCHNAME",),
        (
            "TF_BUILD",
            "SYSTEM_COLLECTIONURI",
            "SYSTEM_TEAMPROJECT",
            "BUILD_BUILDID",
            "SYSTEM_JOBDISPLAYNAME",
            "AGENT_JOBNAME",
            "BUILD_SOURCEBRANCHNAME",
        ),
    ),
)

#: MLflow's own variables for a run in progress (``mlflow run`` sets them for the entry point).
MLFLOW_VARIABLES: Final = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI")

#: Every environment variable provenance reads, by name; no other is ever looked at.
ALLOWLIST: Final = frozenset([*(v for s in SYSTEMS for v in s.variables), *MLFLOW_VARIABLES])


def allowed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` provenance may read (``ALLOWLIST``), and no other."""
    return {name: environ[name] for name in sorted(ALLOWLIST) if name in environ}


def ci_facts(env: Env) -> tuple[dict[str, Any] | None, str | None]:
    """``({system, run_url, job, run_id}, branch)`` of the CI system running now, or ``(None, None)``.

    The first system in ``SYSTEMS`` whose marker variable is set wins. ``branch`` is the CI's
    branch (used when the checkout is a detached HEAD, as CI checkouts usually are).
    """
    for system in SYSTEMS:
        marker = _get(env, system.detect)
        if marker is None or marker.lower() == "false":
            continue
        url = system.run_url(env)
        facts = {
            "system": system.name,
            "run_url": strip_credentials(url, keep_query=True) if url else None,
            "job": _first(env, system.job),
            "run_id": _first(env, system.run_id),
        }
        return facts, _first(env, system.branch)
    return None, None


def mlflow_facts(env: Env) -> dict[str, Any] | None:
    """``{run_id, experiment_id, tracking_uri}`` when MLflow's run variables are set, else None."""
    run_id = _get(env, "MLFLOW_RUN_ID")
    if run_id is None:
        return None
    facts: dict[str, Any] = {"run_id": run_id}
    experiment = _get(env, "MLFLOW_EXPERIMENT_ID")
    if experiment is not None:
        facts["experiment_id"] = experiment
    uri = _get(env, "MLFLOW_TRACKING_URI")
    if uri is not None:
        facts["tracking_uri"] = strip_credentials(uri)
    return facts
