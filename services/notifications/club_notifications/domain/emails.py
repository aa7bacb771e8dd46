"""E-mail templates: an HTML part (Jinja2 with autoescape: every value is escaped) and a plain-text
part for each, and a subject. Plain Python: nothing here sends anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

_LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: Helvetica, Arial, sans-serif; color: #1f2a24; max-width: 560px; margin: 0 auto;">
<h2 style="color: #22573a;">{{ club_name }}</h2>
{% block body %}{% endblock %}
<p style="color: #6b7a70; font-size: 12px;">{{ club_name }} · <a href="{{ app_url }}">{{ app_url }}</a></p>
</body></html>"""

_HELLO = "{% if first_name %}Hi {{ first_name }},{% else %}Hello,{% endif %}"

#: name → (subject, HTML body, text body). Subjects and text parts are not HTML: not escaped.
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "signin_code": (
        "Your sign-in code: {{ code }}",
        '<p>Your sign-in code is</p><p style="font-size: 28px; letter-spacing: 4px;"><b>{{ code }}</b></p>'
        '{% if link %}<p>Or <a href="{{ link }}">sign in with this link</a>.</p>{% endif %}'
        "<p>It is valid for {{ expires_in_minutes }} minutes. If you did not ask for it, ignore this e-mail.</p>",
        "Your sign-in code is {{ code }}\n{% if link %}Or sign in with this link: {{ link }}\n{% endif %}"
        "It is valid for {{ expires_in_minutes }} minutes. If you did not ask for it, ignore this e-mail.\n",
    ),
    "welcome": (
        "Welcome to {{ club_name }}",
        f"<p>{_HELLO}</p><p>Welcome to the club! Your membership account is ready. "
        'Book a bay, join an event or a class from <a href="{{ app_url }}">the member app</a>.</p>',
        f"{_HELLO}\n\nWelcome to the club! Your membership account is ready.\n"
        "Book a bay, join an event or a class from the member app: {{ app_url }}\n",
    ),
    "booking_approved": (
        "Booking approved: {{ resource }}, {{ when }}",
        f"<p>{_HELLO}</p><p>Your booking of <b>{{{{ resource }}}}</b> on <b>{{{{ when }}}}</b> is approved.</p>"
        '<p><a href="{{ app_url }}/bookings/{{ booking_id }}">See your booking</a></p>',
        f"{_HELLO}\n\nYour booking of {{{{ resource }}}} on {{{{ when }}}} is approved.\n"
        "See it at {{ app_url }}/bookings/{{ booking_id }}\n",
    ),
    "booking_declined": (
        "Booking request declined: {{ resource }}, {{ when }}",
        f"<p>{_HELLO}</p><p>We could not approve your request for <b>{{{{ resource }}}}</b> on "
        "<b>{{ when }}</b>.</p>{% if reason %}<p>Reason: {{ reason }}</p>{% endif %}",
        f"{_HELLO}\n\nWe could not approve your request for {{{{ resource }}}} on {{{{ when }}}}.\n"
        "{% if reason %}Reason: {{ reason }}\n{% endif %}",
    ),
    "booking_cancelled": (
        "Booking cancelled: {{ resource }}, {{ when }}",
        f"<p>{_HELLO}</p><p>Your booking of <b>{{{{ resource }}}}</b> on <b>{{{{ when }}}}</b> has been "
        "cancelled{% if by == 'staff' %} by the club{% endif %}.</p>",
        f"{_HELLO}\n\nYour booking of {{{{ resource }}}} on {{{{ when }}}} has been cancelled"
        "{% if by == 'staff' %} by the club{% endif %}.\n",
    ),
    "booking_reminder": (
        "Tomorrow: {{ title }}",
        f"<p>{_HELLO}</p><p>A reminder: <b>{{{{ title }}}}</b> tomorrow, {{{{ when }}}}.</p>",
        f"{_HELLO}\n\nA reminder: {{{{ title }}}} tomorrow, {{{{ when }}}}.\n",
    ),
    "payment_receipt": (
        "Receipt: {{ amount }} for {{ description }}",
        f"<p>{_HELLO}</p><p>We received <b>{{{{ amount }}}}</b> for {{{{ description }}}}. Thank you!</p>",
        f"{_HELLO}\n\nWe received {{{{ amount }}}} for {{{{ description }}}}. Thank you!\n",
    ),
    "payment_failed": (
        "Payment failed: {{ amount }}",
        f"<p>{_HELLO}</p><p>Your payment of <b>{{{{ amount }}}}</b> for {{{{ description }}}} failed"
        "{% if reason %} ({{ reason }}){% endif %}.</p>"
        '<p>Please <a href="{{ app_url }}/billing">update your card</a>.</p>',
        f"{_HELLO}\n\nYour payment of {{{{ amount }}}} for {{{{ description }}}} failed"
        "{% if reason %} ({{ reason }}){% endif %}.\nPlease update your card: {{ app_url }}/billing\n",
    ),
    "grace_reminder": (
        "Action needed: your membership payment failed",
        f"<p>{_HELLO}</p><p>Your membership payment failed. Please "
        '<a href="{{ app_url }}/billing">update your card</a> within {{ days_left }} day(s) '
        "to keep your membership.</p>",
        f"{_HELLO}\n\nYour membership payment failed. Please update your card within {{{{ days_left }}}} "
        "day(s) to keep your membership: {{ app_url }}/billing\n",
    ),
    "day_pass": (
        "Your day pass: {{ product }}",
        "<p>Thank you for your purchase of <b>{{ product }}</b>.</p>"
        "<p>Show this code at the front desk:</p>"
        '<p><img src="cid:day-pass-qr" alt="QR code {{ pass_code }}" width="220" height="220"></p>'
        '<p style="font-size: 20px;"><b>{{ pass_code }}</b></p>'
        "{% if valid_until %}<p>Valid until {{ valid_until }}.</p>{% endif %}",
        "Thank you for your purchase of {{ product }}.\nShow this code at the front desk: {{ pass_code }}\n"
        "{% if valid_until %}Valid until {{ valid_until }}.\n{% endif %}",
    ),
    "notice": (
        "{{ title }}",
        '<p>{{ message }}</p>{% if link %}<p><a href="{{ app_url }}{{ link }}">Open in the app</a></p>{% endif %}',
        "{{ message }}\n{% if link %}\n{{ app_url }}{{ link }}\n{% endif %}",
    ),
    "event_cancelled": (
        "Cancelled: {{ title }}, {{ when }}",
        f"<p>{_HELLO}</p><p><b>{{{{ title }}}}</b> on {{{{ when }}}} is cancelled, and your RSVP with it. "
        "We're sorry to miss you there.</p>",
        f"{_HELLO}\n\n{{{{ title }}}} on {{{{ when }}}} is cancelled, and your RSVP with it. "
        "We're sorry to miss you there.\n",
    ),
    "wellness_cancelled": (
        "Cancelled: {{ title }}, {{ when }}",
        "<p>Hello,</p><p>The club cancelled your place in <b>{{ title }}</b> on {{ when }}. We're sorry "
        'for the change; <a href="{{ app_url }}/wellness">other classes</a> have places.</p>',
        "Hello,\n\nThe club cancelled your place in {{ title }} on {{ when }}. We're sorry for the change; "
        "other classes have places: {{ app_url }}/wellness\n",
    ),
    "tour_confirmation": (
        "Your tour of {{ club_name }}: {{ when }}",
        "<p>Hi {{ visitor_name }},</p><p>Your tour is booked for <b>{{ when }}</b>. We look forward to "
        "meeting you.</p>",
        "Hi {{ visitor_name }},\n\nYour tour is booked for {{ when }}. We look forward to meeting you.\n",
    ),
    "first_visit": (
        "Thanks for visiting {{ club_name }}",
        f"<p>{_HELLO}</p><p>Thank you for your first visit during your trial. We hope you enjoyed it! "
        'Book a bay, join an event or a class from <a href="{{ app_url }}">the member app</a>.</p>',
        f"{_HELLO}\n\nThank you for your first visit during your trial. We hope you enjoyed it!\n"
        "Book a bay, join an event or a class from the member app: {{ app_url }}\n",
    ),
}

