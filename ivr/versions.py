"""Flow files, prompts, criteria and published versions, and the per-process caches around them.

A published version is immutable (flows, prompts and criteria under one checksum), so its
compiled form is cached by id, the few most recently used. Which version is the newest is
asked of the store at most every `refresh` seconds: every process serves a new publish
within seconds, without a restart, while calls in progress keep the version they started on.
Catalogs change rarely (admins edit them) and are re-read after a short TTL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

import ivr.actions.helpdesk  # noqa: F401  (registers the help desk's actions)
import ivr.actions.intake  # noqa: F401  (registers the intake's flow actions)
import ivr.actions.outages  # noqa: F401  (registers the outage announcements)
import ivr.actions.status  # noqa: F401  (registers the existing-order actions)
from ivr.actions.registry import fills_by_action, outcomes_by_action
from ivr.criteria import Criteria, CriteriaError, parse_rules
from ivr.engine import Bundle, Catalog, FlowError, Prompts, compile_bundle
from ivr.engine.problems import Problem, locate
from ivr.engine.rendering import rendering_problems
from ivr.services.catalogs import CATALOG_NAMES, Catalogs
from ivr.services.hours import HoursError
from ivr.services.queues import Queue, read_queues
from ivr.store.models import FlowVersion

log = logging.getLogger("ivr.flows")
# How many of the newest versions a process tries before it gives up on serving any.
FALLBACK_VERSIONS = 10
CRITERIA_FILE = "criteria.yaml"


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


def read_prompt_tables(prompts_dir: Path) -> dict[str, dict[str, Any]]:
    """Every `prompts/<language>.yaml` as parsed, by language (what a version stores)."""
    out: dict[str, dict[str, Any]] = {}
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
        out[path.stem] = dict(table)
    if "en-US" not in out:
        problems.append("prompts/en-US.yaml: missing; every prompt needs an English text")
    if problems:
        raise FlowError(problems)
    return out


def read_prompts(prompts_dir: Path) -> dict[str, Prompts]:
    """Every `prompts/<language>.yaml`, by language."""
    return prompts_of(read_prompt_tables(prompts_dir))


def prompts_of(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Prompts]:
    return {language: Prompts(language, table) for language, table in tables.items()}


def read_criteria(data_dir: Path) -> dict[str, Any]:
    """`data/criteria.yaml` as parsed (what a version stores); checked by `criteria_of`."""
    path = data_dir / CRITERIA_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FlowError([f"data/{CRITERIA_FILE}: cannot be read: {exc}"]) from exc
    if not isinstance(data, Mapping):
        raise FlowError([f"data/{CRITERIA_FILE}: must hold a mapping with default and rules"])
    return dict(data)


def criteria_of(data: Any) -> Criteria:
    """Parsed criteria, or FlowError naming each problem in the criteria file."""
    try:
        return parse_rules(data)
    except CriteriaError as exc:
        raise FlowError([f"data/{CRITERIA_FILE}: {p}" for p in exc.problems]) from exc


def checksum(content: Mapping[str, Any]) -> str:
    """sha256 of content as canonical JSON: the same content always gives the same sum."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def bundle_checksum(content: Mapping[str, Any]) -> str:
    """One checksum over flows, prompts and criteria together, and the flows' YAML text
    when it is kept (a changed comment is a change an admin can see and roll back)."""
    return checksum(
        {k: content[k] for k in ("flows", "prompts", "criteria", "sources") if k in content}
    )


def parse_flow(text: str) -> Any:
    """A flow's YAML as a version stores it (JSON: `1:` becomes "1"); yaml.YAMLError."""
    return json.loads(json.dumps(yaml.load(text, Loader=FlowLoader), default=str))


@dataclass(frozen=True)
class Published:
    """One version compiled for serving: its flows, every language's prompts, its criteria.

    `id` is 0 for a bundle not (yet) published: the files checked before a publish.
    """

    id: int
    checksum: str
    bundle: Bundle
    prompts: Mapping[str, Prompts]
    criteria: Criteria

    def prompts_for(self, language: str) -> Prompts:
        return self.prompts.get(language) or self.prompts["en-US"]


