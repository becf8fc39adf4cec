"""Publishing: flows, prompts and criteria checked together and stored as one version.

Nothing becomes current unless the exact content every process will load has compiled and
every node's prompts have rendered in every language, so a publish cannot take the line
down. `ivr check-flows` runs the same checks on the files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.store.models import FlowVersion
from ivr.versions import (
    FlowLibrary,
    Published,
    bundle_checksum,
    read_criteria,
    read_flow_files,
    read_prompt_tables,
)

__all__ = ["bundle_checksum", "publish_files", "read_files", "verify"]


def read_files(library: FlowLibrary) -> dict[str, Any]:
    """The bundle on disk, exactly as a version would store it (JSON in, JSON out)."""
    docs, files = read_flow_files(library.flows_dir)
    content = {
        "flows": docs,
        "files": files,
        # Each flow's YAML text: what admins see and problems are placed in by line.
        "sources": {
            name: (library.flows_dir.parent / file).read_text(encoding="utf-8")
            for name, file in files.items()
        },
        "prompts": read_prompt_tables(library.prompts_dir),
        "criteria": read_criteria(library.data_dir),
    }
    # The store keeps JSON: `1:` becomes "1", dates become text. Check what will be loaded.
    loaded: dict[str, Any] = json.loads(json.dumps(content, default=str))
    return loaded


def verify(library: FlowLibrary, content: Mapping[str, Any]) -> Published:
    """Check, load and render a bundle (`FlowLibrary.verify`); FlowError names every
    problem. What it returns is what every process will serve once it is published."""
    return library.verify(content)


def publish_files(
    session: so.Session, library: FlowLibrary, *, by: str = "files", force: bool = False
) -> FlowVersion | None:
    """Publish flows/, prompts/ and the criteria as a new version unless they equal the last
    version published from files.

    Admin-published versions stay current until the files themselves change.
    """
    content = read_files(library)
    published = verify(library, content)
    last_from_files = session.scalars(
        sa.select(FlowVersion)
        .where(FlowVersion.source == "files")
        .order_by(FlowVersion.id.desc())
        .limit(1)
    ).first()
    if not force and last_from_files is not None and last_from_files.checksum == published.checksum:
        return None
    version = FlowVersion(
        source="files",
        checksum=published.checksum,
        content={k: content[k] for k in ("flows", "files", "sources")},
        prompts=content["prompts"],
        criteria=content["criteria"],
        created_by=by,
        note="published from flows/, prompts/ and data/criteria.yaml",
    )
    session.add(version)
    session.flush()
    return version
