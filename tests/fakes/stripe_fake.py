"""A stateful fake of Stripe's HTTP API, for tests and `make stack` (one fake, one process).

It speaks the wire protocol the official `stripe` client uses: form-encoded bodies with Stripe's
nested keys (`metadata[booking_id]=7`, `lines[0][amount]=2500`), bearer keys, `Idempotency-Key`
replays, JSON objects with `id`/`object`, and Stripe's error shape. It covers what billing uses:
customers, payment methods, payment intents, refunds, charges, invoices and invoice items, products
and prices, coupons, subscriptions and Checkout sessions. Every change is also recorded as a Stripe
event (`GET /v1/events`), and `sign()` signs a webhook payload with Stripe's real scheme
(`Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">`).

Test helpers: `POST /_fake/reset`, `GET /_fake/requests` (what was called, with idempotency keys),
`POST /_fake/fail` {"path": "/v1/invoices", "status": 500, "times": 1} to make the next calls fail.

Run it alone: `python tests/fakes/stripe_fake.py --port 12111`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

DECLINE_CARDS = {"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined", "pm_card_declined"}


def sign(
    payload: bytes | str, secret: str, timestamp: int | None = None, extra_secrets: tuple[str, ...] = ()
) -> str:
    """The Stripe-Signature header for `payload` (several v1 entries when given several secrets)."""
    if isinstance(payload, str):
        payload = payload.encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    parts = [f"t={timestamp}"]
    for key in (*extra_secrets, secret):
        parts.append("v1=" + hmac.new(key.encode(), signed, hashlib.sha256).hexdigest())
    return ",".join(parts)


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's nested form encoding into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "[]":
                part = str(len(node)) if isinstance(node, dict) else len(node)
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def _int(value: Any, default: int = 0) -> int:
    return int(value) if value not in (None, "") else default


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


class StripeError(Exception):
    def __init__(
        self, status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code


class FakeStripe:
    """The state and the WSGI app."""

    def __init__(self, api_key_prefix: str = "sk_"):
        self.api_key_prefix = api_key_prefix
        self.lock = threading.RLock()
        self.reset()

    # --- state -----------------------------------------------------------------------------------

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            self.objects: dict[str, dict[str, dict[str, Any]]] = {}
            self.events: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.idempotent: dict[str, tuple[str, int, bytes]] = {}
            self.failures: list[dict[str, Any]] = []
            self.counter = itertools.count(1)
            self.clock = int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self.counter):06d}"

    def now(self) -> int:
        self.clock = max(self.clock + 1, int(time.time()))
        return self.clock

    def store(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        try:
            return self.objects[kind][object_id]
        except KeyError:
            raise StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing") from None

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": self.now(),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": json.loads(json.dumps(obj))},
        }
        if previous:
            event["data"]["previous_attributes"] = previous
        self.events.append(event)
        return event

    def event(self, event_type: str, obj: dict[str, Any], **overrides) -> dict[str, Any]:
        """A Stripe event for tests to sign and deliver (not recorded)."""
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": self.now(),
            "type": event_type,
            "livemode": False,
            "data": {"object": obj},
        }
        event.update(overrides)
        return event

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    # --- WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_fake/"):
            return self._control(request)
        with self.lock:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith(f"Bearer {self.api_key_prefix}"):
                return self._error(
                    StripeError(401, "Invalid API Key provided", type_="invalid_request_error")
                )
            body = request.get_data(as_text=True)
            params = (
                parse_form(body) if request.method == "POST" else parse_form(request.query_string.decode())
            )
            key = request.headers.get("Idempotency-Key")
            self.requests.append(
                {"method": request.method, "path": path, "params": params, "idempotency_key": key}
            )
            if key and request.method == "POST":
                cached = self.idempotent.get(key)
                if cached is not None:
                    if cached[0] != f"{path}?{body}":
                        return self._error(
                            StripeError(
                                400,
                                "Keys for idempotent requests can only be used with the same parameters "
                                "they were first used with.",
                                type_="idempotency_error",
                            )
                        )
                    return Response(
                        cached[2],
                        status=cached[1],
                        mimetype="application/json",
                        headers={"Idempotent-Replayed": "true"},
                    )
            for failure in self.failures:
                if failure["times"] > 0 and path.startswith(failure["path"]):
                    failure["times"] -= 1
                    return self._error(
                        StripeError(failure.get("status", 500), "Injected failure", type_="api_error")
                    )
            try:
                status, result = 200, self.route(request.method, path, params)
            except StripeError as exc:
                response = self._error(exc)
                status, payload = exc.status, response.get_data()
            else:
                payload = json.dumps(result).encode()
                response = Response(payload, status=status, mimetype="application/json")
            if key and request.method == "POST" and status < 500:
                self.idempotent[key] = (f"{path}?{body}", status, payload)
            response.headers["Request-Id"] = self.new_id("req")
            return response

    def _error(self, exc: StripeError) -> Response:
        body = {"error": {"type": exc.type, "message": exc.message}}
        if exc.code:
            body["error"]["code"] = exc.code
        return Response(json.dumps(body), status=exc.status, mimetype="application/json")

    def _control(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/_fake/reset":
                self.reset()
                return Response("{}", mimetype="application/json")
            if request.path == "/_fake/requests":
                return Response(json.dumps(self.requests), mimetype="application/json")
            if request.path == "/_fake/events":
                return Response(json.dumps(self.events), mimetype="application/json")
            if request.path == "/_fake/fail":
                self.failures.append({"times": 1, **(request.get_json() or {})})
                return Response("{}", mimetype="application/json")
        return Response("{}", status=404, mimetype="application/json")

    # --- routing ---------------------------------------------------------------------------------

    ROUTES = [
        ("POST", r"/v1/customers", "create_customer"),
        ("GET", r"/v1/customers", "list_customers"),
        ("GET", r"/v1/customers/search", "search_customers"),
        ("GET", r"/v1/customers/(?P<id>[^/]+)", "retrieve_customer"),
        ("POST", r"/v1/customers/(?P<id>[^/]+)/balance_transactions", "create_balance_transaction"),
        ("POST", r"/v1/customers/(?P<id>[^/]+)", "update_customer"),
        ("POST", r"/v1/payment_methods", "create_payment_method"),
        ("GET", r"/v1/payment_methods/(?P<id>[^/]+)", "retrieve_payment_method"),
        ("POST", r"/v1/payment_intents", "create_payment_intent"),
        ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "retrieve_payment_intent"),
        ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/confirm", "confirm_payment_intent"),
        ("POST", r"/v1/payment_intents/(?P<id>[^/]+)/cancel", "cancel_payment_intent"),
        ("POST", r"/v1/refunds", "create_refund"),
        ("GET", r"/v1/refunds/(?P<id>[^/]+)", "retrieve_refund"),
        ("GET", r"/v1/charges/(?P<id>[^/]+)", "retrieve_charge"),
        ("POST", r"/v1/invoices", "create_invoice"),
        ("GET", r"/v1/invoices/(?P<id>[^/]+)", "retrieve_invoice"),
        ("POST", r"/v1/invoices/(?P<id>[^/]+)", "update_invoice"),
        ("DELETE", r"/v1/invoices/(?P<id>[^/]+)", "delete_invoice"),
        ("POST", r"/v1/invoices/(?P<id>[^/]+)/finalize", "finalize_invoice"),
        ("POST", r"/v1/invoices/(?P<id>[^/]+)/pay", "pay_invoice"),
        ("POST", r"/v1/invoices/(?P<id>[^/]+)/void", "void_invoice"),
        ("POST", r"/v1/invoiceitems", "create_invoice_item"),
        ("DELETE", r"/v1/invoiceitems/(?P<id>[^/]+)", "delete_invoice_item"),
        ("POST", r"/v1/products", "create_product"),
        ("GET", r"/v1/products", "list_products"),
        ("POST", r"/v1/prices", "create_price"),
        ("GET", r"/v1/prices", "list_prices"),
        ("GET", r"/v1/prices/(?P<id>[^/]+)", "retrieve_price"),
        ("POST", r"/v1/coupons", "create_coupon"),
        ("GET", r"/v1/coupons/(?P<id>[^/]+)", "retrieve_coupon"),
        ("POST", r"/v1/subscriptions", "create_subscription"),
        ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", "retrieve_subscription"),
        ("POST", r"/v1/subscriptions/(?P<id>[^/]+)", "update_subscription"),
        ("DELETE", r"/v1/subscriptions/(?P<id>[^/]+)", "cancel_subscription"),
        ("POST", r"/v1/subscription_items", "create_subscription_item"),
        ("POST", r"/v1/subscription_items/(?P<id>[^/]+)", "update_subscription_item"),
        ("DELETE", r"/v1/subscription_items/(?P<id>[^/]+)", "delete_subscription_item"),
        ("POST", r"/v1/checkout/sessions", "create_checkout_session"),
        ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", "retrieve_checkout_session"),
        ("POST", r"/v1/billing_portal/sessions", "create_portal_session"),
        ("GET", r"/v1/events", "list_events"),
    ]

    def route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        for verb, pattern, handler in self.ROUTES:
            if verb == method:
                match = re.fullmatch(pattern, path)
                if match:
                    return getattr(self, handler)(params, **match.groupdict())
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _list(items: list[dict[str, Any]], url: str) -> dict[str, Any]:
        return {"object": "list", "data": items, "has_more": False, "url": url}

    # --- customers and payment methods ----------------------------------------------------------

    def create_customer(self, p):
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "email": p.get("email"),
            "name": p.get("name"),
            "metadata": p.get("metadata", {}),
            "balance": _int(p.get("balance")),
            "created": self.now(),
            "invoice_settings": {
                "default_payment_method": (p.get("invoice_settings") or {}).get("default_payment_method")
                or p.get("payment_method")
                or "pm_card_visa"
            },
        }
        self.store("customer", customer)
        self.emit("customer.created", customer)
        return customer

    def list_customers(self, p):
        items = list(self.objects.get("customer", {}).values())
        if p.get("email"):
            items = [c for c in items if c.get("email") == p["email"]]
        return self._list(items[: _int(p.get("limit"), 10)], "/v1/customers")

    def search_customers(self, p):
        match = re.search(r"email:'([^']*)'", p.get("query", ""))
        items = [
            c for c in self.objects.get("customer", {}).values() if match and c.get("email") == match.group(1)
        ]
        return {"object": "search_result", "data": items, "has_more": False, "url": "/v1/customers/search"}

    def retrieve_customer(self, p, id):
        return self.get("customer", id)

    def create_balance_transaction(self, p, id):
        customer = self.get("customer", id)
        amount = _int(p.get("amount"))
        customer["balance"] += amount
        transaction = {
            "id": self.new_id("cbtxn"),
            "object": "customer_balance_transaction",
            "amount": amount,
            "customer": id,
            "description": p.get("description"),
            "ending_balance": customer["balance"],
        }
        self.emit("customer.updated", customer)
        return transaction

    def update_customer(self, p, id):
        customer = self.get("customer", id)
        for key in ("email", "name"):
            if key in p:
                customer[key] = p[key]
        if "metadata" in p:
            customer["metadata"].update(p["metadata"])
        if "invoice_settings" in p:
            customer["invoice_settings"].update(p["invoice_settings"])
        if "balance" in p:
            customer["balance"] = _int(p["balance"])
        self.emit("customer.updated", customer)
        return customer

    #: Stripe's test card tokens: a Visa that expires years from now
    TEST_CARDS = {"pm_card_visa": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}}

    def create_payment_method(self, p):
        card = p.get("card") or {}
        method = {
            "id": self.new_id("pm"),
            "object": "payment_method",
            "type": p.get("type", "card"),
            "customer": p.get("customer"),
            "created": self.now(),
            "card": {
                "brand": card.get("brand", "visa"),
                "last4": str(card.get("number", "4242424242424242"))[-4:],
                "exp_month": _int(card.get("exp_month"), 12),
                "exp_year": _int(card.get("exp_year"), 2034),
            },
        }
        return self.store("payment_method", method)

    def retrieve_payment_method(self, p, id):
        if id in self.TEST_CARDS and id not in self.objects.get("payment_method", {}):
            return {"id": id, "object": "payment_method", "type": "card", "card": dict(self.TEST_CARDS[id])}
        return self.get("payment_method", id)

    # --- payment intents, charges, refunds ------------------------------------------------------

    def _charge_for(self, intent: dict[str, Any]) -> dict[str, Any]:
        charge = {
            "id": self.new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "customer": intent.get("customer"),
            "payment_intent": intent["id"],
            "invoice": intent.get("invoice"),
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "created": self.now(),
            "metadata": intent.get("metadata", {}),
            "billing_details": {"email": intent.get("receipt_email")},
        }
        intent["latest_charge"] = charge["id"]
        return self.store("charge", charge)

    def _attempt(self, intent: dict[str, Any], payment_method: str | None) -> dict[str, Any]:
        payment_method = payment_method or intent.get("payment_method")
        if not payment_method and intent.get("customer"):
            customer = self.objects.get("customer", {}).get(intent["customer"])
            payment_method = customer and customer["invoice_settings"].get("default_payment_method")
        intent["payment_method"] = payment_method
        if not payment_method:
            intent["status"] = "requires_payment_method"
            return intent
        if payment_method in DECLINE_CARDS:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
            self.emit("payment_intent.payment_failed", intent)
            return intent
        if payment_method == "pm_card_authenticationRequired":
            intent["status"] = "requires_action"
            self.emit("payment_intent.requires_action", intent)
            return intent
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        charge = self._charge_for(intent)
        self.emit("charge.succeeded", charge)
        self.emit("payment_intent.succeeded", intent)
        return intent

    def create_payment_intent(self, p):
        amount = _int(p.get("amount"))
        if amount < 1:
            raise StripeError(
                400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer"
            )
        intent = {
            "id": self.new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": p.get("currency", "usd"),
            "customer": p.get("customer"),
            "description": p.get("description"),
            "metadata": p.get("metadata", {}),
            "payment_method": p.get("payment_method"),
            "receipt_email": p.get("receipt_email"),
            "status": "requires_payment_method" if not p.get("payment_method") else "requires_confirmation",
            "client_secret": None,
            "latest_charge": None,
            "invoice": p.get("invoice"),
            "last_payment_error": None,
            "created": self.now(),
        }
        intent["client_secret"] = f"{intent['id']}_secret_fake"
        self.store("payment_intent", intent)
        self.emit("payment_intent.created", intent)
        if _bool(p.get("confirm")):
            self._attempt(intent, p.get("payment_method"))
        return intent

    def retrieve_payment_intent(self, p, id):
        return self.get("payment_intent", id)

    def confirm_payment_intent(self, p, id):
        intent = self.get("payment_intent", id)
        if intent["status"] == "succeeded":
            raise StripeError(
                400, "This PaymentIntent has already succeeded.", code="payment_intent_unexpected_state"
            )
        return self._attempt(intent, p.get("payment_method"))

    def cancel_payment_intent(self, p, id):
        intent = self.get("payment_intent", id)
        if intent["status"] in ("succeeded", "canceled"):
            raise StripeError(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent["status"] = "canceled"
        intent["cancellation_reason"] = p.get("cancellation_reason")
        self.emit("payment_intent.canceled", intent)
        return intent

    def create_refund(self, p):
        intent_id = p.get("payment_intent")
        charge_id = p.get("charge")
        intent = self.get("payment_intent", intent_id) if intent_id else None
        if intent is not None:
            charge_id = intent.get("latest_charge")
        if not charge_id:
            raise StripeError(400, "This PaymentIntent does not have a successful charge to refund.")
        charge = self.get("charge", charge_id)
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = _int(p.get("amount"), remaining)
        if amount > remaining or remaining <= 0:
            raise StripeError(
                400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge_id,
            "payment_intent": charge["payment_intent"],
            "status": "succeeded",
            "reason": p.get("reason"),
            "metadata": p.get("metadata", {}),
            "created": self.now(),
        }
        self.store("refund", refund)
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge)
        return refund

    def retrieve_refund(self, p, id):
        return self.get("refund", id)

    def retrieve_charge(self, p, id):
        return self.get("charge", id)

    # --- invoices --------------------------------------------------------------------------------

    def _recount(self, invoice: dict[str, Any]) -> None:
        lines = invoice["lines"]["data"]
        total = sum(line["amount"] for line in lines)
        invoice["subtotal"] = invoice["total"] = total
        invoice["amount_due"] = max(0, total - invoice.get("amount_paid", 0))
        invoice["amount_remaining"] = invoice["amount_due"]

    def create_invoice(self, p):
        customer = self.get("customer", p.get("customer", ""))
        invoice = {
            "id": self.new_id("in"),
            "object": "invoice",
            "customer": customer["id"],
            "customer_email": customer.get("email"),
            "status": "draft",
            "auto_advance": _bool(p.get("auto_advance", "false")),
            "collection_method": p.get("collection_method", "charge_automatically"),
            "description": p.get("description"),
            "metadata": p.get("metadata", {}),
            "lines": {"object": "list", "data": [], "has_more": False},
            "amount_paid": 0,
            "paid_out_of_band": False,
            "payment_intent": None,
            "subscription": p.get("subscription"),
            "hosted_invoice_url": None,
            "created": self.now(),
            "payment_settings": p.get("payment_settings", {}),
        }
        self._recount(invoice)
        self.store("invoice", invoice)
        self.emit("invoice.created", invoice)
        return invoice

    def retrieve_invoice(self, p, id):
        return self.get("invoice", id)

    def update_invoice(self, p, id):
        invoice = self.get("invoice", id)
        if invoice["status"] != "draft" and set(p) - {"metadata"}:
            raise StripeError(400, "You can only modify draft invoices.", code="invoice_not_editable")
        if "metadata" in p:
            invoice["metadata"].update(p["metadata"])
        for key in ("description", "auto_advance"):
            if key in p:
                invoice[key] = p[key] if key != "auto_advance" else _bool(p[key])
        self.emit("invoice.updated", invoice)
        return invoice

    def delete_invoice(self, p, id):
        invoice = self.get("invoice", id)
        if invoice["status"] != "draft":
            raise StripeError(400, "You can only delete draft invoices.", code="invoice_not_editable")
        invoice["status"] = "deleted"
        del self.objects["invoice"][id]
        self.emit("invoice.deleted", invoice)
        return {"id": id, "object": "invoice", "deleted": True}

    def finalize_invoice(self, p, id):
        invoice = self.get("invoice", id)
        if invoice["status"] != "draft":
            raise StripeError(400, "This invoice is already finalized.", code="invoice_unexpected_state")
        self._recount(invoice)
        invoice["status"] = "open"
        invoice["number"] = f"FAKE-{next(self.counter):04d}"
        invoice["hosted_invoice_url"] = f"https://invoice.stripe.fake/{id}"
        if invoice["total"] > 0:
            intent = self.create_payment_intent(
                {
                    "amount": str(invoice["total"]),
                    "customer": invoice["customer"],
                    "metadata": invoice["metadata"],
                }
            )
            intent["invoice"] = id
            invoice["payment_intent"] = intent["id"]
        self.emit("invoice.finalized", invoice)
        return invoice

    def pay_invoice(self, p, id):
        invoice = self.get("invoice", id)
        if invoice["status"] == "draft":
            self.finalize_invoice({}, id)
        if invoice["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise StripeError(400, f"This invoice is {invoice['status']}.", code="invoice_unexpected_state")
        if _bool(p.get("paid_out_of_band")):
            invoice["paid_out_of_band"] = True
            if invoice.get("payment_intent"):
                self.get("payment_intent", invoice["payment_intent"])["status"] = "canceled"
        elif invoice["total"] > 0:
            intent = self.get("payment_intent", invoice["payment_intent"])
            self._attempt(intent, p.get("payment_method"))
            if intent["status"] != "succeeded":
                invoice["attempt_count"] = invoice.get("attempt_count", 0) + 1
                self.emit("invoice.payment_failed", invoice)
                raise StripeError(402, "Your card was declined.", type_="card_error", code="card_declined")
            invoice["amount_paid"] = invoice["total"]
            invoice["charge"] = intent["latest_charge"]
        invoice["status"] = "paid"
        invoice["amount_due"] = invoice["amount_remaining"] = 0
        invoice["status_transitions"] = {"paid_at": self.now()}
        self.emit("invoice.payment_succeeded", invoice)
        self.emit("invoice.paid", invoice)
        return invoice

    def void_invoice(self, p, id):
        invoice = self.get("invoice", id)
        if invoice["status"] != "open":
            raise StripeError(400, f"You can only void open invoices (this one is {invoice['status']}).")
        invoice["status"] = "void"
        self.emit("invoice.voided", invoice)
        return invoice

    def create_invoice_item(self, p):
        invoice = self.get("invoice", p.get("invoice", ""))
        if invoice["status"] != "draft":
            raise StripeError(400, "You can only add items to draft invoices.", code="invoice_not_editable")
        item = {
            "id": self.new_id("ii"),
            "object": "invoiceitem",
            "amount": _int(p.get("amount")),
            "currency": p.get("currency", "usd"),
            "customer": p.get("customer"),
            "description": p.get("description"),
            "invoice": invoice["id"],
            "metadata": p.get("metadata", {}),
        }
        self.store("invoiceitem", item)
        invoice["lines"]["data"].append({**item, "object": "line_item", "invoice_item": item["id"]})
        self._recount(invoice)
        return item

    def delete_invoice_item(self, p, id):
        item = self.get("invoiceitem", id)
        invoice = self.get("invoice", item["invoice"])
        if invoice["status"] != "draft":
            raise StripeError(
                400, "You can only delete items of draft invoices.", code="invoice_not_editable"
            )
        invoice["lines"]["data"] = [line for line in invoice["lines"]["data"] if line["invoice_item"] != id]
        self._recount(invoice)
        del self.objects["invoiceitem"][id]
        return {"id": id, "object": "invoiceitem", "deleted": True}

    # --- products, prices, coupons ---------------------------------------------------------------

    def create_product(self, p):
        product = {
            "id": p.get("id") or self.new_id("prod"),
            "object": "product",
            "name": p.get("name"),
            "active": _bool(p.get("active", "true")),
            "metadata": p.get("metadata", {}),
            "created": self.now(),
        }
        self.store("product", product)
        self.emit("product.created", product)
        return product

    def list_products(self, p):
        return self._list(list(self.objects.get("product", {}).values()), "/v1/products")

    def create_price(self, p):
        if p.get("product_data") and not p.get("product"):
            p = {**p, "product": self.create_product(p["product_data"])["id"]}
        price = {
            "id": self.new_id("price"),
            "object": "price",
            "product": p.get("product"),
            "unit_amount": _int(p.get("unit_amount")),
            "currency": p.get("currency", "usd"),
            "active": _bool(p.get("active", "true")),
            "lookup_key": p.get("lookup_key"),
            "recurring": p.get("recurring"),
            "type": "recurring" if p.get("recurring") else "one_time",
            "metadata": p.get("metadata", {}),
            "created": self.now(),
        }
        self.store("price", price)
        self.emit("price.created", price)
        return price

    def list_prices(self, p):
        items = list(self.objects.get("price", {}).values())
        if p.get("lookup_keys"):
            keys = set(p["lookup_keys"])
            items = [price for price in items if price.get("lookup_key") in keys]
        return self._list(items, "/v1/prices")

    def retrieve_price(self, p, id):
        return self.get("price", id)

    def create_coupon(self, p):
        coupon_id = p.get("id") or self.new_id("coupon")
        if coupon_id in self.objects.get("coupon", {}):
            raise StripeError(400, "Coupon already exists.", code="resource_already_exists")
        coupon = {
            "id": coupon_id,
            "object": "coupon",
            "percent_off": float(p["percent_off"]) if p.get("percent_off") else None,
            "amount_off": _int(p.get("amount_off")) or None,
            "duration": p.get("duration", "once"),
            "name": p.get("name"),
            "valid": True,
            "metadata": p.get("metadata", {}),
        }
        self.store("coupon", coupon)
        self.emit("coupon.created", coupon)
        return coupon

    def retrieve_coupon(self, p, id):
        return self.get("coupon", id)

    # --- subscriptions ---------------------------------------------------------------------------

    def create_subscription(self, p):
        customer = self.get("customer", p.get("customer", ""))
        items = []
        for item in p.get("items", []):
            price = self.get("price", item.get("price", ""))
            items.append(
                {
                    "id": self.new_id("si"),
                    "object": "subscription_item",
                    "price": price,
                    "quantity": _int(item.get("quantity"), 1),
                }
            )
        subscription = {
            "id": self.new_id("sub"),
            "object": "subscription",
            "customer": customer["id"],
            "status": "trialing" if p.get("trial_period_days") else "active",
            "items": {"object": "list", "data": items},
            "metadata": p.get("metadata", {}),
            "cancel_at_period_end": False,
            "current_period_end": self.now() + 30 * 86400,
            "created": self.now(),
        }
        self.store("subscription", subscription)
        self.emit("customer.subscription.created", subscription)
        return subscription

    def retrieve_subscription(self, p, id):
        return self.get("subscription", id)

    def update_subscription(self, p, id):
        subscription = self.get("subscription", id)
        for change in p.get("items", []):
            for item in subscription["items"]["data"]:
                if item["id"] == change.get("id") and change.get("price"):
                    item["price"] = self.get("price", change["price"])
        if p.get("proration_behavior") == "always_invoice":
            subscription["latest_invoice_prorated"] = True
        if "metadata" in p:
            subscription["metadata"].update(p["metadata"])
        if "cancel_at_period_end" in p:
            subscription["cancel_at_period_end"] = _bool(p["cancel_at_period_end"])
        if "pause_collection" in p:
            subscription["pause_collection"] = p["pause_collection"] or None
        self.emit("customer.subscription.updated", subscription)
        return subscription

    def cancel_subscription(self, p, id):
        subscription = self.get("subscription", id)
        subscription["status"] = "canceled"
        self.emit("customer.subscription.deleted", subscription)
        return subscription

    def _find_item(self, item_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for subscription in self.objects.get("subscription", {}).values():
            for item in subscription["items"]["data"]:
                if item["id"] == item_id:
                    return subscription, item
        raise StripeError(404, f"No such subscription item: '{item_id}'", code="resource_missing")

    def create_subscription_item(self, p):
        subscription = self.get("subscription", p.get("subscription", ""))
        if subscription["status"] == "canceled":
            raise StripeError(400, "This subscription is canceled.", code="resource_missing")
        price = self.get("price", p.get("price", ""))
        item = {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "price": price,
            "quantity": _int(p.get("quantity"), 1),
            "discounts": [d.get("coupon") for d in p.get("discounts", [])],
            "metadata": p.get("metadata", {}),
            "subscription": subscription["id"],
        }
        subscription["items"]["data"].append(item)
        self.emit("customer.subscription.updated", subscription)
        return item

    def update_subscription_item(self, p, id):
        subscription, item = self._find_item(id)
        if "quantity" in p:
            item["quantity"] = _int(p["quantity"], 1)
        self.emit("customer.subscription.updated", subscription)
        return item

    def delete_subscription_item(self, p, id):
        subscription, item = self._find_item(id)
        subscription["items"]["data"].remove(item)
        self.emit("customer.subscription.updated", subscription)
        return {"id": id, "object": "subscription_item", "deleted": True}

    # --- Checkout, portal, events ----------------------------------------------------------------

    def create_checkout_session(self, p):
        line_items = p.get("line_items", [])
        total = 0
        for item in line_items:
            if item.get("price"):
                total += self.get("price", item["price"])["unit_amount"] * _int(item.get("quantity"), 1)
            elif item.get("price_data"):
                total += _int(item["price_data"].get("unit_amount")) * _int(item.get("quantity"), 1)
        session = {
            "id": self.new_id("cs"),
            "object": "checkout.session",
            "mode": p.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "customer": p.get("customer"),
            "customer_email": p.get("customer_email"),
            "customer_details": {"email": p.get("customer_email"), "name": None, "phone": None},
            "amount_total": total,
            "currency": "usd",
            "metadata": p.get("metadata", {}),
            "payment_intent": None,
            "subscription": None,
            "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"),
            "url": None,
            "allow_promotion_codes": _bool(p.get("allow_promotion_codes")),
            "created": self.now(),
            "line_items": line_items,
            "subscription_data": p.get("subscription_data", {}),
        }
        session["url"] = f"https://checkout.stripe.fake/{session['id']}"
        self.store("checkout.session", session)
        return session

    def complete_checkout(
        self, session_id: str, *, name: str | None = None, phone: str | None = None
    ) -> dict:
        """What a buyer finishing the Checkout page does: pay, and the completed event."""
        with self.lock:
            session = self.get("checkout.session", session_id)
            if session["mode"] == "payment" and session["amount_total"] > 0:
                intent = self.create_payment_intent(
                    {
                        "amount": str(session["amount_total"]),
                        "customer": session.get("customer"),
                        "metadata": session["metadata"],
                        "receipt_email": session.get("customer_email"),
                    }
                )
                self._attempt(intent, "pm_card_visa")
                session["payment_intent"] = intent["id"]
            if session["mode"] == "subscription":
                if not session.get("customer"):
                    session["customer"] = self.create_customer({"email": session.get("customer_email")})["id"]
                subscription = self.create_subscription(
                    {
                        "customer": session["customer"],
                        "items": [
                            {"price": i["price"], "quantity": i.get("quantity", "1")}
                            for i in session["line_items"]
                        ],
                        "metadata": (session.get("subscription_data") or {}).get("metadata", {}),
                    }
                )
                session["subscription"] = subscription["id"]
            session["status"] = "complete"
            session["payment_status"] = "paid" if session["amount_total"] > 0 else "no_payment_required"
            session["customer_details"].update({"name": name, "phone": phone})
            return self.emit("checkout.session.completed", session)

    def retrieve_checkout_session(self, p, id):
        return self.get("checkout.session", id)

    def create_portal_session(self, p):
        return {
            "id": self.new_id("bps"),
            "object": "billing_portal.session",
            "customer": p.get("customer"),
            "url": f"https://billing.stripe.fake/session/{p.get('customer')}",
            "return_url": p.get("return_url"),
        }

    def list_events(self, p):
        items = list(reversed(self.events))
        if p.get("type"):
            items = [e for e in items if e["type"] == p["type"]]
        return self._list(items[: _int(p.get("limit"), 10)], "/v1/events")


class RunningFake:
    """The fake served on a local port from a background thread."""

    def __init__(self, fake: FakeStripe | None = None, host: str = "127.0.0.1", port: int = 0):
        self.fake = fake or FakeStripe()
        self.server = make_server(host, port, self.fake, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="stripe-fake", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def start(self) -> RunningFake:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def _watch_parent(pid: int, running: RunningFake) -> None:
    import os

    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            running.server.shutdown()
            return
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--parent-pid", type=int, default=None, help="stop when this process has gone")
    args = parser.parse_args()
    running = RunningFake(host=args.host, port=args.port)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, running), daemon=True).start()
    print(f"fake Stripe on {running.url}", flush=True)
    running.server.serve_forever()


if __name__ == "__main__":
    main()
