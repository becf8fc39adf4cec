"""Catalogs: loading `data/` into the store (idempotent) and reading them back for matching."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.engine import Catalog
from ivr.match.catalog import ChoiceCatalog, Entry
from ivr.match.ids import normalize_phone, npi_is_valid
from ivr.match.spanish import (
    EXAMS_ES,
    SPANISH,
    SpanishExams,
    for_spanish,
    is_spanish,
    rows_of,
)
from ivr.services import portal
from ivr.store import upsert
from ivr.store.models import ExamType, Member, Plan, Provider

if TYPE_CHECKING:
    from ivr.match.exams import ExamCatalog
    from ivr.match.types import Match

CATALOG_NAMES = frozenset({"plans", "exams", "diagnoses", "facilities"})
# What no name may carry when said: parentheses read aloud as an aside.
_UNSAYABLE = re.compile(r"[()\[\]]")


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a data CSV, whitespace trimmed, with the file and line for error messages."""
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            yield {k.strip(): (v or "").strip() for k, v in row.items() if k}


def split_multi(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def seed_plans(session: so.Session, path: Path, retired: list[str] | None = None) -> int:
    """Make the plans those of `plans.csv`: insert or update each, and retire (active=False,
    never delete: orders name them) a plan the file no longer has, naming it in `retired`.
    Returns how many rows were added or changed."""
    changed = 0
    seen_keys: dict[str, str] = {}
    rows: list[tuple[str, str, dict[str, str]]] = []
    for line, row in enumerate(read_csv(path), start=2):
        code, key = row.get("code", "").upper(), row.get("dtmf_key", "")
        if not code or not row.get("name") or not key:
            raise ValueError(f"{path.name}:{line}: code, name and dtmf_key are required")
        if not (key.isascii() and key.isdigit() and len(key) == 1 and key != "0"):
            # The plan question is one key: "press 10" would be heard as 1, then 0 (a person).
            raise ValueError(
                f"{path.name}:{line}: dtmf_key {key!r} must be one key from 1 to 9 (plan {code})"
            )
        if key in seen_keys:
            raise ValueError(f"{path.name}:{line}: dtmf_key {key} already used by {seen_keys[key]}")
        seen_keys[key] = code
        rows.append((code, key, row))
    listed = {code for code, _, _ in rows}
    stored = {p.code: p for p in session.scalars(sa.select(Plan))}
    for gone in (p for code, p in stored.items() if code not in listed):
        if gone.active:
            gone.active = False
            if retired is not None:
                retired.append(f"plan {gone.code}")
        if gone.dtmf_key in seen_keys:
            # Its key now belongs to a listed plan; a retired plan is never offered.
            gone.dtmf_key = f"~{len(stored)}{gone.dtmf_key}"[:4]
    session.flush()
    for code, key, row in rows:
        aliases = split_multi(row.get("aliases", ""))
        plan = stored.get(code)
        if plan is None:
            session.add(Plan(code=code, name=row["name"], dtmf_key=key, aliases=aliases))
            changed += 1
        elif (plan.name, plan.dtmf_key, plan.aliases, plan.active) != (
            row["name"],
            key,
            aliases,
            True,
        ):
            plan.name, plan.dtmf_key, plan.aliases, plan.active = row["name"], key, aliases, True
            changed += 1
    session.flush()
    return changed


def plan_warnings(session: so.Session) -> list[str]:
    """Active plans a caller could pick but not complete an order for."""
    out = []
    facilities = session.scalars(sa.select(Provider.plans).where(Provider.role == "facility"))
    served = {code for plans in facilities for code in (plans or ())}
    members = set(session.scalars(sa.select(Member.plan_code).distinct()))
    for plan in session.scalars(sa.select(Plan).where(Plan.active.is_(True)).order_by(Plan.code)):
        if plan.code not in members:
            out.append(f"plan {plan.code} has no members in members.csv")
        if plan.code not in served:
            out.append(f"plan {plan.code} has no imaging facilities in providers.csv")
    return out


def plan_catalog(session: so.Session) -> ChoiceCatalog:
    """The active plans, keyed by their keypad key, in key order."""
    plans = session.scalars(sa.select(Plan).where(Plan.active.is_(True))).all()
    plans = sorted(plans, key=lambda p: int(p.dtmf_key))
    return ChoiceCatalog(
        Entry(value=p.code, label=p.name, key=p.dtmf_key, aliases=tuple(p.aliases or ()))
        for p in plans
    )


def seed_providers(session: so.Session, path: Path) -> int:
    """Insert or update ordering physicians and facilities; NPIs must pass the check digit."""
    changed = 0
    for line, row in enumerate(read_csv(path), start=2):
        npi, role = row.get("npi", ""), row.get("role", "")
        if not npi_is_valid(npi):
            raise ValueError(f"{path.name}:{line}: {npi!r} is not a valid NPI")
        if role not in ("ordering", "facility"):
            raise ValueError(f"{path.name}:{line}: role must be ordering or facility")
        spoken = row.get("spoken", "").strip()
        if _UNSAYABLE.search(spoken or row["name"]):
            raise ValueError(f"{path.name}:{line}: a name with parentheses needs a spoken")
        values = {
            "name": row["name"],
            "spoken": spoken or None,
            "role": role,
            "phone": normalize_phone(row.get("phone")),
            "address": row.get("address") or None,
            "city": row.get("city") or None,
            "state": row.get("state") or None,
            "zip": row.get("zip") or None,
            "plans": [p.upper() for p in split_multi(row.get("plans", ""))],
        }
        changed += upsert(session, Provider, {"npi": npi}, values)
    session.flush()
    return changed


def seed_members(session: so.Session, path: Path) -> int:
    changed = 0
    for line, row in enumerate(read_csv(path), start=2):
        member_id = row.get("member_id", "")
        if not member_id.isdigit() or not 9 <= len(member_id) <= 12:
            raise ValueError(f"{path.name}:{line}: member_id must be 9 to 12 digits")
        try:
            dob = dt.date.fromisoformat(row.get("date_of_birth", ""))
        except ValueError as exc:
            raise ValueError(f"{path.name}:{line}: date_of_birth must be YYYY-MM-DD") from exc
        key = {"plan_code": row["plan_code"].upper(), "member_id": member_id}
        values = {
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "date_of_birth": dob,
        }
        changed += upsert(session, Member, key, values)
    session.flush()
    return changed


def seed_exams(session: so.Session, path: Path, retired: list[str] | None = None) -> int:
    """Make the exam types those of `exam_types.csv`, retiring the others (named in
    `retired`); returns how many rows were added or changed."""
    changed = 0
    listed: set[str] = set()
    for line, row in enumerate(read_csv(path), start=2):
        code = row.get("code", "").upper()
        if not code or not row.get("description"):
            raise ValueError(f"{path.name}:{line}: code and description are required")
        spoken = row.get("spoken", "").strip()
        if _UNSAYABLE.search(spoken or row["description"]):
            # Read aloud, "(lumbar spine)" is noise: the line says a name as a person would.
            raise ValueError(f"{path.name}:{line}: a description with parentheses needs a spoken")
        values = {
            "modality": row.get("modality", ""),
            "body_region": row.get("body_region", ""),
            "contrast": row.get("contrast", ""),
            "description": row["description"],
            "spoken": spoken or None,
            "aliases": split_multi(row.get("aliases", "")),
            "active": True,
        }
        changed += upsert(session, ExamType, {"code": code}, values)
        listed.add(code)
    # An exam the file no longer has is retired, not deleted: orders name it.
    for exam in session.scalars(
        sa.select(ExamType).where(ExamType.code.not_in(listed), ExamType.active.is_(True))
    ):
        exam.active = False
        if retired is not None:
            retired.append(f"exam type {exam.code}")
    session.flush()
    return changed


def seed_all(
    session: so.Session, data_dir: Path, retired: list[str] | None = None
) -> dict[str, int]:
    """Load every catalog in `data/`; returns rows added or changed per catalog, and names
    in `retired` the plans and exam types the files no longer have."""
    return {
        "plans": seed_plans(session, data_dir / "plans.csv", retired),
        "exam types": seed_exams(session, data_dir / "exam_types.csv", retired),
        "providers": seed_providers(session, data_dir / "providers.csv"),
        "members": seed_members(session, data_dir / "members.csv"),
        "portal accounts": portal.seed_portal_accounts(session, data_dir / "portal_users.csv"),
    }


def exam_catalog(session: so.Session) -> Catalog:
    return _exams(session)


def exam_variant(
    session: so.Session, code: str, contrast: str, language: str = "en-US"
) -> Match | None:
    """The active exam that is `code`'s study with `contrast` ("none", "with", "both"), named
    in `language`."""
    if is_spanish(language):
        return SpanishExams(_exams(session), spanish_exam_rows()).variant(code, contrast)
    return _exams(session).variant(code, contrast)


def exam_said(exam: ExamType, language: str = "en-US") -> str:
    """How the line names an exam to a caller speaking `language`."""
    if is_spanish(language):
        label = next(
            (r["description"] for r in spanish_exam_rows() if r.get("code") == exam.code), None
        )
        if label:
            return label
    return exam.said


def spanish_exam_rows() -> tuple[dict[str, str], ...]:
    """The exams' Spanish names and aliases (`data/exam_types_es.csv`)."""
    return rows_of(EXAMS_ES)


def _exams(session: so.Session) -> ExamCatalog:
    from ivr.match.exams import ExamCatalog

    rows = session.scalars(sa.select(ExamType).where(ExamType.active.is_(True))).all()
    return ExamCatalog(
        {
            "code": e.code,
            "modality": e.modality,
            "body_region": e.body_region,
            "contrast": e.contrast,
            "description": e.description,
            "spoken": e.spoken or "",
            "aliases": "|".join(e.aliases or ()),
        }
        for e in rows
    )


def facility_catalog(session: so.Session) -> ChoiceCatalog:
    """Imaging facilities, keyed by NPI (typed on the keypad) and matched by name."""
    rows = session.scalars(sa.select(Provider).where(Provider.role == "facility")).all()
    return ChoiceCatalog(
        (Entry(value=p.npi, label=p.name, key=p.npi, aliases=(), spoken=p.spoken) for p in rows),
        cutoff=80.0,
    )


class Catalogs(Mapping[str, Catalog]):
    """The catalogs, each read from the store only when a question first needs it."""

    def __init__(
        self,
        session: so.Session,
        loaded: dict[str, Catalog] | None = None,
        language: str = "en-US",
    ) -> None:
        """`loaded`: what earlier turns read, shared and added to (the library's cache);
        `language`: the call's, whose words the catalogs understand and say."""
        self._session = session
        self._loaded = {} if loaded is None else loaded
        self.language = language

    def in_language(self, language: str) -> Catalogs:
        """The same catalogs (and cache) for a caller speaking `language`."""
        return Catalogs(self._session, self._loaded, language)

    def _load(self, name: str) -> Catalog:
        if name == "diagnoses":
            from ivr.match.icd import default_index

            return default_index()
        loaders = {"plans": plan_catalog, "exams": exam_catalog, "facilities": facility_catalog}
        if name not in loaders:
            raise KeyError(name)
        return loaders[name](self._session)

    def __getitem__(self, name: str) -> Catalog:
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        if not is_spanish(self.language) or name not in CATALOG_NAMES:
            return self._loaded[name]
        # Spanish words only in a Spanish call: the English catalogs never see them.
        spanish = f"{name}:{SPANISH}"
        if spanish not in self._loaded:
            self._loaded[spanish] = cast(Catalog, for_spanish(name, self._loaded[name]))
        return self._loaded[spanish]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(CATALOG_NAMES))

    def __len__(self) -> int:
        return len(CATALOG_NAMES)
