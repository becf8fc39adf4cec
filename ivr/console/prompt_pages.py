"""The prompts' admin pages: every language, and one language's texts, searchable, edited
in place with their placeholders checked on save (ivr.services.flow_admin's prompt drafts),
published as a version with a comment, with the versions, their diffs and roll back."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.console import bp
from ivr.console.admin import admin_user
from ivr.console.flows import diff_page
from ivr.console.signin import ADMINS, require
from ivr.db import get_session
from ivr.services import flow_admin

SHOWN = 400  # rows on one page; a search narrows them
REFERENCE = "en-US"  # the language the others are compared with
# espeak-ng's voice for each language the line speaks (`espeak-ng --voices`).
VOICES = {"en-US": "en-us", "es-US": "es-419"}
LISTEN_TIMEOUT = 10  # seconds espeak-ng may take for one text
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")
_WORDS = re.compile(r"[^\W\d_]{2,}")


def tts() -> str | None:
    """espeak-ng's path when the server has it (the Listen buttons are shown), else None."""
    return shutil.which("espeak-ng")


def coverage(reference: dict[str, Any], texts: dict[str, Any]) -> dict[str, list[str]]:
    """Keys the reference language has and `texts` lacks (`missing`), and texts word for
    word the reference's (`untranslated`: two or more words, placeholders aside)."""
    missing, same = [], []
    for key, text in sorted(reference.items()):
        if not isinstance(text, str):
            continue
        if key not in texts:
            missing.append(key)
        elif texts[key] == text and len(_WORDS.findall(_PLACEHOLDER.sub("", text))) >= 2:
            same.append(key)
    return {"missing": missing, "untranslated": same}


def spoken_sample(text: str) -> str:
    """A prompt as the listen button says it: each {placeholder} named in words."""
    return _PLACEHOLDER.sub(lambda m: m.group(1).replace("_", " "), text)


def _detail(lang: str) -> Any:
    try:
        return flow_admin.get_prompts(get_session(), lang)
    except flow_admin.NotFound:
        abort(404)


def _page(lang: str, *, status: int = 200, **extra: Any) -> ResponseReturnValue:
    detail = _detail(lang)
    texts = detail.draft.texts if detail.draft is not None else detail.texts
    query = request.values.get("q", "").strip().lower()[:80]
    rows = [
        {
            "key": key,
            "text": value if isinstance(value, str) else ", ".join(map(str, value or [])),
            "editable": isinstance(value, str),
            "published": detail.texts.get(key),
        }
        for key, value in sorted(texts.items())
        if not query or query in key.lower() or query in str(value).lower()
    ]
    try:
        history = flow_admin.prompt_versions(get_session(), lang)
    except flow_admin.NotFound:
        history = []
    problems = extra.pop("problems", None) or (detail.draft.problems if detail.draft else [])
    page = render_template(
        "console/admin/prompts.html",
        lang=lang,
        can_listen=tts() is not None and lang in VOICES,
        detail=detail,
        rows=rows[:SHOWN],
        more=len(rows) > SHOWN,
        query=query,
        problems=problems,
        versions=history,
        base_version=detail.draft.base_version if detail.draft else detail.published_version,
        **extra,
    )
    return page, status


@bp.route("/admin/prompts")
@require(*ADMINS)
def admin_prompts() -> ResponseReturnValue:
    """Every language the line speaks, with its published version and whether a draft waits."""
    db = get_session()
    found = [flow_admin.get_prompts(db, lang) for lang in flow_admin.languages(db)]
    texts = {d.language: d.draft.texts if d.draft else d.texts for d in found}
    reference = texts.get(REFERENCE, {})
    report = {lang: coverage(reference, t) for lang, t in texts.items() if lang != REFERENCE}
    return render_template(
        "console/admin/prompt_languages.html",
        languages=found,
        report=report,
        reference=REFERENCE,
    )


@bp.route("/admin/prompts/<lang>")
@require(*ADMINS)
def admin_prompt_texts(lang: str) -> ResponseReturnValue:
    """One language's texts (the draft's, else the published), searchable by key or text."""
    return _page(lang)


