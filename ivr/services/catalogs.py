"""Catalogs: loading `data/` into the store (idempotent) and reading them back for matching."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.match.catalog import ChoiceCatalog, Entry
from ivr.store.models import Plan

CATALOG_NAMES = frozenset({"plans"})


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a data CSV, whitespace trimmed, with the file and line for error messages."""
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            yield {k.strip(): (v or "").strip() for k, v in row.items() if k}


def split_multi(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def seed_plans(session: so.Session, path: Path) -> int:
    """Insert or update every plan in `plans.csv`; returns how many rows changed."""
    changed = 0
    seen_keys: dict[str, str] = {}
    for line, row in enumerate(read_csv(path), start=2):
        code, key = row.get("code", "").upper(), row.get("dtmf_key", "")
        if not code or not row.get("name") or not key.isdigit():
            raise ValueError(f"{path.name}:{line}: code, name and a numeric dtmf_key are required")
        if key in seen_keys:
            raise ValueError(f"{path.name}:{line}: dtmf_key {key} already used by {seen_keys[key]}")
        seen_keys[key] = code
        aliases = split_multi(row.get("aliases", ""))
        plan = session.get(Plan, code)
        if plan is None:
            session.add(Plan(code=code, name=row["name"], dtmf_key=key, aliases=aliases))
            changed += 1
        elif (plan.name, plan.dtmf_key, plan.aliases) != (row["name"], key, aliases):
            plan.name, plan.dtmf_key, plan.aliases = row["name"], key, aliases
            changed += 1
    session.flush()
    return changed


def plan_catalog(session: so.Session) -> ChoiceCatalog:
    """The active plans, keyed by their keypad key, in key order."""
    plans = session.scalars(sa.select(Plan).where(Plan.active.is_(True))).all()
    plans = sorted(plans, key=lambda p: int(p.dtmf_key))
    return ChoiceCatalog(
        Entry(value=p.code, label=p.name, key=p.dtmf_key, aliases=tuple(p.aliases or ()))
        for p in plans
    )


def load_catalogs(session: so.Session) -> dict[str, ChoiceCatalog]:
    return {"plans": plan_catalog(session)}


def queue_names(data_dir: Path) -> set[str]:
    return {row["name"] for row in read_csv(data_dir / "queues.csv")}
