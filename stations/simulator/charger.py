"""A simulated OCPP 1.6J charger's behaviour, for demos, tests and benchmarks.

Each SimulatedCharger behaves like a real charger of its model: it boots,
sends heartbeats and status, runs charging sessions with meter values,
faults now and then (mostly ChargeX MREC codes), and answers every request
of the central system. The websocket, the framing and the reconnects are the
transport's (transport.OcppLink); this module decides what to send and how
to answer. Nothing here imports Django.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from statistics import quantiles

from .catalogue import MODELS, ChargerModel, Clear, Fault, fault_for_code, pick_fault
from .transport import (
    Backoff,
    CallErrored,
    CallFailed,
    CallTimeout,
    Followup,
    NotConnected,
    Observer,
    OcppConnection,
    OcppLink,
)

logger = logging.getLogger("stations.simulator")

DEMO_ID_TAGS = ("DEMO-TAG-0001", "DEMO-TAG-0002", "DEMO-TAG-0003", "FLEET-0001")
# An RFID card the server does not know: drivers sometimes tap the wrong card.
UNKNOWN_TAG = "04E91A2B3C4D80"
TRIGGERABLE = {
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimConfig:
    password: str = "simulator-demo-secret"  # noqa: S105 - the demo stations' published default
    id_tags: Sequence[str] = DEMO_ID_TAGS
    heartbeat_interval_override: float | None = None  # None: the interval the server answers
    meter_interval: float = 30.0  # initial MeterValueSampleInterval, seconds
    mean_idle_s: float = 600.0  # an idle connector rolls the dice this often, on average
    session_probability: float = 0.5  # chance an idle period ends in a session
    mean_session_s: float = 1800.0
    # Each charger faults this often on average while idle (0: never); across ten chargers
    # the default makes a few faults per ten minutes, enough for a demo to show remediation.
    mean_fault_interval_s: float = 1800.0
    # One charger of a fleet faults within this many seconds of starting (0: none), so a
    # new user sees an incident at once rather than after the first random one.
    first_fault_s: float = 60.0
    fault_probability: float = 0.03  # chance a session ends in a fault
    mean_fault_s: float = 300.0  # how long a self-clearing fault lasts, on average
    call_timeout_s: float = 30.0
    reconnect_max_s: float = 60.0
    reboot_s: float = 10.0
    ramp_up_s: float = 5.0  # a fleet connects spread over this, not as one thundering herd
    seed: int | None = None


@dataclass
class Stats:
    """Counters a fleet shares; everything runs on one event loop, so no locks."""

    sent: int = 0  # CALLs we sent
    answered: int = 0  # CALLRESULTs to them
    errors: int = 0  # CALLERRORs to them
    timeouts: int = 0  # CALLs with no answer in time
    server_calls: int = 0  # CALLs from the server we answered
    connects: int = 0
    disconnects: int = 0
    boots: int = 0
    sessions: int = 0
    faults: int = 0
    # Round trip of our CALLs in ms, per action; the newest 100,000 of each.
    latency_ms: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=100_000)))
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))

    def percentile(self, q: float, action: str | None = None) -> float | None:
        """The q-th percentile (0-100) of CALL latency, of one action or all."""
        values = list(self.latency_ms.get(action, ())) if action else [v for d in self.latency_ms.values() for v in d]
        if len(values) < 2:
            return values[0] if values else None
        return quantiles(values, n=100, method="inclusive")[min(max(round(q), 1), 99) - 1]

    def summary(self) -> str:
        p50, p95 = self.percentile(50), self.percentile(95)
        latency = f"; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms" if p50 is not None and p95 is not None else ""
        return (
            f"{self.sent} CALLs sent, {self.answered} answered, {self.errors} CALLERRORs, {self.timeouts} timeouts; "
            f"{self.server_calls} server CALLs answered; {self.connects} connects, {self.boots} boots, "
            f"{self.sessions} sessions, {self.faults} faults{latency}"
        )


class CallRefused(Exception):
    """We answer the server's CALL with this CALLERROR."""

    def __init__(self, code: str, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


Answer = tuple[dict, Followup | None]


@dataclass
class Reservation:
    reservation_id: int
    id_tag: str
    expires_at: float  # epoch seconds


@dataclass
class ConnectorState:
    connector_id: int
    meter_wh: int  # lifetime energy register
    status: str = "Available"
    fault: Fault | None = None
    operative: bool = True
    scheduled_operative: bool | None = None  # a ChangeAvailability waiting for the session to end
    busy: bool = False  # a session runs, from Preparing to Finishing
    transaction_id: int | None = None
    remote_tag: str | None = None  # accepted RemoteStartTransaction, not yet begun
    reservation: Reservation | None = None
    stop_reason: str | None = None
    fault_requested: Fault | None = None  # ends the running session with this fault
    power_w: float = 0.0
    soc: float | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def can_start(self, id_tag: str) -> bool:
        reserved_for_other = self.reservation is not None and self.reservation.id_tag != id_tag
        return not (self.busy or self.fault or not self.operative or self.remote_tag or reserved_for_other)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for the event at most timeout seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), max(timeout, 0))
    except TimeoutError:
        return False
    return True


