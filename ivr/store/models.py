"""The order store's tables: typed SQLAlchemy 2.0 models on one DeclarativeBase."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import sqlalchemy as sa
import sqlalchemy.orm as so


def utcnow() -> dt.datetime:
    """Timezone-aware now, the only clock the store uses."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Store UTC; always hand back aware datetimes (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value  # type: ignore[no-any-return]


intpk = Annotated[int, so.mapped_column(primary_key=True)]
created_at = Annotated[dt.datetime, so.mapped_column(UTCDateTime(), default=utcnow)]
JSONValue = sa.JSON()


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    CLINICIAN = "clinician"
    SUPERVISOR = "supervisor"


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(
        cls,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        length=32,
        validate_strings=True,
    )


class Plan(Base):
    __tablename__ = "plans"

    code: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    dtmf_key: so.Mapped[str] = so.mapped_column(sa.String(4), unique=True)
    aliases: so.Mapped[list[str]] = so.mapped_column(JSONValue, default=list)
    active: so.Mapped[bool] = so.mapped_column(default=True)


class FlowVersion(Base):
    """A published, immutable bundle: every flow, every language's prompts and the clinical
    criteria, under one checksum. A call pins one and hears it to the end."""

    __tablename__ = "flow_versions"

    id: so.Mapped[intpk]
    source: so.Mapped[str] = so.mapped_column(sa.String(16))  # "files" or "admin"
    # sha256 over flows, prompts and criteria together (see ivr.publishing.bundle_checksum).
    checksum: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    # {"flows", "files", "sources"}: sources (each flow's YAML text) since migration 0013.
    content: so.Mapped[dict[str, Any]] = so.mapped_column(JSONValue)
    # language -> the prompts file as parsed; None only on versions published before 0007,
    # which speak the prompts files on disk.
    prompts: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONValue)
    # data/criteria.yaml as parsed; None only before 0007 (the file on disk is used).
    criteria: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONValue)
    note: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[created_at]
    created_by: so.Mapped[str | None] = so.mapped_column(sa.String(80))


@sa.event.listens_for(FlowVersion, "before_update")
def _published_is_final(mapper: so.Mapper[Any], connection: sa.Connection, target: Any) -> None:
    """Calls in progress hear their version to the end: a change is a new version."""
    raise ValueError(f"flow version {target.id} is published and cannot change")


class FlowDraft(Base):
    """An admin's unpublished change to one flow (kind "flow", name = the flow) or to one
    language's prompts (kind "prompts", name = the language). Kept even when invalid, so
    work is not lost; `base_version` is the published version it was edited from."""

    __tablename__ = "flow_drafts"
    __table_args__ = (sa.UniqueConstraint("kind", "name", name="uq_flow_drafts_kind_name"),)

    id: so.Mapped[intpk]
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    name: so.Mapped[str] = so.mapped_column(sa.String(80))
    # A flow's YAML text, or a language's prompts as YAML (key: text).
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    base_version: so.Mapped[int] = so.mapped_column(sa.Integer)
    problems: so.Mapped[list[dict[str, Any]]] = so.mapped_column(JSONValue, default=list)
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    updated_by: so.Mapped[str | None] = so.mapped_column(sa.String(80))


class Call(Base):
    __tablename__ = "calls"

    id: so.Mapped[intpk]
    sid: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    from_number: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    to_number: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    plan: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    language: so.Mapped[str] = so.mapped_column(sa.String(8), default="en-US")
    flow_version_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("flow_versions.id"))
    node: so.Mapped[str] = so.mapped_column(sa.String(120))
    slots: so.Mapped[dict[str, Any]] = so.mapped_column(JSONValue, default=dict)
    # The services' notes on the call (`CallState.scratch`): never shown to agents.
    scratch: so.Mapped[dict[str, Any]] = so.mapped_column(
        JSONValue, default=dict, server_default=sa.text("'{}'")
    )
    # Where the open calls of flow sections return to, innermost last.
    stack: so.Mapped[list[str]] = so.mapped_column(JSONValue, default=list, server_default="[]")
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    turn: so.Mapped[int] = so.mapped_column(default=0)
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="in-progress")
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    queue: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    transfer_reason: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    # The queue's side of a transfer: when the caller joined the line (their place in it,
    # kept by a callback), and how they left it (Twilio's QueueResult) after how long.
    enqueued_at: so.Mapped[dt.datetime | None]
    dequeued_at: so.Mapped[dt.datetime | None]
    queue_result: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    queue_wait_s: so.Mapped[int | None]
    # The agent who took the call (one only: accepting is a conditional UPDATE), where they
    # were called, and how the handled call was wrapped up.
    accepted_by: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    accepted_at: so.Mapped[dt.datetime | None]
    agent_phone: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    disposition: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    wrap_notes: so.Mapped[str | None] = so.mapped_column(sa.Text)
    wrapped_at: so.Mapped[dt.datetime | None]
    started_at: so.Mapped[created_at]
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: so.Mapped[dt.datetime | None]
    duration_s: so.Mapped[int | None]
    # An admin trying the line in the console ("Try it"): never listed or counted as a call,
    # never enqueued; its orders and tickets get SBX numbers and its texts are never sent.
    sandbox: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    events: so.Mapped[list[CallEvent]] = so.relationship(
        back_populates="call", order_by="CallEvent.turn", cascade="all, delete-orphan"
    )
    flow_version: so.Mapped[FlowVersion] = so.relationship()

    __table_args__ = (sa.Index("ix_calls_queue_dequeued_at", "queue", "dequeued_at"),)


