"""A loopback stand-in for the part of Stripe's API that billing uses, for the real `stripe` library.

It speaks form-encoded requests and answers with objects and errors shaped
like Stripe's: PaymentIntents (create with confirm and a manual capture,
capture with amount_to_capture, cancel, retrieve with latest_charge expanded)
and Refunds. An Idempotency-Key gets the first answer again, errors included,
as Stripe does. A test can make the next matching call fail: a declined card,
a server error, or the change applied with the answer held back longer than
the client waits (succeeded, answer lost).
"""

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

API_KEY = "sk_test_fake_stripe_key"
WEBHOOK_SECRET = "whsec_fake_stripe_secret"
DECLINED_METHOD = "pm_card_chargeDeclined"

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):08d}fake"


@dataclass
class Failure:
    path: str  # a regular expression matched against "METHOD /path"
    kind: str  # "card_declined", "server_error" or "lost"


@dataclass
class State:
    intents: dict = field(default_factory=dict)
    charges: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    idempotent: dict = field(default_factory=dict)  # key -> (fingerprint, status, body)
    failures: list = field(default_factory=list)
    requests: list = field(default_factory=list)  # (method, path, idempotency key)
    captures: dict = field(default_factory=dict)  # intent id -> times captured


class StripeError(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str = "", **extra):
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **({"code": code} if code else {}), **extra}}


def _form(body: str) -> dict:
    """Stripe's form encoding: a[b]=1 and a[0]=x become nested dicts and lists."""
    result: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    for name, value in list(result.items()):
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            result[name] = [value[k] for k in sorted(value, key=int)]
    return result