_NO_FINISHING = {"EVDisconnected", "SoftReset", "HardReset", "Reboot"}
_INT_KEYS = {
    "HeartbeatInterval", "MeterValueSampleInterval", "WebSocketPingInterval", "ClockAlignedDataInterval",
    "ConnectionTimeOut", "ResetRetries", "TransactionMessageAttempts", "TransactionMessageRetryInterval",
}  # fmt: skip


def _default_configuration(model: ChargerModel, config: SimConfig) -> dict[str, tuple[str, bool]]:
    """Configuration keys as (value, readonly), the Core profile plus a few more."""
    measurands = "Energy.Active.Import.Register,Power.Active.Import" + (",SoC" if model.dc else "")
    rw = {
        "AllowOfflineTxForUnknownId": "false", "AuthorizationCacheEnabled": "true",
        "AuthorizeRemoteTxRequests": "false", "ClockAlignedDataInterval": "0", "ConnectionTimeOut": "90",
        "ConnectorPhaseRotation": ",".join(f"{n}.RST" for n in range(model.connectors + 1)),
        "HeartbeatInterval": str(int(config.heartbeat_interval_override or 300)), "LocalAuthListEnabled": "true",
        "LocalAuthorizeOffline": "true", "LocalPreAuthorize": "false",
        "MeterValuesAlignedData": "Energy.Active.Import.Register", "MeterValuesSampledData": measurands,
        "MeterValueSampleInterval": str(max(int(config.meter_interval), 1)), "ResetRetries": "3",
        "StopTransactionOnEVSideDisconnect": "true", "StopTransactionOnInvalidId": "true",
        "StopTxnAlignedData": "", "StopTxnSampledData": "Energy.Active.Import.Register",
        "TransactionMessageAttempts": "3", "TransactionMessageRetryInterval": "60",
        "UnlockConnectorOnEVSideDisconnect": "true", "WebSocketPingInterval": "60",
    }  # fmt: skip
    ro = {
        "ChargeProfileMaxStackLevel": "10", "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": "24", "GetConfigurationMaxKeys": "50", "LocalAuthListMaxLength": "1000",
        "MaxChargingProfilesInstalled": "10", "NumberOfConnectors": str(model.connectors),
        "ReserveConnectorZeroSupported": "false", "SendLocalListMaxLength": "100",
        "SupportedFeatureProfiles": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,"
        "SmartCharging,RemoteTrigger",
    }  # fmt: skip
    return {**{k: (v, False) for k, v in rw.items()}, **{k: (v, True) for k, v in ro.items()}}