@dataclass(frozen=True)
class Checked:
    """A bundle checked: its problems (each at its line), or what every process would serve."""

    problems: list[Problem]
    published: Published | None
    warnings: tuple[str, ...] = ()
    # The checkers' own words for each problem, in the same order (what check-flows prints).
    texts: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Each problem as the checkers name it, with its line when known."""
        return [
            f"{text} (line {p.line})" if p.line is not None else text
            for text, p in zip(self.texts, self.problems, strict=True)
        ]


class FlowLibrary:
    """Compiled versions, catalogs and the files on disk, shared by every request of a process.

    Args:
        refresh: at most this many seconds between two looks at which version is newest.
        keep: how many compiled versions to keep; calls on an older one recompile it.
    """

    def __init__(
        self,
        flows_dir: Path,
        prompts_dir: Path,
        data_dir: Path,
        ttl: int = 30,
        *,
        refresh: float = 5,
        keep: int = 16,
    ) -> None:
        self.flows_dir = flows_dir
        self.prompts_dir = prompts_dir
        self.data_dir = data_dir
        self.ttl = ttl
        self.refresh = refresh
        self.keep = keep
        self.clock: Callable[[], float] = time.monotonic
        self._prompts: dict[str, Prompts] | None = None
        self._criteria: Criteria | None = None
        self._queues: dict[str, Queue] | None = None
        self._versions: OrderedDict[int, Published] = OrderedDict()
        self._current: Published | None = None
        self._looked_at = float("-inf")
        self._lock = threading.Lock()
        self._catalogs: tuple[float, dict[str, Catalog]] | None = None
        # Versions this process tried to serve and could not load (`/healthz` tells).
        self.unloadable: set[int] = set()

    @property
    def prompts(self) -> dict[str, Prompts]:
        """The prompts files on disk, read on first use; only versions older than bundles
        (no prompts of their own) and `check-flows` speak them."""
        if self._prompts is None:
            self._prompts = read_prompts(self.prompts_dir)
        return self._prompts

    @property
    def criteria(self) -> Criteria:
        """The criteria file on disk, read on first use (for versions without their own)."""
        if self._criteria is None:
            self._criteria = criteria_of(read_criteria(self.data_dir))
        return self._criteria

    @property
    def queues(self) -> set[str]:
        return set(self.queue_table)

    @property
    def queue_table(self) -> dict[str, Queue]:
        """`data/queues.csv` with each queue's hours, read on first use."""
        if self._queues is None:
            try:
                self._queues = read_queues(self.data_dir)
            except HoursError as exc:
                raise FlowError([f"data/{exc}"]) from exc
        return self._queues

    def compile(
        self,
        docs: Mapping[str, Any],
        files: Mapping[str, str] | None = None,
        prompts: Mapping[str, Prompts] | None = None,
    ) -> Bundle:
        """Validate and compile flow documents against these prompts (default: the files)."""
        return compile_bundle(
            docs,
            files=files,
            prompts=list((self.prompts if prompts is None else prompts).values()),
            actions=outcomes_by_action(),
            action_slots=fills_by_action(),
            catalogs=CATALOG_NAMES,
            queues=self.queues,
            start_slots=(),  # a call starts with no slots (`ivr.services.calls`)
        )

    def verify(self, content: Mapping[str, Any]) -> Published:
        """Check, load and render a bundle; FlowError names every problem (flow, node, key,
        language). Nothing is published that has not passed this."""
        problems: list[str] = []
        prompts = prompts_of(content["prompts"])
        try:
            criteria = criteria_of(content["criteria"])
        except FlowError as exc:
            problems += exc.problems
        try:
            bundle = self.compile(content["flows"], content.get("files"), prompts)
        except FlowError as exc:
            problems += exc.problems
        else:
            problems += rendering_problems(bundle, prompts)
        if problems:
            raise FlowError(problems)
        return Published(0, bundle_checksum(content), bundle, prompts, criteria)

    def check(self, content: Mapping[str, Any]) -> Checked:
        """`verify`, with every problem placed at its line in the flows' YAML `sources`:
        the one check of `ivr check-flows`, `ivr flows import` and the admins' drafts."""
        try:
            published = self.verify(content)
        except FlowError as exc:
            files = {
                name: (content.get("files") or {}).get(name) or f"flows/{name}.yaml"
                for name in content.get("flows", {})
            }
            located = locate(exc.problems, files, content.get("sources") or {})
            return Checked(located, None, texts=tuple(exc.problems))
        return Checked([], published, published.bundle.warnings)

    @staticmethod
    def parse(text: str) -> Any:
        """A flow's YAML as a version stores it (`parse_flow`)."""
        return parse_flow(text)

    def prompt_tables(self) -> dict[str, dict[str, Any]]:
        """The prompts files as a version stores them (for versions older than bundles)."""
        return read_prompt_tables(self.prompts_dir)

    def criteria_table(self) -> dict[str, Any]:
        """The criteria file as a version stores it (for versions older than bundles)."""
        return read_criteria(self.data_dir)

    def load(
        self,
        version_id: int,
        digest: str,
        content: Mapping[str, Any],
        prompts: Mapping[str, Any] | None,
        criteria: Any,
    ) -> Published:
        """Compile one bundle; a version published before bundles speaks the files on disk."""
        spoken = self.prompts if prompts is None else prompts_of(prompts)
        return Published(
            id=version_id,
            checksum=digest,
            bundle=self.compile(content["flows"], content.get("files"), spoken),
            prompts=spoken,
            criteria=self.criteria if criteria is None else criteria_of(criteria),
        )

    def version(self, session: so.Session, version_id: int) -> Published:
        """A published version, compiled once per process while it is among the `keep`."""
        with self._lock:
            found = self._versions.get(version_id)
            if found is not None:
                self._versions.move_to_end(version_id)
                return found
        row = session.get(FlowVersion, version_id)
        if row is None:
            raise LookupError(f"flow version {version_id} does not exist")
        found = self.load(row.id, row.checksum, row.content, row.prompts, row.criteria)
        with self._lock:
            self._versions[version_id] = found
            while len(self._versions) > self.keep:
                self._versions.popitem(last=False)
        return found

    def bundle(self, session: so.Session, version_id: int) -> Bundle:
        return self.version(session, version_id).bundle

    def current(self, session: so.Session) -> Published:
        """The version new calls start on: the newest published this process can load,
        looked up at most every `refresh` seconds. One it cannot load (a bad publish, or one
        this code no longer compiles) is logged and passed over for the one before, so a
        bad version never takes the line down."""
        now = self.clock()
        served = self._current
        if served is not None and now - self._looked_at < self.refresh:
            return served
        newest = session.scalars(
            sa.select(FlowVersion.id).order_by(FlowVersion.id.desc()).limit(FALLBACK_VERSIONS)
        ).all()
        if not newest:
            raise LookupError("no published flow version; run `ivr seed`")
        for version_id in newest:
            if served is not None and version_id <= served.id:
                break  # nothing newer loads: keep serving what this process serves
            try:
                served = self.version(session, version_id)
            except (FlowError, LookupError) as exc:
                log.error("flow version %d cannot be served (%s)", version_id, type(exc).__name__)
                self.unloadable.add(version_id)
                continue
            log.info("serving flow version %d (%s)", served.id, served.checksum[:12])
            break
        if served is None:
            raise LookupError(f"none of the newest {len(newest)} flow versions can be served")
        self._current, self._looked_at = served, now
        return served

    def prompts_for(self, language: str) -> Prompts:
        """What the line says outside any call's version (an apology when the store is
        down): the prompts of the version this process serves, else the files."""
        served = self._current
        if served is not None:
            return served.prompts_for(language)
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
