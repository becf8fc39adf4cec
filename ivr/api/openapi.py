"""The API described for its clients: an OpenAPI 3.1 document at `GET /api/v1/openapi.json`.

Written by hand, route by route, next to the routes it describes. `tests/test_openapi.py`
holds it to the app's url_map (every `/api/v1` rule and method must be here, so the two
cannot drift) and checks it with schemathesis (no generated request gets a 500).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from ivr.api import bp
from ivr.api.common import MAX_LIMIT
from ivr.services import agents, lifecycle, messaging

ROLES = ("admin", "supervisor", "agent", "clinician")
_READERS = "admin, supervisor, agent"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        401: "no bearer token, or not a valid one",
        403: "the token's role may not do this",
        404: "nothing has that name or id",
        409: "the thing's state refuses the act",
        413: "the body is larger than IVR_MAX_REQUEST_BYTES",
        422: "a bad or missing field (`field` names it)",
    }
    return {str(code): _json(_ref("Error"), meaning[code]) for code in (401, 403, *codes)}


def _op(
    summary: str,
    roles: str,
    ok: dict[str, Any],
    *codes: int,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {roles}.",
        "security": [{"bearer": []}],
        "responses": {**ok, **_errors(*codes)},
    }
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    return op


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


_LIMIT = _query(
    "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "page size"
)
_CURSOR = _query("cursor", {"type": "string"}, "the `next` of the page before")
_ID = {"type": "integer", "minimum": 1}
_OBJ: dict[str, Any] = {"type": "object"}
_PHONE_BODY = {
    "type": "object",
    "properties": {"agent_phone": {"type": "string", "description": "E.164"}},
}


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": schema}}}


def _page(schema: dict[str, Any]) -> dict[str, Any]:
    page = _items(schema)
    page["properties"]["next"] = {"type": ["string", "null"]}
    return page


def _outage_body(required: list[str]) -> dict[str, Any]:
    time = {"type": ["string", "null"], "format": "date-time"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {
            "title": {"type": "string", "maxLength": 200},
            "message": {
                "description": 'the text, or one text per language (`{"en-US": ...}`)',
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": {"type": "string"}},
                ],
            },
            "systems": {"type": "array", "items": {"type": "string"}},
            "plans": {"type": ["array", "null"], "items": {"type": "string"}},
            "starts_at": time,
            "ends_at": time,
        },
    }


_REASON = {
    "type": "object",
    "required": ["reason"],
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 200}},
}


def paths() -> dict[str, dict[str, Any]]:
    """Every route of the API blueprint, keyed by its path below `/api/v1`."""
    number = _path("number")
    sid = _path("sid")
    outage_id = _path("outage_id", _ID)
    callback_id = _path("callback_id", _ID)
    order = {"200": _json(_ref("Order"), "the order")}
    return {
        "/openapi.json": {
            "get": {
                "summary": "This document (no token needed).",
                "security": [],
                "responses": {"200": _json(_OBJ, "the OpenAPI document")},
            }
        },
        "/calls": {
            "get": _op(
                "Calls, newest first.",
                _READERS,
                {"200": _json(_page(_ref("CallSummary")), "a page of calls")},
                422,
                params=[
                    _query("status", {"type": "string", "enum": list(agents.CALL_STATUSES)}),
                    _query("since", {"type": "string", "format": "date-time"}),
                    _LIMIT,
                    _CURSOR,
                ],
            )
        },
        "/calls/{sid}": {
            "get": _op(
                "A call with every turn, in order.",
                _READERS,
                {"200": _json(_ref("Call"), "the call")},
                404,
                params=[sid],
            )
        },
        "/calls/{sid}/accept": {
            "post": _op(
                "Take a waiting call and connect the agent's phone to it.",
                _READERS,
                {"200": _json(_OBJ, "accepted; `connected` says whether the phones were")},
                404,
                409,
                422,
                params=[sid],
                body=_PHONE_BODY,
                body_required=False,
            )
        },
        "/calls/{sid}/wrap-up": {
            "post": _op(
                "Finish a handled call with a disposition and notes.",
                _READERS,
                {"200": _json(_OBJ, "wrapped up")},
                404,
                409,
                422,
                params=[sid],
                body={
                    "type": "object",
                    "required": ["disposition"],
                    "properties": {
                        "disposition": {"type": "string", "enum": list(agents.DISPOSITIONS)},
                        "notes": {"type": "string"},
                    },
                },
            )
        },
        "/callbacks": {
            "get": _op(
                "Callbacks asked for, open (in their place in line) or done.",
                _READERS,
                {"200": _json(_items(_OBJ), "the callbacks")},
                422,
                params=[_query("status", {"type": "string", "enum": ["open", "done"]})],
            )
        },
        "/callbacks/{callback_id}/dial": {
            "post": _op(
                "Call the agent, then the caller, into one conference.",
                _READERS,
                {"200": _json(_OBJ, "the callback, and whether the phones were connected")},
                404,
                409,
                422,
                params=[callback_id],
                body=_PHONE_BODY,
                body_required=False,
            )
        },
        "/callbacks/{callback_id}/complete": {
            "post": _op(
                "Record how a callback went; three tries not reached close it.",
                _READERS,
                {"200": _json(_OBJ, "the callback")},
                404,
                409,
                422,
                params=[callback_id],
                body={
                    "type": "object",
                    "required": ["outcome"],
                    "properties": {
                        "outcome": {"type": "string", "enum": list(agents.CALLBACK_OUTCOMES)}
                    },
                },
            )
        },
        "/queues": {
            "get": _op(
                "Every queue: open or not, waiting callers, longest wait, open callbacks.",
                _READERS,
                {"200": _json(_items(_OBJ), "the queues")},
            )
        },
        "/queues/{name}": {
            "get": _op(
                "Who waits in a queue (with what they said), its callbacks, today's numbers.",
                _READERS,
                {"200": _json(_OBJ, "the queue")},
                404,
                params=[_path("name")],
            )
        },
        "/messages": {
            "get": _op(
                "The text-message outbox, newest first (reset codes masked).",
                "admin",
                {"200": _json(_items(_OBJ), "the messages")},
                422,
                params=[
                    _query("status", {"type": "string", "enum": list(messaging.STATUSES)}),
                    _LIMIT,
                ],
            )
        },
        "/orders": {
            "get": _op(
                "Orders matching every filter given, newest first.",
                ", ".join(ROLES),
                {"200": _json(_page(_ref("Order")), "a page of orders")},
                422,
                params=[
                    _query("member_id", {"type": "string"}),
                    _query("ordering_npi", {"type": "string"}),
                    _query("status", {"type": "string", "enum": list(lifecycle.LISTED_STATUSES)}),
                    _query("plan", {"type": "string"}),
                    _LIMIT,
                    _CURSOR,
                ],
            )
        },
        "/orders/{number}": {
            "get": _op(
                "An order by its order number or, while pended, its reference number.",
                ", ".join(ROLES),
                order,
                404,
                params=[number],
            ),
            "patch": _op(
                "Change a draft's fields (the order's names), each checked as the phone does.",
                _READERS,
                order,
                404,
                409,
                422,
                params=[number],
                body={"type": "object", "minProperties": 1},
            ),
        },
        "/orders/{number}/submit": {
            "post": _op(
                "Submit a draft with its answers to the criteria questions.",
                _READERS,
                order,
                404,
                409,
                422,
                params=[number],
                body={"type": "object", "properties": {"answers": _OBJ}},
                body_required=False,
            )
        },
        "/orders/{number}/extend": {
            "post": _op(
                "Extend an approved order in its last days: 201 with the new order.",
                "admin, agent",
                {"201": _json(_ref("Order"), "the new order (Location: its URL)")},
                404,
                409,
                422,
                params=[number],
                body=_OBJ,
                body_required=False,
            )
        },
        "/orders/{number}/cancel": {
            "post": _op(
                "Cancel an approved or pended order.",
                "admin, agent",
                order,
                404,
                409,
                422,
                params=[number],
                body=_REASON,
            )
        },
        "/orders/{number}/change-provider": {
            "post": _op(
                "Move the study to another in-network facility.",
                "admin, agent",
                order,
                404,
                409,
                422,
                params=[number],
                body={
                    "type": "object",
                    "required": ["facility_npi"],
                    "properties": {"facility_npi": {"type": "string", "pattern": "^[0-9]{10}$"}},
                },
            )
        },
        "/orders/{number}/approve": {
            "post": _op(
                "Approve a pended order: an order number valid 60 days.",
                "admin, clinician",
                order,
                404,
                409,
                422,
                params=[number],
                body=_OBJ,
                body_required=False,
            )
        },
        "/orders/{number}/deny": {
            "post": _op(
                "Deny a pended order with a reason.",
                "admin, clinician",
                order,
                404,
                409,
                422,
                params=[number],
                body=_REASON,
            )
        },
        "/outages": {
            "get": _op(
                "Outage notices not withdrawn, newest first.",
                _READERS,
                {"200": _json(_items(_ref("Outage")), "the notices")},
                422,
                params=[_query("active", {"type": "string", "enum": ["true", "false"]})],
            ),
            "post": _op(
                "Create a notice the line plays to callers of the plans it names.",
                "admin",
                {"201": _json(_ref("Outage"), "the notice (Location: its URL)")},
                413,
                422,
                body=_outage_body(["title", "message"]),
            ),
        },
        "/outages/{outage_id}": {
            "get": _op(
                "One notice.",
                _READERS,
                {"200": _json(_ref("Outage"), "the notice")},
                404,
                params=[outage_id],
            ),
            "patch": _op(
                "Change some fields of a notice; `ends_at: null` reopens it.",
                "admin",
                {"200": _json(_ref("Outage"), "the notice")},
                404,
                422,
                params=[outage_id],
                body=_outage_body([]),
            ),
            "delete": _op(
                "Withdraw a notice: never played or listed again.",
                "admin",
                {"204": {"description": "withdrawn"}},
                404,
                params=[outage_id],
            ),
        },
        **_drafted(
            "flows",
            "name",
            "flow",
            {
                "yaml": {"type": "string"},
                "draft_revision": {
                    "type": "string",
                    "description": 'the draft\'s `revision` the text was made from ("" for'
                    " none): a save made since is refused, 409",
                },
            },
            "yaml",
        ),
        **_drafted(
            "prompts",
            "lang",
            "language's prompts",
            {"texts": {"type": "object", "additionalProperties": {"type": ["string", "null"]}}},
            "texts",
        ),
    }


def _drafted(
    kind: str, key: str, what: str, draft_fields: dict[str, Any], required: str
) -> dict[str, dict[str, Any]]:
    """The routes an admin drafts, publishes and rolls back a flow or a language's prompts by
    (`/flows/{name}/...` and `/prompts/{lang}/...` are the same shape)."""
    name = _path(key)
    version = {"type": "integer", "minimum": 1}
    made = {"201": _json({"type": "object", "properties": {"version": version}}, "the version")}
    problems = {
        "type": "object",
        "properties": {"problems": {"type": "array", "items": _ref("Problem")}},
    }
    return {
        f"/{kind}": {
            "get": _op(
                f"Every {kind[:-1]} with its published version and whether a draft exists.",
                "admin",
                {"200": _json(_items(_OBJ), f"the {kind}")},
            )
        },
        f"/{kind}/{{{key}}}": {
            "get": _op(
                f"A {what} as published, and its draft if any.",
                "admin",
                {"200": _json(_OBJ, f"the {what}")},
                404,
                params=[name],
            )
        },
        f"/{kind}/{{{key}}}/draft": {
            "put": _op(
                f"Save a draft of a {what}; an invalid draft is kept, its problems answered.",
                "admin",
                {"200": _json(problems, "saved; the problems found (none: publishable)")},
                404,
                409,
                413,
                422,
                params=[name],
                body={
                    "type": "object",
                    "required": [required, "base_version"],
                    "properties": {**draft_fields, "base_version": {"type": "integer"}},
                },
            )
        },
        f"/{kind}/{{{key}}}/publish": {
            "post": _op(
                f"Publish the {what} draft as a new version (checked first: 422 changes nothing).",
                "admin",
                made,
                404,
                409,
                422,
                params=[name],
                body={"type": "object", "properties": {"comment": {"type": "string"}}},
                body_required=False,
            )
        },
        f"/{kind}/{{{key}}}/versions": {
            "get": _op(
                f"The versions in which the {what} changed, newest first.",
                "admin",
                {"200": _json(_items(_OBJ), "the versions")},
                404,
                params=[name],
            )
        },
        f"/{kind}/{{{key}}}/diff": {
            "get": _op(
                f"A unified diff of the {what} between two versions (text/plain).",
                "admin",
                {"200": {"description": "the diff", "content": {"text/plain": {}}}},
                404,
                422,
                params=[
                    name,
                    {"name": "from", "in": "query", "required": True, "schema": version},
                    {"name": "to", "in": "query", "required": True, "schema": version},
                ],
            )
        },
        f"/{kind}/{{{key}}}/rollback": {
            "post": _op(
                f"Publish the {what} as it was in an earlier version, as a new version.",
                "admin",
                made,
                404,
                422,
                params=[name],
                body={
                    "type": "object",
                    "required": ["version"],
                    "properties": {"version": version},
                },
            )
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    loose = {"type": "object", "additionalProperties": True}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ivr JSON API",
            "version": "1",
            "description": "Orders, calls, queues, callbacks, outage notices, the outbox, and"
            " the call flows and prompts of the imaging prior-authorization line. Every route"
            " but this document needs"
            " `Authorization: Bearer <token>` (`ivr create-user`); errors are"
            ' `{"error": code, "message": text}` (422 adds `field`).',
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                    },
                },
                "Order": {
                    **loose,
                    "properties": {
                        "reference_number": {"type": "string"},
                        "order_number": {"type": ["string", "null"]},
                        "status": {"type": "string"},
                    },
                },
                "Call": {
                    **loose,
                    "properties": {
                        "sid": {"type": "string"},
                        "status": {"type": ["string", "null"]},
                        "events": {"type": "array", "items": loose},
                    },
                },
                "CallSummary": loose,
                "Problem": {
                    "type": "object",
                    "properties": {
                        "line": {"type": ["integer", "null"]},
                        "node": {"type": ["string", "null"]},
                        "field": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
                "Outage": {
                    **loose,
                    "properties": {"id": {"type": "integer"}, "title": {"type": "string"}},
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI document (public: it describes routes, never data)."""
    return jsonify(document())