class SimulatedCharger(Observer):
    """One charger: its connectors and its behaviour, over an OcppLink.

    `run()` keeps it connected until `shutdown()`. `answer_call()` is the
    responder to the server's CALLs, usable without a connection. As the
    link's observer it counts into the fleet's Stats and logs what matters.
    """

    def __init__(self, identity: str, url: str, config: SimConfig | None = None, stats: Stats | None = None):
        self.identity = identity
        self.config = config or SimConfig()
        self.stats = stats if stats is not None else Stats()
        self.rng = random.Random(None if self.config.seed is None else f"{self.config.seed}:{identity}")
        # The hardware depends on the identity alone: the same charger in every run, whatever the seed.
        hardware = random.Random(identity)
        self.model = hardware.choice(MODELS)
        self.serial = f"{self.model.serial_prefix}-{hardware.randrange(10**7):07d}"
        self.firmware = self.model.firmware
        # Energy registers grow with wall time (10% utilisation), so they keep rising across restarts.
        used_wh = int((time.time() - 1_700_000_000) / 3600 * self.model.max_power_w / 10)
        self.connectors = {
            n: ConnectorState(n, meter_wh=used_wh + hardware.randrange(50_000, 500_000))
            for n in range(1, self.model.connectors + 1)
        }
        self.configuration = _default_configuration(self.model, self.config)
        self.registration = ""  # the status of the last BootNotification answer
        self.station_operative = True
        self.local_list_version = 0
        self.diagnostics_status = "Idle"
        self.firmware_status = "Idle"
        self._ready = asyncio.Event()  # connected and accepted: any message may go out
        self._accepted = asyncio.Event()
        self._boot_retry_s = 30.0
        self._needs_boot = True
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self.link = OcppLink(
            url,
            identity,
            self.config.password,
            responder=self.answer_call,
            observer=self,
            call_timeout_s=self.config.call_timeout_s,
            open_timeout_s=self.config.call_timeout_s,
            backoff=Backoff(1.0, self.config.reconnect_max_s, self.rng),
            spawn=self._spawn,
        )
        self._responders: dict[str, Callable[[dict], Answer]] = {
            "Reset": self._on_reset, "UnlockConnector": self._on_unlock,
            "ChangeAvailability": self._on_change_availability,
            "RemoteStartTransaction": self._on_remote_start, "RemoteStopTransaction": self._on_remote_stop,
            "TriggerMessage": self._on_trigger, "GetConfiguration": self._on_get_configuration,
            "ChangeConfiguration": self._on_change_configuration, "GetDiagnostics": self._on_get_diagnostics,
            "UpdateFirmware": self._on_update_firmware, "ReserveNow": self._on_reserve_now,
            "CancelReservation": self._on_cancel_reservation,
            "ClearCache": lambda p: ({"status": "Accepted"}, None),
            "SetChargingProfile": lambda p: ({"status": "Accepted"}, None),
            "ClearChargingProfile": lambda p: ({"status": "Accepted"}, None),
            "GetCompositeSchedule": lambda p: ({"status": "Rejected"}, None),
            "DataTransfer": lambda p: ({"status": "UnknownVendorId"}, None),
            "GetLocalListVersion": lambda p: ({"listVersion": self.local_list_version}, None),
            "SendLocalList": self._on_send_local_list,
        }  # fmt: skip

    # -- connection ---------------------------------------------------------

    async def run(self, start_delay: float = 0.0, *, first_fault_after: float | None = None) -> None:
        """Stay connected until shutdown(); `first_fault_after` s: fault early once."""
        for connector in self.connectors.values():
            self._spawn(self._connector_loop(connector))
        if first_fault_after is not None or self.config.mean_fault_interval_s > 0:
            self._spawn(self._fault_loop(first_fault_after))
        await asyncio.sleep(start_delay)
        self._set_ping_interval()
        await self.link.run(self._come_online)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop running sessions while still connected, then disconnect for good."""
        self._stopping = True
        for connector in self.connectors.values():
            if connector.busy:
                connector.stop_reason = "Other"
                connector.stop.set()
        if self._ready.is_set():
            await self._until(lambda: not any(c.busy for c in self.connectors.values()), timeout)
        await self.link.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _set_ping_interval(self) -> None:
        # The charger's WebSocketPingInterval applies from its next connection on.
        self.link.connect_options["ping_interval"] = self._key_int("WebSocketPingInterval") or None

    async def _come_online(self, connection: OcppConnection) -> None:
        """Boot if needed, report every connector, then send heartbeats."""
        if self._needs_boot or self.registration != "Accepted":
            await self._boot()
        self._ready.set()
        self.link.backoff.reset()
        await self._set_status(None, self._station_status(), force=True)
        for connector in self.connectors.values():
            await self._set_status(connector, connector.status, force=True)
        while True:
            override = self.config.heartbeat_interval_override
            await asyncio.sleep(override or self._key_int("HeartbeatInterval") or 300)
            # A lost connection ends this loop; an unanswered heartbeat does not.
            with contextlib.suppress(CallTimeout, CallErrored):
                await self.call("Heartbeat", {})

    async def call(self, action: str, payload: dict, *, wait_ready: bool = True) -> dict:
        """Send one CALL and return its CALLRESULT payload; at most one is outstanding."""
        if wait_ready:
            await self._ready.wait()
        connection = self.link.connection
        # Checked again after the wait: after a reconnect only the boot may go out until accepted.
        if connection is None or connection.closed or (wait_ready and not self._ready.is_set()):
            raise NotConnected(action)
        return await connection.call(action, payload)

    # -- what the link reports ------------------------------------------------

    def connected(self, handshake_ms: float) -> None:
        self.stats.connects += 1

    def disconnected(self, close_code: int | None) -> None:
        self._ready.clear()
        self.stats.disconnects += 1

    def call_sent(self, action: str) -> None:
        self.stats.sent += 1

    def call_answered(self, action: str, ms: float) -> None:
        self.stats.answered += 1
        self.stats.latency_ms[action].append(ms)

    def call_errored(self, action: str, ms: float, code: str, description: str) -> None:
        self.stats.errors += 1
        self.stats.last_errors.append(f"{self.identity} {action}: {code}: {description}")
        logger.warning("%s: %s answered with CALLERROR %s: %s", self.identity, action, code, description)

    def call_timed_out(self, action: str) -> None:
        self.stats.timeouts += 1

    def server_call(self, action: object) -> None:
        self.stats.server_calls += 1

    def frame_dropped(self, why: str, raw: str | bytes) -> None:
        logger.warning("%s: frame dropped (%s): %.200s", self.identity, why, raw)

    def reconnecting(self, delay_s: float, reason: str, failures: int) -> None:
        self._set_ping_interval()
        if failures:
            # One warning per outage; the retries that follow are only worth a debug line.
            level = logging.WARNING if failures == 1 else logging.DEBUG
            logger.log(level, "%s: disconnected (%s); reconnecting in %.1fs", self.identity, reason, delay_s)

    def failed(self, exc: BaseException) -> None:
        # A bug in one charger must not silently take it out of the fleet.
        logger.error("%s: unexpected %r", self.identity, exc)

    async def _call_reliably(self, action: str, payload: dict) -> dict:
        """Transaction messages are kept while offline and retried, like a real charger's queue."""
        attempts = 0
        while True:
            try:
                return await self.call(action, payload)
            except NotConnected:
                if self._stopping:
                    raise
            except CallTimeout:
                attempts += 1
                if attempts >= (self._key_int("TransactionMessageAttempts") or 1):
                    raise
            await asyncio.sleep(1)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() and not isinstance(task.exception(), CallFailed):
            logger.error("%s: background task failed: %r", self.identity, task.exception())

    async def _until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    def _key_int(self, key: str) -> int:
        return int(self.configuration[key][0] or 0)

    # -- boot and status ----------------------------------------------------

    async def _boot(self) -> None:
        """BootNotification until Accepted, retrying after the interval the server asks for."""
        self._accepted.clear()
        while True:
            try:
                if await self._boot_once() == "Accepted":
                    return
            except (CallTimeout, CallErrored):
                pass
            if await _wait(self._accepted, self._boot_retry_s):
                return  # a triggered BootNotification was accepted meanwhile

    async def _boot_once(self) -> str:
        payload = {
            "chargePointVendor": self.model.vendor,
            "chargePointModel": self.model.model,
            "chargePointSerialNumber": self.serial,
            "chargeBoxSerialNumber": self.serial,
            "firmwareVersion": self.firmware,
        }
        answer = await self.call("BootNotification", payload, wait_ready=False)
        self.registration, interval = answer["status"], int(answer.get("interval", 0))
        if self.registration == "Accepted":
            # An interval of 0 leaves the choice to us: keep the current one.
            if interval > 0:
                self.configuration["HeartbeatInterval"] = (str(interval), False)
            self._needs_boot = False
            self.stats.boots += 1
            self._accepted.set()
        else:
            self._boot_retry_s = interval or 30
        logger.info(
            "%s booted as %s %s fw %s: %s, interval %ss",
            self.identity, self.model.vendor, self.model.model, self.firmware, self.registration, interval,
        )  # fmt: skip
        return self.registration

    def _station_status(self) -> str:
        return "Available" if self.station_operative else "Unavailable"

    @staticmethod
    def _idle_status(c: ConnectorState) -> str:
        if c.fault:
            return "Faulted"
        if not c.operative:
            return "Unavailable"
        return "Reserved" if c.reservation else "Available"

    def _status_payload(self, c: ConnectorState | None) -> dict:
        payload = {
            "connectorId": c.connector_id if c else 0,
            "status": c.status if c else self._station_status(),
            "errorCode": "NoError",
            "timestamp": _now(),
        }
        if c and c.fault and c.status == "Faulted":
            fault = c.fault
            payload["errorCode"] = fault.error_code
            details = {"vendorId": fault.vendor_id, "vendorErrorCode": fault.vendor_error_code, "info": fault.info}
            payload.update({key: value for key, value in details.items() if value})
        return payload

    async def _set_status(self, c: ConnectorState | None, status: str, *, force: bool = False) -> None:
        """Change a connector's status (None: connector 0) and report it if online.

        Offline changes are not queued: the report of every connector after a
        reconnect carries the current state.
        """
        if c is not None:
            if c.status == status and not force:
                return
            c.status = status
        if self._ready.is_set():
            with contextlib.suppress(CallFailed):
                await self.call("StatusNotification", self._status_payload(c))

    # -- behaviour ----------------------------------------------------------

    async def _connector_loop(self, c: ConnectorState) -> None:
        """An idle connector waits, then maybe faults or starts a session."""
        cfg = self.config
        while True:
            timeout = self.rng.expovariate(1 / cfg.mean_idle_s)
            if c.reservation:
                timeout = min(timeout, c.reservation.expires_at - time.time())
            woken = await _wait(c.wake, timeout)
            c.wake.clear()
            await self._ready.wait()
            if c.busy:
                continue
            if c.reservation and c.reservation.expires_at <= time.time():
                c.reservation = None
                await self._set_status(c, self._idle_status(c))
            if c.remote_tag is not None:
                tag, c.remote_tag = c.remote_tag, None
                await self._session(c, tag, remote=True)
                continue
            if woken or c.fault or not c.operative:
                continue
            if self.rng.random() < cfg.session_probability:
                if c.reservation:
                    tag = c.reservation.id_tag  # the driver who reserved arrives
                else:
                    tag = UNKNOWN_TAG if self.rng.random() < 0.03 else self.rng.choice(list(cfg.id_tags))
                await self._session(c, tag, remote=False)

    async def _fault_loop(self, first_after: float | None) -> None:
        """Now and then an idle connector faults; the first time early, when asked."""
        mean = self.config.mean_fault_interval_s
        delay = first_after
        while True:
            if delay is None:
                if mean <= 0:
                    return
                delay = self.rng.expovariate(1 / mean)
            await asyncio.sleep(delay)
            delay = None
            await self._ready.wait()
            idle = [c for c in self.connectors.values() if not (c.busy or c.fault or c.remote_tag) and c.operative]
            if idle:
                await self._raise_fault(self.rng.choice(idle), pick_fault(self.rng, self.model, in_session=False))

    async def raise_fault(self, code: str, connector_id: int = 1, clears: Clear | None = None) -> Fault:
        """Fault on demand: the fault a vendor or OCPP error code names (see catalogue.fault_for_code).

        A running session on the connector ends because of it, as a real fault would end it.
        """
        c = self.connectors.get(connector_id)
        if c is None:
            raise ValueError(f"{self.identity} has no connector {connector_id}")
        fault = fault_for_code(code, self.model)
        if clears is not None:
            fault = replace(fault, clears=clears)
        if c.transaction_id is not None:
            c.fault_requested = fault
            c.stop.set()
        else:
            await self._raise_fault(c, fault)
        return fault

    async def _raise_fault(self, c: ConnectorState, fault: Fault) -> None:
        c.fault = fault
        self.stats.faults += 1
        logger.info(
            "%s/%d faulted: %s %s %s (%s)",
            self.identity, c.connector_id, fault.vendor_error_code, fault.error_code, fault.info, fault.clears.value,
        )  # fmt: skip
        await self._set_status(c, "Faulted", force=True)
        if fault.clears is Clear.AUTO:
            self._spawn(self._clear_fault_later(c, fault, max(5.0, self.rng.expovariate(1 / self.config.mean_fault_s))))

    async def _clear_fault_later(self, c: ConnectorState, fault: Fault, delay: float) -> None:
        await asyncio.sleep(delay)
        if c.fault is fault:
            c.fault = None
            logger.debug("%s/%d: %s cleared", self.identity, c.connector_id, fault.vendor_error_code)
            if not c.busy:
                await self._set_status(c, self._idle_status(c))

    async def _session(self, c: ConnectorState, tag: str, *, remote: bool) -> None:
        """Plug in, authorise, charge, stop, unplug."""
        c.busy = True
        c.stop.clear()
        c.stop_reason = None
        try:
            await self._set_status(c, "Preparing")
            if not remote or self.configuration["AuthorizeRemoteTxRequests"][0] == "true":
                status = (await self.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"]
                if status != "Accepted":
                    logger.info("%s/%d: %s not authorised (%s)", self.identity, c.connector_id, tag, status)
                    return
            if not c.stop.is_set():
                await self._charge(c, tag)
        except CallFailed as exc:
            logger.warning("%s/%d: session aborted: %s", self.identity, c.connector_id, exc)
        finally:
            c.busy = False
            c.transaction_id = None
            c.stop.clear()
            if c.scheduled_operative is not None:
                c.operative, c.scheduled_operative = c.scheduled_operative, None
            await self._set_status(c, self._idle_status(c))

    async def _charge(self, c: ConnectorState, tag: str) -> None:
        rng, cfg = self.rng, self.config
        start: dict = {"connectorId": c.connector_id, "idTag": tag, "meterStart": c.meter_wh, "timestamp": _now()}
        if c.reservation and c.reservation.id_tag == tag:
            start["reservationId"] = c.reservation.reservation_id
            c.reservation = None
        begin = self._meter_value(c, "Transaction.Begin", energy_only=True, timestamp=start["timestamp"])
        answer = await self._call_reliably("StartTransaction", start)
        c.transaction_id = answer["transactionId"]
        self.stats.sessions += 1
        # The vehicle: DC chargers see its state of charge and taper near full.
        capacity_wh = rng.uniform(40_000, 100_000)
        c.soc = rng.uniform(10, 60) if self.model.dc else None
        vehicle_max_w = rng.choice([50_000, 120_000, 250_000]) if self.model.dc else rng.choice([7_400, 11_000, 22_000])
        session_s = max(rng.expovariate(1 / cfg.mean_session_s), 2 * cfg.meter_interval)
        deadline = time.monotonic() + session_s
        faults = rng.random() < cfg.fault_probability
        fault_at = time.monotonic() + rng.uniform(0, session_s) if faults else float("inf")
        reason = None if answer["idTagInfo"]["status"] == "Accepted" else "DeAuthorized"
        if reason is None:
            await self._set_status(c, "Charging")
        last = time.monotonic()
        while reason is None:
            # MeterValueSampleInterval 0 means no periodic samples; the session still ends in time.
            sample_s = self._key_int("MeterValueSampleInterval")
            stopped = await _wait(c.stop, sample_s or 10)
            now = time.monotonic()
            power = min(self.model.max_power_w, vehicle_max_w) * rng.uniform(0.85, 0.98)
            if c.soc is not None and c.soc > 80:
                power *= max(0.05, (100 - c.soc) / 20)
            energy = power * (now - last) / 3600
            c.power_w, c.meter_wh, last = power, c.meter_wh + round(energy), now
            if c.soc is not None:
                c.soc = min(100.0, c.soc + energy / capacity_wh * 100)
            if stopped and c.fault_requested is None:
                reason = c.stop_reason or "Local"
            elif stopped or now >= fault_at:
                fault = c.fault_requested or pick_fault(rng, self.model, in_session=True)
                c.fault_requested = None
                reason = fault.stop_reason
                await self._raise_fault(c, fault)
            elif now >= deadline or (c.soc or 0) >= 100:
                reason = rng.choice(["Local", "Local", "EVDisconnected"])
            elif sample_s:
                with contextlib.suppress(CallFailed):
                    await self.call("MeterValues", self._meter_values_payload(c, "Sample.Periodic"))
        stop = {
            "transactionId": c.transaction_id,
            "meterStop": c.meter_wh,
            "timestamp": _now(),
            "reason": reason,
            "transactionData": [begin, self._meter_value(c, "Transaction.End", energy_only=True)],
        }
        if reason in ("Local", "DeAuthorized"):
            stop["idTag"] = tag  # the driver presented the card to stop
        c.power_w, c.soc = 0.0, None
        await self._call_reliably("StopTransaction", stop)
        logger.info(
            "%s/%d session %s by %s: %.2f kWh, %s",
            self.identity, c.connector_id, c.transaction_id, tag, (c.meter_wh - start["meterStart"]) / 1000, reason,
        )  # fmt: skip
        c.transaction_id = None
        c.stop.clear()
        # After an unplug the connector is free at once, and a reboot reports every connector anyway;
        # otherwise the driver still has to unplug.
        if c.fault is None and reason not in _NO_FINISHING and not self._stopping:
            await self._set_status(c, "Finishing")
            await _wait(c.stop, rng.uniform(2, 8))

    def _meter_value(
        self, c: ConnectorState, context: str, *, energy_only: bool = False, timestamp: str | None = None
    ) -> dict:
        def sample(value: str, measurand: str, unit: str, location: str = "Outlet") -> dict:
            return {"value": value, "context": context, "measurand": measurand, "location": location, "unit": unit}

        sampled = [sample(str(c.meter_wh), "Energy.Active.Import.Register", "Wh")]
        if not energy_only:
            sampled.append(sample(f"{c.power_w:.1f}", "Power.Active.Import", "W"))
            if c.soc is not None:
                sampled.append(sample(f"{c.soc:.0f}", "SoC", "Percent", location="EV"))
        return {"timestamp": timestamp or _now(), "sampledValue": sampled}

    def _meter_values_payload(self, c: ConnectorState, context: str) -> dict:
        payload: dict = {"connectorId": c.connector_id, "meterValue": [self._meter_value(c, context)]}
        if c.transaction_id is not None:
            payload["transactionId"] = c.transaction_id
        return payload

    async def _reboot(self, kind: str) -> None:
        """Soft, Hard (reset) or Firmware: stop sessions, clear what a reboot clears, reconnect, boot."""
        for c in self.connectors.values():
            if c.busy:
                c.stop_reason = {"Soft": "SoftReset", "Hard": "HardReset"}.get(kind, "Reboot")
                c.stop.set()
        await self._until(lambda: not any(c.busy for c in self.connectors.values()), 30)
        for c in self.connectors.values():
            if c.fault and (c.fault.clears is not Clear.HARD_RESET or kind == "Hard"):
                c.fault = None
            c.reservation = c.remote_tag = None
            c.status = self._idle_status(c)
        why = f"firmware {self.firmware} installed" if kind == "Firmware" else f"{kind.lower()} reset"
        logger.info("%s: rebooting (%s)", self.identity, why)
        self._needs_boot = True
        self.link.reconnect_after(self.config.reboot_s * self.rng.uniform(0.8, 1.2))
        if self.link.connection is not None:
            # Under the CALL lock: the last message queued before (a session's final status) goes out first.
            await self.link.connection.close()

    # -- answering the server -----------------------------------------------

    def answer_call(
        self, unique_id: str, action: object = None, payload: object = None
    ) -> tuple[list, Followup | None]:
        """The CALLRESULT or CALLERROR frame for a server CALL, and what to do after sending it."""
        if not isinstance(action, str) or not isinstance(payload, dict):
            return [4, unique_id, "FormationViolation", "Expected [2, uniqueId, action, {payload}]", {}], None
        responder = self._responders.get(action)
        if responder is None:
            return [4, unique_id, "NotImplemented", f"{action} is not implemented", {}], None
        try:
            result, followup = responder(payload)
        except CallRefused as exc:
            return [4, unique_id, exc.code, exc.description, {}], None
        except KeyError as exc:
            return [4, unique_id, "OccurenceConstraintViolation", f"{exc.args[0]} is required", {}], None
        except (TypeError, ValueError, AttributeError) as exc:
            return [4, unique_id, "TypeConstraintViolation", str(exc)[:200], {}], None
        return [3, unique_id, result], followup

    def _connector(self, connector_id: object) -> ConnectorState | None:
        if not isinstance(connector_id, int):
            raise CallRefused("TypeConstraintViolation", "connectorId must be an integer")
        return self.connectors.get(connector_id)

    def _on_reset(self, p: dict) -> Answer:
        if p["type"] not in ("Soft", "Hard"):
            raise CallRefused("PropertyConstraintViolation", "type must be Soft or Hard")
        return {"status": "Accepted"}, lambda: self._reboot(p["type"])

    def _on_unlock(self, p: dict) -> Answer:
        c = self._connector(p["connectorId"])
        if c is None:
            return {"status": "NotSupported"}, None
        if c.fault and c.fault.error_code == "ConnectorLockFailure":
            return {"status": "UnlockFailed"}, None
        if c.transaction_id is not None:
            c.stop_reason = "UnlockCommand"
            c.stop.set()
        return {"status": "Unlocked"}, None

    def _on_change_availability(self, p: dict) -> Answer:
        connector_id, operative = p["connectorId"], p["type"] == "Operative"
        if p["type"] not in ("Operative", "Inoperative"):
            raise CallRefused("PropertyConstraintViolation", "type must be Operative or Inoperative")
        if connector_id == 0:
            targets = list(self.connectors.values())
            self.station_operative = operative
        elif (c := self._connector(connector_id)) is not None:
            targets = [c]
        else:
            return {"status": "Rejected"}, None
        scheduled = [c for c in targets if c.busy]
        for c in targets:
            if c.busy:
                c.scheduled_operative = operative  # applied when the session ends
            else:
                c.operative, c.scheduled_operative = operative, None

        async def report() -> None:
            if connector_id == 0:
                await self._set_status(None, self._station_status())
            for c in targets:
                if not c.busy:
                    await self._set_status(c, self._idle_status(c))

        return {"status": "Scheduled" if scheduled else "Accepted"}, report

    def _on_remote_start(self, p: dict) -> Answer:
        tag, connector_id = p["idTag"], p.get("connectorId")
        if connector_id is None:
            candidates = list(self.connectors.values())
        else:
            candidates = [c] if (c := self._connector(connector_id)) else []
        for c in candidates:
            if self.registration == "Accepted" and c.can_start(tag):
                c.remote_tag = tag
                c.wake.set()
                return {"status": "Accepted"}, None
        return {"status": "Rejected"}, None

    def _on_remote_stop(self, p: dict) -> Answer:
        for c in self.connectors.values():
            if c.transaction_id is not None and c.transaction_id == p["transactionId"]:
                c.stop_reason = "Remote"
                c.stop.set()
                return {"status": "Accepted"}, None
        return {"status": "Rejected"}, None

    def _on_trigger(self, p: dict) -> Answer:
        requested, connector_id = p["requestedMessage"], p.get("connectorId")
        if requested not in TRIGGERABLE:
            return {"status": "NotImplemented"}, None
        if connector_id not in (None, 0) and self._connector(connector_id) is None:
            return {"status": "Rejected"}, None
        chosen = [self.connectors[connector_id]] if connector_id else list(self.connectors.values())

        async def send() -> None:
            if requested == "BootNotification":
                await self._boot_once()
            elif requested == "Heartbeat":
                await self.call("Heartbeat", {})
            elif requested == "StatusNotification":
                if not connector_id:  # none given: every connector, 0 included
                    await self._set_status(None, self._station_status())
                for c in chosen if connector_id != 0 else []:
                    await self._set_status(c, c.status, force=True)
            elif requested == "MeterValues":
                for c in chosen:
                    await self.call("MeterValues", self._meter_values_payload(c, "Trigger"))
            elif requested == "DiagnosticsStatusNotification":
                await self.call("DiagnosticsStatusNotification", {"status": self.diagnostics_status})
            else:
                await self.call("FirmwareStatusNotification", {"status": self.firmware_status})

        return {"status": "Accepted"}, send

    def _on_get_configuration(self, p: dict) -> Answer:
        requested = p.get("key") or list(self.configuration)
        known = [
            {"key": key, "readonly": self.configuration[key][1], "value": self.configuration[key][0]}
            for key in requested
            if key in self.configuration
        ]
        unknown = [key for key in requested if key not in self.configuration]
        return ({"configurationKey": known, "unknownKey": unknown} if unknown else {"configurationKey": known}), None

    def _on_change_configuration(self, p: dict) -> Answer:
        key, value = p["key"], p["value"]
        if key not in self.configuration:
            return {"status": "NotSupported"}, None
        current, readonly = self.configuration[key]
        if readonly:
            return {"status": "Rejected"}, None
        is_bool = current in ("true", "false")
        if (key in _INT_KEYS and not value.isdigit()) or (is_bool and value not in ("true", "false")):
            return {"status": "Rejected"}, None
        self.configuration[key] = (value, False)
        return {"status": "Accepted"}, None

    def _on_get_diagnostics(self, p: dict) -> Answer:
        logger.info("%s: uploading diagnostics to %s", self.identity, p["location"])
        file_name = f"{self.identity}-diagnostics-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.zip"

        async def upload() -> None:
            for status, pause in (("Uploading", self.rng.uniform(2, 5)), ("Uploaded", 0)):
                self.diagnostics_status = status
                await self.call("DiagnosticsStatusNotification", {"status": status})
                await asyncio.sleep(pause)
            self.diagnostics_status = "Idle"

        return {"fileName": file_name}, upload

    def _on_update_firmware(self, p: dict) -> Answer:
        logger.info("%s: firmware update from %s", self.identity, p["location"])
        retrieve_at = datetime.fromisoformat(p["retrieveDate"].replace("Z", "+00:00")).timestamp()

        async def install() -> None:
            await asyncio.sleep(max(0.0, retrieve_at - time.time()))
            for status in ("Downloading", "Downloaded"):
                self.firmware_status = status
                await self.call("FirmwareStatusNotification", {"status": status})
                await asyncio.sleep(self.rng.uniform(2, 5))
            # Installing waits for running sessions to end, as chargers do.
            await self._until(lambda: not any(c.busy for c in self.connectors.values()), 3600)
            for status in ("Installing", "Installed"):
                self.firmware_status = status
                await self.call("FirmwareStatusNotification", {"status": status})
                await asyncio.sleep(self.rng.uniform(2, 5) if status == "Installing" else 0)
            self.firmware_status = "Idle"
            major, _, patch = self.firmware.rpartition(".")
            self.firmware = f"{major}.{int(patch) + 1}" if patch.isdigit() else f"{self.firmware}.1"
            await self._reboot("Firmware")

        return {}, install

    def _on_reserve_now(self, p: dict) -> Answer:
        c = self._connector(p["connectorId"])  # connector 0 is not reservable (ReserveConnectorZeroSupported)
        expires_at = datetime.fromisoformat(p["expiryDate"].replace("Z", "+00:00")).timestamp()
        if c is None:
            return {"status": "Rejected"}, None
        if c.fault:
            return {"status": "Faulted"}, None
        if not c.operative:
            return {"status": "Unavailable"}, None
        if c.busy or c.remote_tag or (c.reservation and c.reservation.reservation_id != p["reservationId"]):
            return {"status": "Occupied"}, None
        c.reservation = Reservation(p["reservationId"], p["idTag"], expires_at)
        c.wake.set()  # the connector loop times the expiry
        return {"status": "Accepted"}, lambda: self._set_status(c, "Reserved")

    def _on_cancel_reservation(self, p: dict) -> Answer:
        for c in self.connectors.values():
            if c.reservation and c.reservation.reservation_id == p["reservationId"]:
                c.reservation = None
                return {"status": "Accepted"}, lambda c=c: self._set_status(c, self._idle_status(c))
        return {"status": "Rejected"}, None

    def _on_send_local_list(self, p: dict) -> Answer:
        self.local_list_version = int(p["listVersion"])
        return {"status": "Accepted"}, None


async def run_fleet(
    url: str,
    identities: Sequence[str],
    config: SimConfig | None = None,
    *,
    stats: Stats | None = None,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    beside: Callable[[dict[str, SimulatedCharger]], Awaitable[None]] | None = None,
) -> Stats:
    """Run one SimulatedCharger per identity until `duration` passes or `stop` is set.

    `url` is the endpoint without the identity (ws://host:port/ocpp/).
    `beside(chargers by identity)` runs alongside the fleet, e.g. to fault chargers on request.
    """
    config = config or SimConfig()
    stats = stats if stats is not None else Stats()
    chargers = [SimulatedCharger(identity, url, config, stats) for identity in identities]
    spread = random.Random(config.seed)
    delays = [spread.uniform(0, config.ramp_up_s) for _ in chargers]
    first = spread.randrange(len(chargers)) if chargers and config.first_fault_s > 0 else None
    # Not before half of first_fault_s: the charger has booted and reported by then.
    first_after = spread.uniform(config.first_fault_s / 2, config.first_fault_s)
    tasks = [
        asyncio.create_task(charger.run(start_delay=delay, first_fault_after=first_after if n == first else None))
        for n, (charger, delay) in enumerate(zip(chargers, delays, strict=True))
    ]
    if beside is not None:
        tasks.append(asyncio.create_task(beside({c.identity: c for c in chargers})))
    stop = stop or asyncio.Event()
    try:
        if duration is None:
            await stop.wait()
        else:
            await _wait(stop, duration)
    finally:
        await asyncio.gather(*(c.shutdown() for c in chargers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats
