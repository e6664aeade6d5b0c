#!/usr/bin/env python3
"""Builds every image the compose test needs on a machine where no registry image can be pulled.

- `rakuten-local/debian:bookworm`: a Debian base made by `debootstrap --variant=minbase` from the
  mirror apt uses, imported with `docker import` (needs root). Rebuilt only when its recipe
  (this file's RECIPE) changes.
- Stand-ins for the official images docker-compose.yml names (deploy/standins/): the Python base
  (trusting this machine's CA bundle, so builds reach the package index), PostgreSQL, Prometheus
  and Caddy from Debian's packages.
- The project's image, from the real Dockerfile, on the Python stand-in.

Builds use the engine's classic builder (BuildKit wants to pull its frontend) with
`--network host` (the only way out to the package registries here). The engine's layer cache
keys each step on its inputs, so a second run rebuilds only what changed: the dependency layer
is reused while the Dockerfile, pyproject.toml and uv.lock are unchanged, and the stand-ins while
their folders are. Prints each image's build time and size; `--summary FILE` writes them as JSON.

    DOCKER_HOST=$(scripts/docker-engine.sh start | cut -d= -f2-) .venv/bin/python scripts/local-images.py
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ROOT / "deploy" / "standins"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

DEBIAN = "rakuten-local/debian:bookworm"
PYTHON = "rakuten-standin/python:3.11-slim-bookworm"
STANDIN_TAGS = {
    "postgres": "rakuten-standin/postgres:15-bookworm",
    "prometheus": "rakuten-standin/prometheus:2.42-bookworm",
    "caddy": "rakuten-standin/caddy:2.6-bookworm",
}
PROJECT_DEFAULT = "rakuten-mlops:compose-test"
RECIPE_LABEL = "org.rakuten.recipe"
# Bump to rebuild the Debian base everywhere (e.g. after a Debian point release).
RECIPE = "debootstrap --variant=minbase bookworm; sources: main, updates, security; v1"


def say(message: str) -> None:
    print(f"local-images: {message}", flush=True)


def engine() -> docker.DockerClient:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        private = Path("/run/rakuten-docker/docker.sock")
        if private.exists():
            os.environ["DOCKER_HOST"] = f"unix://{private}"
    client = docker.from_env(timeout=600)
    client.ping()
    return client


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources)."""
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"),
                 *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if not path.is_file():
            continue
        text = path.read_text()
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.MULTILINE):
            uri = match.group(1)
            if not uri.rstrip("/").endswith("-security"):
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def image_size(client: docker.DockerClient, tag: str) -> int:
    return int(client.images.get(tag).attrs["Size"])


def has_recipe(client: docker.DockerClient, tag: str, recipe: str) -> bool:
    try:
        labels = client.images.get(tag).attrs["Config"].get("Labels") or {}
    except ImageNotFound:
        return False
    return labels.get(RECIPE_LABEL) == recipe


def build_debian(client: docker.DockerClient) -> dict:
    recipe = hashlib.sha256(RECIPE.encode()).hexdigest()[:16]
    if has_recipe(client, DEBIAN, recipe):
        return {"image": DEBIAN, "cached": True, "seconds": 0.0, "bytes": image_size(client, DEBIAN)}
    if os.geteuid() != 0:
        raise SystemExit("local-images: debootstrap needs root to make the Debian base image")
    if shutil.which("debootstrap") is None:
        raise SystemExit("local-images: debootstrap is not installed (apt-get install debootstrap)")
    mirror = debian_mirror()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rakuten-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"debootstrap --variant=minbase bookworm from {mirror} (about a minute)")
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror],
                       check=True, stdout=subprocess.DEVNULL)
        security = mirror.rsplit("/", 1)[0] + "/debian-security"
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {mirror} bookworm main\ndeb {mirror} bookworm-updates main\n"
            f"deb {security} bookworm-security main\n")
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        archive = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(archive), "."], check=True)
        client.api.import_image(src=str(archive), repository=DEBIAN.split(":")[0], tag=DEBIAN.split(":")[1],
                                changes=[f"LABEL {RECIPE_LABEL}={recipe}", 'CMD ["bash"]', "ENV LANG=C.UTF-8"])
    seconds = time.monotonic() - started
    return {"image": DEBIAN, "cached": False, "seconds": seconds, "bytes": image_size(client, DEBIAN)}