#: Templates whose body must never be stored (the communication log keeps only the subject line
#: without the secret and this note).
SECRET_TEMPLATES = {"signin_code": "Sign-in code e-mail (the code is not stored)."}
SECRET_SUBJECTS = {"signin_code": "Your sign-in code"}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def _environments() -> tuple[Environment, Environment]:
    html_sources = {
        f"{name}.html": "{% extends '_layout.html' %}{% block body %}" + html + "{% endblock %}"
        for name, (_s, html, _t) in TEMPLATES.items()
    }
    html_sources["_layout.html"] = _LAYOUT
    html = Environment(
        loader=DictLoader(html_sources),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    plain_sources = {f"{name}.txt": text for name, (_s, _h, text) in TEMPLATES.items()}
    plain_sources |= {f"{name}.subject": subject for name, (subject, _h, _t) in TEMPLATES.items()}
    plain = Environment(loader=DictLoader(plain_sources), autoescape=False, undefined=StrictUndefined)
    return html, plain


_HTML, _PLAIN = _environments()


def _one_line(value: str) -> str:
    return " ".join(value.split())[:250]


def render(
    template: str, context: dict[str, Any], *, club_name: str = "Clubhouse", app_url: str = ""
) -> RenderedEmail:
    if template not in TEMPLATES:
        raise KeyError(f"no e-mail template {template}")
    values = {"club_name": club_name, "app_url": app_url.rstrip("/"), **context}
    subject = _one_line(_PLAIN.get_template(f"{template}.subject").render(values))
    values["subject"] = subject
    html = _HTML.get_template(f"{template}.html").render(values)
    text = _PLAIN.get_template(f"{template}.txt").render(values)
    return RenderedEmail(subject=subject, html=html, text=text)


def loggable(template: str, rendered: RenderedEmail) -> tuple[str, str]:
    """(subject, body) as the communication log may keep them: never a secret."""
    if template in SECRET_TEMPLATES:
        return SECRET_SUBJECTS[template], SECRET_TEMPLATES[template]
    return rendered.subject, rendered.text