class FakeStripe:
    def __init__(self, lost_delay: float = 1.5):
        self.state = State()
        self.lock = threading.Lock()
        self.lost_delay = lost_delay
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- what tests use -----------------------------------------------------

    def fail_next(self, path: str, kind: str) -> None:
        with self.lock:
            self.state.failures.append(Failure(path, kind))

    def clear_failures(self) -> None:
        with self.lock:
            self.state.failures.clear()

    def reset(self) -> None:
        with self.lock:
            self.state = State()

    def intent(self, intent_id: str) -> dict:
        with self.lock:
            return self._intent_view(self.state.intents[intent_id], expand=True)

    def captures(self, intent_id: str) -> int:
        return self.state.captures.get(intent_id, 0)

    def calls(self, pattern: str) -> list:
        return [r for r in self.state.requests if re.search(pattern, f"{r[0]} {r[1]}")]

    def refund_outside(self, intent_id: str, amount: int) -> dict:
        """A refund made in the provider's dashboard, not through our API calls."""
        with self.lock:
            return self._refund({"payment_intent": intent_id, "amount": str(amount)})

    def event(self, kind: str, obj: dict, event_id: str | None = None) -> dict:
        return {
            "id": event_id or _id("evt"),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2025-01-27.acacia",
            "data": {"object": obj},
        }

    @staticmethod
    def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={signature}"

    # --- the API --------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._serve(self, "GET")

            def do_POST(self):
                fake._serve(self, "POST")

        return Handler

    def _serve(self, request, method: str) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        params = _form(body if method == "POST" else url.query)
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._send(request, 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
        lost = False
        with self.lock:
            self.state.requests.append((method, url.path, key))
            fingerprint = (method, url.path, json.dumps(params, sort_keys=True))
            if key and key in self.state.idempotent:
                first, status, answer = self.state.idempotent[key]
                if first != fingerprint:
                    status, answer = (
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same parameters",
                            }
                        },
                    )
                return self._send(request, status, answer, replayed=True)
            failure = self._take_failure(f"{method} {url.path}")
            if failure and failure.kind == "server_error":
                status, answer = 500, {"error": {"type": "api_error", "message": "Something went wrong on our end."}}
            elif failure and failure.kind == "card_declined":
                status, answer = (
                    402,
                    StripeError(
                        402, "card_error", "Your card was declined.", "card_declined", decline_code="generic_decline"
                    ).body,
                )
            else:
                lost = bool(failure and failure.kind == "lost")
                try:
                    status, answer = 200, self._route(method, url.path, params)
                except StripeError as exc:
                    status, answer = exc.status, exc.body
            if key:
                self.state.idempotent[key] = (fingerprint, status, answer)
        if lost:
            time.sleep(self.lost_delay)
        self._send(request, status, answer)

    def _take_failure(self, call: str) -> Failure | None:
        for failure in self.state.failures:
            if re.search(failure.path, call):
                self.state.failures.remove(failure)
                return failure
        return None

    def _send(self, request, status: int, answer: dict, replayed: bool = False) -> None:
        data = json.dumps(answer).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.send_header("Request-Id", _id("req"))
            if replayed:
                request.send_header("Idempotent-Replayed", "true")
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: the answer is lost

    def _route(self, method: str, path: str, params: dict) -> dict:
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(params)
        match = re.fullmatch(r"/v1/payment_intents/([\w]+)(/capture|/cancel)?", path)
        if match:
            intent = self.state.intents.get(match[1])
            if intent is None:
                raise StripeError(
                    404, "invalid_request_error", f"No such payment_intent: '{match[1]}'", "resource_missing"
                )
            action = match[2]
            if method == "GET" and not action:
                return self._intent_view(intent, expand="latest_charge" in (params.get("expand") or []))
            if method == "POST" and action == "/capture":
                return self._capture(intent, params)
            if method == "POST" and action == "/cancel":
                return self._cancel(intent)
        if method == "POST" and path == "/v1/refunds":
            return self._refund(params)
        raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})")

    def _create_intent(self, params: dict) -> dict:
        amount = int(params["amount"])
        if amount < 1:
            raise StripeError(400, "invalid_request_error", "amount must be at least 1", "amount_too_small")
        intent = {
            "id": _id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "currency": params["currency"],
            "customer": params.get("customer"),
            "payment_method": params.get("payment_method"),
            "capture_method": params.get("capture_method", "automatic"),
            "status": "requires_confirmation",
            "latest_charge": None,
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
            "livemode": False,
        }
        self.state.intents[intent["id"]] = intent
        if params.get("confirm") == "true":
            if params.get("payment_method") == DECLINED_METHOD:
                intent["status"] = "requires_payment_method"
                raise StripeError(
                    402,
                    "card_error",
                    "Your card was declined.",
                    "card_declined",
                    decline_code="generic_decline",
                    payment_intent=self._intent_view(intent),
                )
            charge = {
                "id": _id("ch"),
                "object": "charge",
                "amount": amount,
                "amount_captured": 0,
                "amount_refunded": 0,
                "captured": False,
                "refunded": False,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
            }
            self.state.charges[charge["id"]] = charge
            intent["latest_charge"] = charge["id"]
            if intent["capture_method"] == "manual":
                intent["status"], intent["amount_capturable"] = "requires_capture", amount
            else:
                intent["status"], intent["amount_received"] = "succeeded", amount
                charge.update(captured=True, amount_captured=amount)
        return self._intent_view(intent)

    def _intent_view(self, intent: dict, expand: bool = False) -> dict:
        view = dict(intent)
        if expand and intent["latest_charge"]:
            view["latest_charge"] = dict(self.state.charges[intent["latest_charge"]])
        return view

    def _unexpected(self, intent: dict, action: str) -> StripeError:
        return StripeError(
            400,
            "invalid_request_error",
            f"This PaymentIntent could not be {action} because it has a status of {intent['status']}.",
            "payment_intent_unexpected_state",
        )

    def _capture(self, intent: dict, params: dict) -> dict:
        if intent["status"] != "requires_capture":
            raise self._unexpected(intent, "captured")
        amount = int(params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"] or amount < 1:
            raise StripeError(
                400, "invalid_request_error", "amount_to_capture is greater than amount_capturable", "amount_too_large"
            )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.state.charges[intent["latest_charge"]].update(captured=True, amount_captured=amount)
        self.state.captures[intent["id"]] = self.state.captures.get(intent["id"], 0) + 1
        return self._intent_view(intent)

    def _cancel(self, intent: dict) -> dict:
        if intent["status"] not in ("requires_capture", "requires_payment_method", "requires_confirmation"):
            raise self._unexpected(intent, "canceled")
        intent.update(status="canceled", amount_capturable=0)
        return self._intent_view(intent)

    def _refund(self, params: dict) -> dict:
        intent = self.state.intents.get(params.get("payment_intent", ""))
        if intent is None:
            raise StripeError(404, "invalid_request_error", "No such payment_intent", "resource_missing")
        if intent["status"] != "succeeded":
            raise StripeError(
                400, "invalid_request_error", "This PaymentIntent has not been captured", "charge_not_captured"
            )
        charge = self.state.charges[intent["latest_charge"]]
        left = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(params.get("amount", left))
        if left <= 0:
            raise StripeError(
                400, "invalid_request_error", "Charge has already been refunded.", "charge_already_refunded"
            )
        if amount > left or amount < 1:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than the unrefunded amount ({left})",
                "amount_too_large",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
        }
        self.state.refunds[refund["id"]] = refund
        return refund

    def charge_of(self, intent_id: str) -> dict:
        with self.lock:
            return dict(self.state.charges[self.state.intents[intent_id]["latest_charge"]])
