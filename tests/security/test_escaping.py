"""Names with HTML in them (issue 10 item 5): a member named `<script>alert(1)</script>`, made
through the API. Every e-mail the notifications service sends them (the welcome and the sign-in code,
end to end through the bus and the fake provider) and every e-mail template rendered with their name
as stored escape it in the HTML part; the HTML pages the suite serves never carry it raw; the JSON that
does carry it is served as JSON that browsers won't sniff."""

from __future__ import annotations

import pytest

from club_shared.testing.bus import latest_outbox_event, wait_for_handled

EVIL_FIRST = "<script>alert(1)</script>"
EVIL_LAST = '"><img src=x onerror=alert(2)>'
RAW = ("<script>", "<img src=x", "onerror=alert(2)>")


def _sent(suite, email_provider, address, count):
    """Run notifications' due jobs until `count` e-mails reached the provider for `address` (its worker
    thread may send them first; either is fine)."""
    from club_notifications.jobs import make_jobs

    runner = make_jobs(suite.runtimes["notifications"])
    for _ in range(500):
        if len(email_provider.sent_to(address)) >= count:
            break
        runner.run_due()
    sent = email_provider.sent_to(address)
    assert len(sent) >= count, [s.body.get("subject") for s in sent]
    return sent


def _assert_escaped(html: str, where: str):
    for raw in RAW:
        assert raw not in html, f"{where}: {raw!r} is not escaped"


@pytest.fixture(scope="module")
def evil(suite, client, make_member):
    member, headers = make_member(EVIL_FIRST, EVIL_LAST, status="active", tier="premium")
    assert member["first_name"] == EVIL_FIRST  # kept verbatim: escaping is the renderer's job
    created = latest_outbox_event(
        suite.runtimes["membership"], "membership.member.created", member_id=member["id"]
    )
    wait_for_handled(suite.runtimes["notifications"], "notifications", created.event_id, timeout=20)
    return member, headers


def test_every_email_sent_to_them_escapes_the_name(suite, client, evil, email_provider):
    member, _ = evil
    address = member["email"]
    assert (
        client.post(
            "/api/v1/auth/codes", json={"email": address}, environ_base={"REMOTE_ADDR": "203.0.113.99"}
        ).status_code
        == 202
    )
    code = latest_outbox_event(suite.runtimes["membership"], "membership.signin.code_issued", email=address)
    wait_for_handled(suite.runtimes["notifications"], "notifications", code.event_id, timeout=20)
    sent = _sent(suite, email_provider, address, 2)
    subjects = [s.body["subject"] for s in sent]
    assert any("elcome" in s for s in subjects), subjects
    welcomed = False
    for email in sent:
        _assert_escaped(email.body["html"], email.body["subject"])
        # the subject is plain text (a header): no line breaks to inject headers with
        assert "\n" not in email.body["subject"] and "\r" not in email.body["subject"]
        if "&lt;script&gt;" in email.body["html"]:
            welcomed = True
    assert welcomed, "the name never reached an e-mail, so nothing was proved"


def test_every_template_escapes_the_name_as_stored(client, evil):
    from club_notifications.domain import emails

    _, headers = evil
    me = client.get("/api/v1/me", headers=headers).get_json()
    name = me["first_name"] + " " + me["last_name"]
    for template in emails.TEMPLATES:
        context = {key: name for key in _fields_of(emails, template)}
        context.update(
            {k: 1 for k in ("booking_id", "purchase_id", "days_left", "expires_in_minutes") if k in context}
        )
        context.update({k: "https://app.example.com/x" for k in ("link",) if k in context})
        rendered = emails.render(template, context, app_url="https://app.example.com")
        _assert_escaped(rendered.html, template)
        assert "\n" not in rendered.subject


def _fields_of(emails, template):
    """The variables a template uses (from its sources)."""
    import re

    subject, html, text = emails.TEMPLATES[template]
    return set(re.findall(r"{{\s*([a-z_]+)", subject + html + text)) | set(
        re.findall(r"{%\s*if\s+([a-z_]+)", html + text)
    )


def test_html_pages_never_carry_the_name_raw_and_json_is_not_sniffed(client, evil, admin_headers):
    member, headers = evil
    pages = [
        "/docs",
        "/docs/",
        "/openapi.json",
        "/healthz",
        f"/api/v1/members/{member['id']}",
        "/api/v1/me",
        "/api/v1/notifications",
        f"/no-such-page/{EVIL_FIRST}",
    ]
    for path in pages:
        for who in (headers, admin_headers):
            response = client.get(path, headers=who, follow_redirects=True)
            body = response.get_data(as_text=True)
            if response.mimetype == "text/html":
                _assert_escaped(body, path)
            elif EVIL_FIRST in body:
                assert response.mimetype in ("application/json", "application/problem+json"), (
                    path,
                    response.mimetype,
                )
                assert response.headers.get("X-Content-Type-Options") == "nosniff", (
                    path,
                    dict(response.headers),
                )