def _stream_build(client: docker.DockerClient, tag: str, **kwargs) -> tuple[bool, list[str]]:
    """Classic-builder build; True when every step came from the cache."""
    log: list[str] = []
    all_cached, steps = True, 0
    for chunk in client.api.build(tag=tag, rm=True, forcerm=True, pull=False, network_mode="host",
                                  decode=True, **kwargs):
        if "error" in chunk:
            tail = "".join(log[-40:])
            raise BuildError(f"{tag}: {chunk['error'].strip()}\n{tail}", log)
        text = chunk.get("stream", "")
        if text:
            log.append(text)
            if text.startswith("Step "):
                steps += 1
                say(f"  {tag}: {text.strip()[:110]}")
            if text.strip().startswith("---> Running in"):
                all_cached = False
    return all_cached and steps > 0, log


def build_dir(client: docker.DockerClient, tag: str, path: Path, buildargs: dict[str, str]) -> dict:
    started = time.monotonic()
    say(f"building {tag} from {path.relative_to(ROOT)}")
    cached, _ = _stream_build(client, tag, path=str(path), buildargs=buildargs)
    return {"image": tag, "cached": cached, "seconds": time.monotonic() - started,
            "bytes": image_size(client, tag)}


def build_python(client: docker.DockerClient) -> dict:
    """The Python stand-in's context: its Dockerfile and this machine's CA bundle."""
    if not CA_BUNDLE.is_file():
        raise SystemExit(f"local-images: no CA bundle at {CA_BUNDLE}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(STANDINS / "python" / "Dockerfile", arcname="Dockerfile")
        tar.add(CA_BUNDLE, arcname="ca-certificates.crt")
    buffer.seek(0)
    started = time.monotonic()
    say(f"building {PYTHON}")
    cached, _ = _stream_build(client, PYTHON, fileobj=buffer, custom_context=True,
                              buildargs={"BASE_IMAGE": DEBIAN})
    return {"image": PYTHON, "cached": cached, "seconds": time.monotonic() - started,
            "bytes": image_size(client, PYTHON)}


def build_project(client: docker.DockerClient, tag: str) -> dict:
    started = time.monotonic()
    say(f"building {tag} from the Dockerfile (PYTHON_IMAGE={PYTHON})")
    cached, _ = _stream_build(client, tag, path=str(ROOT), dockerfile="Dockerfile",
                              buildargs={"PYTHON_IMAGE": PYTHON})
    return {"image": tag, "cached": cached, "seconds": time.monotonic() - started,
            "bytes": image_size(client, tag)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-tag", default=PROJECT_DEFAULT, help="tag of the project's image")
    parser.add_argument("--only", choices=["base", "standins", "all"], default="all",
                        help="base: the Debian base only; standins: everything but the project image")
    parser.add_argument("--summary", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    client = engine()
    results = [build_debian(client)]
    try:
        if args.only in ("standins", "all"):
            results.append(build_python(client))
            for name, tag in STANDIN_TAGS.items():
                results.append(build_dir(client, tag, STANDINS / name, {"BASE_IMAGE": DEBIAN}))
        if args.only == "all":
            results.append(build_project(client, args.project_tag))
    except (BuildError, APIError) as exc:
        print(f"local-images: build failed: {exc}", file=sys.stderr)
        return 1
    # Images replaced by a rebuild (untagged) only take disk; the layer cache stays. Only old
    # ones: a build running beside this one holds fresh untagged images it still needs.
    client.images.prune(filters={"dangling": True, "until": "6h"})
    for r in results:
        how = "cached" if r["cached"] else f"built in {r['seconds']:.1f} s"
        say(f"{r['image']}: {r['bytes'] / 1e9:.2f} GB, {how}")
    if args.summary:
        args.summary.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