@bp.route("/admin/prompts/<lang>/draft", methods=["POST"])
@require(*ADMINS)
def admin_save_prompts(lang: str) -> ResponseReturnValue:
    """Save the changed texts into the language's draft; their placeholders are checked."""
    db = get_session()
    detail = _detail(lang)
    current = detail.draft.texts if detail.draft is not None else detail.texts
    keys, texts = request.form.getlist("key"), request.form.getlist("text")
    changes = {
        key: text.replace("\r\n", " ").replace("\n", " ")
        for key, text in zip(keys, texts, strict=False)
        if key in current and isinstance(current[key], str) and text != current[key]
    }
    try:
        base = int(request.form.get("base_version", ""))
    except ValueError:
        base = -1
    if not changes:
        flash("Nothing changed: nothing was saved.")
        return redirect(url_for("console.admin_prompt_texts", lang=lang))
    user = admin_user()
    try:
        problems = flow_admin.save_prompt_draft(db, lang, changes, base, user.name)
    except flow_admin.StaleDraft as exc:
        db.rollback()
        return _page(lang, status=409, error=f"Not saved: {exc}.")
    audit(db, user, "save_draft", "prompts", lang)
    db.commit()
    if problems:
        flash(f"Draft saved with {len(problems)} problem(s) to fix before it can be published.")
    else:
        flash(f"Draft saved: {len(changes)} text(s) changed, no problems found.")
    return redirect(url_for("console.admin_prompt_texts", lang=lang, q=request.form.get("q", "")))


@bp.route("/admin/prompts/<lang>/publish", methods=["POST"])
@require(*ADMINS)
def admin_publish_prompts(lang: str) -> ResponseReturnValue:
    """Publish the language's draft as a new version; refused while it has problems."""
    db = get_session()
    comment = " ".join(request.form.get("comment", "").split())[:500]
    user = admin_user()
    try:
        version = flow_admin.publish_prompts(db, lang, comment, user.name)
    except flow_admin.DraftInvalid as exc:
        db.rollback()
        return _page(lang, status=422, problems=exc.problems, error="Not published: see below.")
    except (flow_admin.NoDraft, flow_admin.StaleDraft) as exc:
        db.rollback()
        return _page(lang, status=409, error=f"Not published: {exc}.")
    audit(db, user, "publish", "prompts", f"{lang}@{version}")
    db.commit()
    flash(f"Published as version {version}: new calls hear it within seconds.")
    return redirect(url_for("console.admin_prompt_texts", lang=lang))


@bp.route("/admin/prompts/<lang>/diff")
@require(*ADMINS)
def admin_prompt_diff(lang: str) -> ResponseReturnValue:
    """The unified diff of a language's texts between two versions."""
    back = url_for("console.admin_prompt_texts", lang=lang)
    return diff_page(flow_admin.prompt_diff, lang, f"Prompts {lang}", back)


@bp.route("/admin/prompts/<lang>/rollback", methods=["POST"])
@require(*ADMINS)
def admin_rollback_prompts(lang: str) -> ResponseReturnValue:
    """Publish the language's texts as they were in an earlier version, as a new version."""
    db = get_session()
    try:
        old = int(request.form.get("version", ""))
        version = flow_admin.rollback_prompts(db, lang, old, admin_user().name)
    except (ValueError, flow_admin.NotFound):
        db.rollback()
        abort(404)
    except (flow_admin.DraftInvalid, flow_admin.StaleDraft) as exc:
        db.rollback()
        return _page(lang, status=409, error=f"Not rolled back: {exc}.")
    audit(db, admin_user(), "rollback", "prompts", f"{lang}@{version}")
    db.commit()
    flash(f"Version {old} of the {lang} texts is published again, as version {version}.")
    return redirect(url_for("console.admin_prompt_texts", lang=lang))


@bp.route("/admin/prompts/<lang>/listen")
@require(*ADMINS)
def admin_listen_prompt(lang: str) -> ResponseReturnValue:
    """One text (the draft's, else the published) spoken by espeak-ng, as WAV; 404 when the
    server has no espeak-ng, the language no voice, or the key no text."""
    espeak = tts()
    detail = _detail(lang)
    texts = detail.draft.texts if detail.draft is not None else detail.texts
    text = texts.get(request.args.get("key", ""))
    if espeak is None or lang not in VOICES or not isinstance(text, str):
        abort(404)
    try:
        done = subprocess.run(
            [espeak, "-v", VOICES[lang], "--stdout", "--stdin"],
            input=spoken_sample(text).encode(),
            capture_output=True,
            timeout=LISTEN_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        abort(503)
    return Response(done.stdout, mimetype="audio/wav", headers={"Cache-Control": "no-store"})
