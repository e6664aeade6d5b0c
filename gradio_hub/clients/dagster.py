"""Client of the Dagster webserver's GraphQL API.

Runs are launched through `dagster_graphql.DagsterGraphQLClient`, the same path the Dagster UI
uses, so every run launched from the hub shows up in the Dagster UI with its logs. Reads (run
list, run status, code location and daemon health) are plain GraphQL queries over httpx with a
timeout, retried once on a transient failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlparse

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from gradio_hub.common import (
    ServiceError,
    ServiceUnavailable,
    dagster_url,
    reason_of,
    start_hint,
)
from rakuten_assets.core.settings import Settings

SERVICE = "Dagster"
LOCATION = "rakuten"            # workspace.yaml's location_name
REPOSITORY = "__repository__"   # a Definitions object's implicit repository
JOBS = ("training_job", "all_assets_job", "ingest_job", "drift_job")
# rakuten_assets.defs.constants.PROMOTED_MODEL's path (the hub does not import Dagster).
PROMOTED_MODEL_PATH = ["promoted_model"]
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
# How Dagster prefixes the description of a `dg.Failure` an asset raised on purpose.
FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "
# One process for the whole run instead of one per step (the default multiprocess executor
# re-imports the code location in every step: minutes on a 2-core machine).
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}

_RUNS_QUERY = """
query HubRuns($limit: Int) {
  runsOrError(limit: $limit) {
    __typename
    ... on Runs { results { runId jobName status creationTime startTime endTime } }
    ... on PythonError { message }
  }
}"""

_RUN_QUERY = """
query HubRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId jobName status creationTime startTime endTime
                 stepStats { stepKey status startTime endTime }
                 tags { key value } assetSelection { path } }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}"""

_ERRORS_QUERY = """
query HubRunErrors($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { eventConnection(limit: 1000) { events { __typename
        ... on ExecutionStepFailureEvent { stepKey error { message cause { message } } } } } }
  }
}"""

_MATERIALIZATIONS_QUERY = """
query HubRunMaterializations($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { eventConnection(limit: 1000) { events { __typename
        ... on MaterializationEvent { assetKey { path } metadataEntries { __typename label
            ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue }
            ... on FloatMetadataEntry { floatValue } } } } } }
  }
}"""

_REPORT_EVENT_MUTATION = """
mutation HubReportEvent($params: ReportRunlessAssetEventsParams!) {
  reportRunlessAssetEvents(eventParams: $params) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""

_HEALTH_QUERY = """
query HubHealth {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}"""


@dataclass
class RunInfo:
    run_id: str
    job: str
    status: str
    created: datetime | None
    started: datetime | None
    ended: datetime | None
    steps: list[dict]
    errors: list[str] = field(default_factory=list)  # "step: cause", for failed runs
    tags: dict[str, str] = field(default_factory=dict)  # only from `run()`: launched_by...
    assets: list[str] = field(default_factory=list)  # the assets it materialises, from `run()`

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration_s(self) -> float | None:
        if self.started is None:
            return None
        end = self.ended or datetime.now(UTC)
        return (end - self.started).total_seconds()


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(float(value), tz=UTC) if value else None


def _run(raw: dict) -> RunInfo:
    return RunInfo(raw["runId"], raw.get("jobName", ""), raw.get("status", ""),
                   _ts(raw.get("creationTime")), _ts(raw.get("startTime")), _ts(raw.get("endTime")),
                   list(raw.get("stepStats") or []),
                   tags={t["key"]: t["value"] for t in raw.get("tags") or [] if not t["key"].startswith(".")},
                   assets=["/".join(a["path"]) for a in raw.get("assetSelection") or []])


@dataclass
class DagsterHealth:
    version: str
    location_loaded: bool
    location_problem: str | None
    daemons_healthy: bool | None   # None: the instance does not say
    daemon_problem: str | None


class DagsterClient:
    def __init__(self, settings: Settings, *, base_url: str | None = None, timeout: float | None = None):
        self.settings = settings
        self.base_url = (base_url or dagster_url(settings)).rstrip("/")
        self.timeout = timeout or settings.hub_timeout_seconds
        self.hint = start_hint(SERVICE, settings)

    # --- plumbing ---------------------------------------------------------------------------------
    def _unavailable(self, exc: Exception) -> ServiceUnavailable:
        return ServiceUnavailable(SERVICE, self.base_url, reason_of(exc), self.hint)

    @retry(retry=retry_if_exception_type((httpx.TimeoutException, httpx.RemoteProtocolError)),
           stop=stop_after_attempt(2), wait=wait_fixed(0.3), reraise=True)
    def _post(self, query: str, variables: dict | None) -> httpx.Response:
        with httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 3.0))) as client:
            return client.post(self.base_url + "/graphql", json={"query": query, "variables": variables or {}})

    def _graphql(self, query: str, variables: dict | None = None) -> dict:
        try:
            response = self._post(query, variables)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        if response.status_code >= 400:
            raise ServiceError(SERVICE, f"GraphQL HTTP {response.status_code}", response.status_code)
        body = response.json()
        if body.get("errors"):
            raise ServiceError(SERVICE, "; ".join(e.get("message", "") for e in body["errors"]))
        return body["data"]

    # --- reads --------------------------------------------------------------------------------------
    def server_info(self) -> dict:
        try:
            with httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 3.0))) as client:
                response = client.get(self.base_url + "/server_info")
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        if response.status_code >= 400:
            raise ServiceError(SERVICE, f"/server_info HTTP {response.status_code}", response.status_code)
        return response.json()

    def health(self) -> DagsterHealth:
        info = self.server_info()
        data = self._graphql(_HEALTH_QUERY)
        workspace = data.get("workspaceOrError") or {}
        loaded, problem = False, f"code location {LOCATION!r} is not in the workspace"
        for entry in workspace.get("locationEntries") or []:
            if entry.get("name") != LOCATION:
                continue
            error = entry.get("locationOrLoadError") or {}
            if entry.get("loadStatus") == "LOADING":
                problem = f"code location {LOCATION!r} is still loading"
            elif error.get("__typename") == "PythonError":
                problem = f"code location {LOCATION!r} failed to load: {error.get('message', '').strip()[:300]}"
            else:
                loaded, problem = True, None
        statuses = ((data.get("instance") or {}).get("daemonHealth") or {}).get("allDaemonStatuses") or []
        required = [s for s in statuses if s.get("required")]
        if not required:
            daemons_ok, daemon_problem = None, None
        else:
            sick = [s["daemonType"] for s in required if not s.get("healthy")]
            daemons_ok = not sick
            daemon_problem = (f"the Dagster daemon is not running ({', '.join(sick)} without a recent "
                              "heartbeat): queued runs, sensors and schedules wait until "
                              "`dagster-daemon run -w workspace.yaml` (or `make run`) starts it"
                              if sick else None)
        return DagsterHealth(str(info.get("dagster_version") or info.get("dagster_webserver_version") or "?"),
                             loaded, problem, daemons_ok, daemon_problem)

    def runs(self, limit: int = 15) -> list[RunInfo]:
        data = self._graphql(_RUNS_QUERY, {"limit": limit})["runsOrError"]
        if data.get("__typename") != "Runs":
            raise ServiceError(SERVICE, data.get("message", "cannot list runs"))
        return [_run(r) for r in data["results"]]

    def run(self, run_id: str) -> RunInfo:
        data = self._graphql(_RUN_QUERY, {"runId": run_id})["runOrError"]
        if data.get("__typename") != "Run":
            raise ServiceError(SERVICE, data.get("message", f"run {run_id} not found"))
        run = _run(data)
        if run.status == "FAILURE":
            run.errors = self.step_errors(run_id)
        return run

    def step_errors(self, run_id: str) -> list[str]:
        """Why each failed step failed: the innermost cause's first line."""
        data = self._graphql(_ERRORS_QUERY, {"runId": run_id})["runOrError"]
        out = []
        for event in ((data.get("eventConnection") or {}).get("events") or []):
            if event.get("__typename") != "ExecutionStepFailureEvent":
                continue
            error = event.get("error") or {}
            while error.get("cause"):
                error = error["cause"]
            message = (error.get("message") or "").strip().removeprefix(FAILURE_PREFIX).splitlines()
            out.append(f"{event.get('stepKey')}: {message[0][:400] if message else 'failed'}")
        return out

    def materializations(self, run_id: str) -> dict[str, dict]:
        """The assets a run materialised, with their text and number metadata."""
        data = self._graphql(_MATERIALIZATIONS_QUERY, {"runId": run_id})["runOrError"]
        out: dict[str, dict] = {}
        for event in ((data.get("eventConnection") or {}).get("events") or []):
            if event.get("__typename") != "MaterializationEvent":
                continue
            key = "/".join(event["assetKey"]["path"])
            out[key] = {e["label"]: e.get("text", e.get("intValue", e.get("floatValue")))
                        for e in event.get("metadataEntries") or []}
        return out

    def run_status(self, run_id: str) -> str:
        """Through DagsterGraphQLClient.get_run_status, as the contract asks."""
        try:
            return self._graphql_client().get_run_status(run_id).value
        except Exception as exc:
            raise self._translate(exc) from exc

    def run_url(self, run_id: str) -> str:
        return f"{self.base_url}/runs/{run_id}"

    # --- launching ----------------------------------------------------------------------------------
    def _graphql_client(self):
        from dagster_graphql import DagsterGraphQLClient

        parsed = urlparse(self.base_url)
        return DagsterGraphQLClient(parsed.hostname or "127.0.0.1", port_number=parsed.port,
                                    use_https=parsed.scheme == "https",
                                    path_prefix=parsed.path.rstrip("/"),
                                    timeout=max(int(self.timeout), 10))

    def _client_error(self, exc: Exception) -> ServiceError:
        kind = exc.args[0] if exc.args else type(exc).__name__
        body = exc.args[1] if len(exc.args) > 1 else ""
        if kind == "JobNotFoundError":
            return ServiceError(SERVICE, f"the code location {LOCATION!r} has no such job: {body}")
        if kind in ("RepositoryLocationNotFound", "RepositoryNotFoundError"):
            return ServiceError(SERVICE, f"the code location {LOCATION!r} is not loaded in Dagster "
                                "(check the Deployment page of the Dagster UI): " + str(body)[:300])
        if kind == "RunConfigValidationInvalid":
            return ServiceError(SERVICE, f"the run configuration was refused: {str(body)[:300]}")
        return ServiceError(SERVICE, f"{kind}: {str(body)[:300]}")

    def _translate(self, exc: Exception) -> Exception:
        """DagsterGraphQLClient's errors: a connection problem anywhere in the cause chain means
        Dagster is unreachable; otherwise the client's error kind becomes a sentence."""
        import requests
        from dagster_graphql import DagsterGraphQLClientError

        cause: BaseException | None = exc
        seen = 0
        while cause is not None and seen < 12:
            if isinstance(cause, (requests.ConnectionError, ConnectionError)):
                return ServiceUnavailable(SERVICE, self.base_url, "connection refused", self.hint)
            if isinstance(cause, requests.Timeout):
                return ServiceUnavailable(SERVICE, self.base_url, "no answer in time", self.hint)
            cause, seen = cause.__cause__ or cause.__context__, seen + 1
        if isinstance(exc, DagsterGraphQLClientError):
            return self._client_error(exc)
        return ServiceError(SERVICE, f"{type(exc).__name__}: {str(exc)[:300]}")

    def launch(self, job: str, *, tags: dict[str, str] | None = None,
               run_config: dict | None = None) -> str:
        """Submit `job` of the `rakuten` location; returns the run id."""
        if job not in JOBS:
            raise ServiceError(SERVICE, f"unknown job {job!r}; jobs: {', '.join(JOBS)}")
        self.server_info()  # a clear "unreachable" before the slower client is built
        client = self._graphql_client()
        base = dict(run_config or {})
        configs = [{**IN_PROCESS, **base}, base] if self.settings.hub_runs_in_process else [base]
        for config in configs:
            try:
                return client.submit_job_execution(
                    job, repository_location_name=LOCATION, repository_name=REPOSITORY,
                    run_config=config or None, tags=tags or {})
            except Exception as exc:  # translated into words
                problem = self._translate(exc)
                if "execution" in config and "configuration was refused" in str(problem):
                    continue  # the job has another executor: launch it with its own
                raise problem from exc
        raise ServiceError(SERVICE, f"could not launch {job}")

    def wait(self, run_id: str, timeout_s: float, poll_s: float = 0.5) -> RunInfo:
        """The run once finished, or as it stands after `timeout_s`."""
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(run_id)
            if run.finished or time.monotonic() >= deadline:
                return run
            time.sleep(poll_s)

    def ingest(self, *, tags: dict[str, str], x_path: str | None = None,
               y_path: str | None = None) -> str:
        """Launch `ingest_job`: the next batch of the source, or these files (paths the Dagster
        run's process can read); returns the run id."""
        config = None
        if x_path:
            config = {"ops": {"products": {"config": {"x_path": x_path, "y_path": y_path}}}}
        return self.launch("ingest_job", tags=tags, run_config=config)

    def report_champion_move(self, description: str) -> None:
        """A materialisation of `promoted_model` in Dagster for a move of the alias made outside a
        run (the hub), so the asset's history holds every move."""
        data = self._graphql(_REPORT_EVENT_MUTATION, {"params": {
            "eventType": "ASSET_MATERIALIZATION", "assetKey": {"path": PROMOTED_MODEL_PATH},
            "description": description}})["reportRunlessAssetEvents"]
        if data.get("__typename") != "ReportRunlessAssetEventsSuccess":
            raise ServiceError(SERVICE, data.get("message", "the move could not be reported"))