class CallEvent(Base):
    """One row per turn; the TwiML answered is kept so a replay answers the same."""

    __tablename__ = "call_events"
    __table_args__ = (sa.UniqueConstraint("call_id", "turn", name="uq_call_events_call_turn"),)

    id: so.Mapped[intpk]
    call_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("calls.id", ondelete="CASCADE"))
    turn: so.Mapped[int]
    node: so.Mapped[str] = so.mapped_column(sa.String(120))
    next_node: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    input_kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    raw_input: so.Mapped[str | None] = so.mapped_column(sa.Text)
    matched: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    confidence: so.Mapped[float | None]
    outcome: so.Mapped[str] = so.mapped_column(sa.String(32))
    latency_ms: so.Mapped[int | None]
    twiml: so.Mapped[str] = so.mapped_column(sa.Text)
    # The person who acted (an agent's accept, wrap-up, ...); None for the caller's turns.
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[created_at]

    call: so.Mapped[Call] = so.relationship(back_populates="events")


class User(Base):
    __tablename__ = "users"

    id: so.Mapped[intpk]
    name: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True)
    role: so.Mapped[Role] = so.mapped_column(_enum(Role))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    # argon2id, for the console's sign-in; None: this user signs in with API tokens only.
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    last_sign_in_at: so.Mapped[dt.datetime | None]
    created_at: so.Mapped[created_at]

    tokens: so.Mapped[list[ApiToken]] = so.relationship(back_populates="user")


class ApiToken(Base):
    """Bearer tokens are stored as SHA-256 digests; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: so.Mapped[intpk]
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    prefix: so.Mapped[str] = so.mapped_column(sa.String(12))
    created_at: so.Mapped[created_at]
    last_used_at: so.Mapped[dt.datetime | None]
    revoked_at: so.Mapped[dt.datetime | None]
    expires_at: so.Mapped[dt.datetime | None]

    user: so.Mapped[User] = so.relationship(back_populates="tokens")


class AuditEntry(Base):
    """Who read or changed what, for reads of call and order data by people."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # A person's recent reads of a target (`audit_reads` writes one a quarter hour), and
        # the log page and export, newest first.
        sa.Index("ix_audit_log_user_id_target", "user_id", "target_type", "target_id", "at"),
        sa.Index("ix_audit_log_at", "at"),
    )

    id: so.Mapped[intpk]
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    action: so.Mapped[str] = so.mapped_column(sa.String(40))
    target_type: so.Mapped[str] = so.mapped_column(sa.String(40))
    target_id: so.Mapped[str] = so.mapped_column(sa.String(80))
    at: so.Mapped[created_at]
    # From where (the client address as the app sees it) and, for refused requests, the
    # status answered (401, 403, 404); None for an act that was allowed.
    address: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    status: so.Mapped[int | None]


class Provider(Base):
    """Ordering physicians and servicing (imaging) facilities, by NPI."""

    __tablename__ = "providers"

    npi: so.Mapped[str] = so.mapped_column(sa.String(10), primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    # How the line says the name, when not as written; None: the name as written.
    spoken: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    role: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)  # ordering | facility
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(20), index=True)
    address: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    city: so.Mapped[str | None] = so.mapped_column(sa.String(80))
    state: so.Mapped[str | None] = so.mapped_column(sa.String(2))
    zip: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    plans: so.Mapped[list[str]] = so.mapped_column(JSONValue, default=list)

    @property
    def said(self) -> str:
        """The name as the line says it."""
        return self.spoken or self.name


class Member(Base):
    """A health plan's member: the patient of an order."""

    __tablename__ = "members"
    __table_args__ = (sa.UniqueConstraint("plan_code", "member_id", name="uq_members_plan_member"),)

    id: so.Mapped[intpk]
    plan_code: so.Mapped[str] = so.mapped_column(sa.ForeignKey("plans.code"))
    member_id: so.Mapped[str] = so.mapped_column(sa.String(12))
    first_name: so.Mapped[str] = so.mapped_column(sa.String(80))
    last_name: so.Mapped[str] = so.mapped_column(sa.String(80))
    date_of_birth: so.Mapped[dt.date]


