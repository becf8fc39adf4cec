"""Flow files, prompts and published versions, and the per-process caches around them.

Published versions are immutable, so a compiled bundle is cached forever by its id.
Catalogs change rarely (admins edit them) and are re-read after a short TTL.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

import ivr.services.helpdesk_line  # noqa: F401  (registers the help desk's actions)
import ivr.services.intake  # noqa: F401  (registers the intake's flow actions)
import ivr.services.outage_line  # noqa: F401  (registers the outage announcements)
import ivr.services.status_line  # noqa: F401  (registers the existing-order actions)
from ivr.engine import Bundle, Catalog, FlowError, Prompts, compile_bundle
from ivr.services.catalogs import CATALOG_NAMES, Catalogs, queue_names
from ivr.services.registry import ACTIONS
from ivr.store.models import FlowVersion


class FlowLoader(yaml.SafeLoader):
    """YAML with only true/false as booleans: `yes:` and `no:` in a flow mean the words."""


FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver(  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_flow_files(flows_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse every `flows/*.yaml`; returns (flow name -> document, flow name -> file)."""
    docs: dict[str, Any] = {}
    files: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(flows_dir.glob("*.yaml")):
        rel = f"{flows_dir.name}/{path.name}"
        try:
            docs[path.stem] = yaml.load(path.read_text(encoding="utf-8"), Loader=FlowLoader)
        except yaml.YAMLError as exc:
            problems.append(f"{rel}: not valid YAML: {exc}")
        files[path.stem] = rel
    if problems:
        raise FlowError(problems)
    return docs, files


def read_prompts(prompts_dir: Path) -> dict[str, Prompts]:
    """Every `prompts/<language>.yaml`, by language."""
    out: dict[str, Prompts] = {}
    problems: list[str] = []
    for path in sorted(prompts_dir.glob("*.yaml")):
        try:
            table = yaml.load(path.read_text(encoding="utf-8"), Loader=FlowLoader) or {}
        except yaml.YAMLError as exc:
            problems.append(f"prompts/{path.name}: not valid YAML: {exc}")
            continue
        if not isinstance(table, Mapping):
            problems.append(f"prompts/{path.name}: must be a mapping of keys to texts")
            continue
        out[path.stem] = Prompts(path.stem, table)
    if "en-US" not in out:
        problems.append("prompts/en-US.yaml: missing; every prompt needs an English text")
    if problems:
        raise FlowError(problems)
    return out


def checksum(docs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(docs, sort_keys=True, default=str).encode()).hexdigest()


class FlowLibrary:
    """Prompts and compiled bundles shared by every request of one process."""

    def __init__(self, flows_dir: Path, prompts_dir: Path, data_dir: Path, ttl: int = 30) -> None:
        self.flows_dir = flows_dir
        self.prompts_dir = prompts_dir
        self.data_dir = data_dir
        self.ttl = ttl
        self._prompts: dict[str, Prompts] | None = None
        self._queues: set[str] | None = None
        self._bundles: dict[int, Bundle] = {}
        self._catalogs: tuple[float, dict[str, Catalog]] | None = None

    @property
    def prompts(self) -> dict[str, Prompts]:
        """Every language's prompts, read on first use (so a broken file can be reported)."""
        if self._prompts is None:
            self._prompts = read_prompts(self.prompts_dir)
        return self._prompts

    @property
    def queues(self) -> set[str]:
        if self._queues is None:
            self._queues = queue_names(self.data_dir)
        return self._queues

    def compile(self, docs: Mapping[str, Any], files: Mapping[str, str] | None = None) -> Bundle:
        """Validate and compile flow documents against this library's names and prompts."""
        return compile_bundle(
            docs,
            files=files,
            prompts=list(self.prompts.values()),
            actions=set(ACTIONS),
            catalogs=CATALOG_NAMES,
            queues=self.queues,
        )

    def check_files(self) -> Bundle:
        """Validate the flow files on disk; raises FlowError naming every problem."""
        docs, files = read_flow_files(self.flows_dir)
        return self.compile(docs, files)

    def bundle(self, session: so.Session, version_id: int) -> Bundle:
        bundle = self._bundles.get(version_id)
        if bundle is None:
            version = session.get(FlowVersion, version_id)
            if version is None:
                raise LookupError(f"flow version {version_id} does not exist")
            bundle = self.compile(version.content["flows"], version.content.get("files"))
            self._bundles[version_id] = bundle
        return bundle

    def prompts_for(self, language: str) -> Prompts:
        return self.prompts.get(language) or self.prompts["en-US"]

    def catalogs(
        self, session: so.Session, clock: Callable[[], float] = time.monotonic
    ) -> Catalogs:
        """The catalogs, read through `session`; what was read is kept for `ttl` seconds."""
        now = clock()
        cached = self._catalogs
        if cached is None or now - cached[0] > self.ttl:
            cached = self._catalogs = (now, {})
        return Catalogs(session, cached[1])

    def forget_catalogs(self) -> None:
        self._catalogs = None


def current_version(session: so.Session) -> FlowVersion | None:
    """The most recently published flow version: the one new calls start on."""
    return session.scalars(sa.select(FlowVersion).order_by(FlowVersion.id.desc()).limit(1)).first()


def publish_files(
    session: so.Session, library: FlowLibrary, *, by: str = "files", force: bool = False
) -> FlowVersion | None:
    """Publish `flows/` as a new version unless it equals the last one published from files.

    Admin-published versions stay current until the files themselves change.
    """
    docs, files = read_flow_files(library.flows_dir)
    library.compile(docs, files)
    digest = checksum(docs)
    last_from_files = session.scalars(
        sa.select(FlowVersion)
        .where(FlowVersion.source == "files")
        .order_by(FlowVersion.id.desc())
        .limit(1)
    ).first()
    if not force and last_from_files is not None and last_from_files.checksum == digest:
        return None
    version = FlowVersion(
        source="files",
        checksum=digest,
        content={"flows": docs, "files": files},
        created_by=by,
        note="published from flows/",
    )
    session.add(version)
    session.flush()
    return version
