"""One object holding the settings and every client a tab needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradio_hub.auth import Gate
from gradio_hub.clients.api import ApiClient
from gradio_hub.clients.dagster import DagsterClient
from gradio_hub.clients.docker import DockerEngine
from gradio_hub.clients.local_services import LocalServices
from gradio_hub.clients.registry import RegistryReader
from gradio_hub.clients.services import GrafanaClient, MlflowUiClient, PrometheusClient
from gradio_hub.clients.store import StoreReader
from gradio_hub.live_metrics import MetricsHistory, history_for
from rakuten_assets.core.settings import Settings


@dataclass
class HubContext:
    settings: Settings
    api: ApiClient = field(init=False)
    dagster: DagsterClient = field(init=False)
    store: StoreReader = field(init=False)
    registry: RegistryReader = field(init=False)
    prometheus: PrometheusClient = field(init=False)
    grafana: GrafanaClient = field(init=False)
    mlflow_ui: MlflowUiClient = field(init=False)
    docker: DockerEngine = field(init=False)
    local_services: LocalServices = field(init=False)
    gate: Gate = field(init=False)
    metrics_history: MetricsHistory = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.api = ApiClient(s)
        self.dagster = DagsterClient(s)
        self.store = StoreReader(s)
        self.registry = RegistryReader(s, self.store)
        self.prometheus = PrometheusClient(s)
        self.grafana = GrafanaClient(s)
        self.mlflow_ui = MlflowUiClient(s)
        self.docker = DockerEngine(s)
        self.local_services = LocalServices(s)
        self.gate = Gate(s)
        self.metrics_history = history_for(self.api.base_url)