class ExamType(Base):
    """An advanced-imaging procedure that needs an order number."""

    __tablename__ = "exam_types"

    code: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)
    modality: so.Mapped[str] = so.mapped_column(sa.String(8))
    body_region: so.Mapped[str] = so.mapped_column(sa.String(80))
    contrast: so.Mapped[str] = so.mapped_column(sa.String(8))
    description: so.Mapped[str] = so.mapped_column(sa.String(200))
    # How the line says it, when the written description would read aloud badly
    # (parentheses, codes); None: the description is said as written.
    spoken: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    aliases: so.Mapped[list[str]] = so.mapped_column(JSONValue, default=list)
    active: so.Mapped[bool] = so.mapped_column(default=True)

    @property
    def said(self) -> str:
        """The exam as the line says it."""
        return self.spoken or self.description


class OrderStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    EXTENDED = "extended"


class Order(Base):
    """An imaging order request: a draft while the caller answers, then a decision."""

    __tablename__ = "orders"

    id: so.Mapped[intpk]
    reference_number: so.Mapped[str] = so.mapped_column(sa.String(12), unique=True)
    order_number: so.Mapped[str | None] = so.mapped_column(sa.String(12), unique=True)
    status: so.Mapped[OrderStatus] = so.mapped_column(_enum(OrderStatus), index=True)
    plan: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    member_id: so.Mapped[str | None] = so.mapped_column(sa.String(12), index=True)
    member_dob: so.Mapped[dt.date | None]
    ordering_npi: so.Mapped[str | None] = so.mapped_column(sa.String(10), index=True)
    exam_code: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    diagnosis_codes: so.Mapped[list[str]] = so.mapped_column(JSONValue, default=list)
    facility_npi: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    symptoms: so.Mapped[str | None] = so.mapped_column(sa.Text)
    symptoms_confidence: so.Mapped[float | None]
    clinical_history: so.Mapped[str | None] = so.mapped_column(sa.Text)
    clinical_history_confidence: so.Mapped[float | None]
    criteria_rule: so.Mapped[str | None] = so.mapped_column(sa.String(80))
    criteria_answers: so.Mapped[dict[str, Any]] = so.mapped_column(JSONValue, default=dict)
    decision_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    source: so.Mapped[str] = so.mapped_column(sa.String(16), default="phone")
    call_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)
    created_at: so.Mapped[created_at]
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: so.Mapped[dt.datetime | None]
    issued_at: so.Mapped[dt.datetime | None]
    expires_at: so.Mapped[dt.datetime | None]
    # The order this one extends: an extension is a new order number for the same request.
    replaces_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("orders.id"))
    performed_at: so.Mapped[dt.datetime | None]
    cancelled_at: so.Mapped[dt.datetime | None]
    cancel_reason: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    reviewed_at: so.Mapped[dt.datetime | None]
    reviewed_by: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    replaces: so.Mapped[Order | None] = so.relationship(
        remote_side="Order.id", foreign_keys=[replaces_id]
    )
    events: so.Mapped[list[OrderEvent]] = so.relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )


class OrderEvent(Base):
    """What changed on an order, when, and by which call or user."""

    __tablename__ = "order_events"

    id: so.Mapped[intpk]
    order_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    call_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    before: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONValue)
    after: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONValue)
    at: so.Mapped[created_at]

    order: so.Mapped[Order] = so.relationship(back_populates="events")


class PortalAccount(Base):
    """A ProviderPortal user account (seeded from data/portal_users.csv)."""

    __tablename__ = "portal_accounts"

    id: so.Mapped[intpk]
    username: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True)
    full_name: so.Mapped[str] = so.mapped_column(sa.String(120))
    npi: so.Mapped[str | None] = so.mapped_column(sa.String(10), index=True)
    tin: so.Mapped[str | None] = so.mapped_column(sa.String(9), index=True)
    mobile: so.Mapped[str | None] = so.mapped_column(sa.String(20), index=True)
    email: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    zip: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="active")  # active|locked
    phone_locked_until: so.Mapped[dt.datetime | None]


class ResetAttempt(Base):
    """Every password-reset attempt by phone: identification, factor, code sent, refused."""

    __tablename__ = "reset_attempts"
    __table_args__ = (
        sa.Index("ix_reset_attempts_account_caller_at", "account_id", "caller", "at"),
    )

    id: so.Mapped[intpk]
    account_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("portal_accounts.id"), index=True
    )
    call_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    # The calling number (E.164, or "unknown"): a lockout is per number and account.
    caller: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(32))
    at: so.Mapped[created_at]


class ResetCode(Base):
    """A one-time password-reset code: only its hash is kept."""

    __tablename__ = "reset_codes"

    id: so.Mapped[intpk]
    account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("portal_accounts.id"))
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[created_at]
    expires_at: so.Mapped[dt.datetime]
    used_at: so.Mapped[dt.datetime | None]
    revoked_at: so.Mapped[dt.datetime | None]


class OutboxMessage(Base):
    """An SMS written before it is sent; the body never holds a secret in plain text."""

    __tablename__ = "outbox"

    id: so.Mapped[intpk]
    to: so.Mapped[str] = so.mapped_column(sa.String(20))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    twilio_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    account_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("portal_accounts.id"))
    reset_code_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("reset_codes.id"))
    call_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[created_at]
    sent_at: so.Mapped[dt.datetime | None]
    next_attempt_at: so.Mapped[dt.datetime | None]


class Outage(Base):
    """A "hot message": announced on calls while its window is open."""

    __tablename__ = "outages"

    id: so.Mapped[intpk]
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    # {"en-US": "...", "es-US": "..."}; a plain-text message is stored under "en-US".
    message: so.Mapped[dict[str, str]] = so.mapped_column(JSONValue)
    systems: so.Mapped[list[str]] = so.mapped_column(JSONValue, default=list)
    plans: so.Mapped[list[str] | None] = so.mapped_column(JSONValue)  # None: every plan
    starts_at: so.Mapped[dt.datetime]
    ends_at: so.Mapped[dt.datetime | None]
    created_by: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[created_at]
    deleted_at: so.Mapped[dt.datetime | None]


class Ticket(Base):
    """A help-desk ticket written down on the phone before the caller reaches a person."""

    __tablename__ = "tickets"

    id: so.Mapped[intpk]
    number: so.Mapped[str] = so.mapped_column(sa.String(12), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))  # data_issue | navigation
    plan: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    username: so.Mapped[str | None] = so.mapped_column(sa.String(80))
    description: so.Mapped[str | None] = so.mapped_column(sa.Text)
    description_confidence: so.Mapped[float | None]
    call_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="open")
    created_at: so.Mapped[created_at]


class Callback(Base):
    """A caller who asked to be called back rather than hold (or after hours).

    `place_at` is when they joined the line (the original enqueue time, or the request after
    hours): callbacks are served in that order, so asking for one keeps the caller's place.
    """

    __tablename__ = "callbacks"

    id: so.Mapped[intpk]
    call_sid: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    number: so.Mapped[str] = so.mapped_column(sa.String(32))
    queue: so.Mapped[str] = so.mapped_column(sa.String(40))
    language: so.Mapped[str] = so.mapped_column(sa.String(8), default="en-US")
    requested_at: so.Mapped[created_at]
    place_at: so.Mapped[dt.datetime]
    # Not before this instant (the next opening, for one asked for after hours).
    due_at: so.Mapped[dt.datetime]
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="open", index=True)
    tries: so.Mapped[int] = so.mapped_column(default=0)
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    # The agent who dialed it last, when, and when it was closed.
    agent_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    last_try_at: so.Mapped[dt.datetime | None]
    done_at: so.Mapped[dt.datetime | None]


class Voicemail(Base):
    """A message left after hours: Twilio's recording and the call it came from."""

    __tablename__ = "voicemails"

    id: so.Mapped[intpk]
    call_sid: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    recording_sid: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    recording_url: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    duration_s: so.Mapped[int | None]
    queue: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    # Where the call was and why it wanted a person: {"queue", "reason", "node", "plan"}.
    context: so.Mapped[dict[str, Any]] = so.mapped_column(JSONValue, default=dict)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="new")
    created_at: so.Mapped[created_at]


class SignInAttempt(Base):
    """Every sign-in to the console, by name and client address: the rate limit counts the
    failures here, so every gunicorn worker sees the same ones."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        sa.Index("ix_sign_in_attempts_username_at", "username", "at"),
        sa.Index("ix_sign_in_attempts_address_at", "address", "at"),
    )

    id: so.Mapped[intpk]
    username: so.Mapped[str] = so.mapped_column(sa.String(80))
    address: so.Mapped[str] = so.mapped_column(sa.String(64))
    succeeded: so.Mapped[bool]
    at: so.Mapped[created_at]


class RateWindow(Base):
    """A fixed-window request counter (`key`: what is counted, e.g. one API token or one
    client address); shared by every worker on every host through the store."""

    __tablename__ = "rate_windows"

    key: so.Mapped[str] = so.mapped_column(sa.String(100), primary_key=True)
    window_start: so.Mapped[dt.datetime] = so.mapped_column(primary_key=True)
    hits: so.Mapped[int] = so.mapped_column(default=0)
