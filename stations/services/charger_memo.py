"""What the OCPP server remembers about one connected charger.

A charger talks to exactly one connection at a time (a newer one replaces
the older), and the rows a routine frame needs change only through that
charger's own frames: its connectors, the state each connector last
reported, its open transactions and their last energy reading. Keeping them
on the connection lets a Heartbeat, StatusNotification or MeterValues cost
only the writes it must make, not a read before each.

The memo is only a shortcut. Services take it as an optional argument and
read from the database whenever it does not know the answer (a new
connection, a transaction started on an earlier connection, a reading that
arrives out of order), so a memo that starts empty is always correct.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass
class ConnectorMemo:
    """A connector's row as its last status report left it."""

    pk: int
    status: str = ""
    error_code: str = ""
    vendor_error_code: str = ""
    vendor_id: str = ""
    info: str = ""
    status_since: datetime | None = None
    status_clock_trusted: bool = True
    # False until the status fields above were read or written by this connection.
    status_known: bool = False


@dataclass
class SessionMemo:
    """An open transaction as MeterValues need it."""

    pk: int
    meter_start: int
    meter_flags: frozenset[str]
    # The latest energy register reading stored for it: (time, Wh), when known.
    last_register: tuple[datetime, Decimal] | None = None
    last_register_known: bool = False


@dataclass
class ChargerMemo:
    connectors: dict[int, ConnectorMemo] = field(default_factory=dict)
    sessions: dict[int, SessionMemo] = field(default_factory=dict)
    # Station fields a BootNotification compares with (see registration.station_boot).
    station_model_id: int | None = None
    vendor: str = ""
    model: str = ""
    lenient: bool = False
    offline: bool = False

    def connector_remember(self, connector_id: int, pk: int) -> ConnectorMemo:
        memo = self.connectors.get(connector_id)
        if memo is None or memo.pk != pk:
            memo = self.connectors[connector_id] = ConnectorMemo(pk=pk)
        return memo

    def forget_session(self, transaction_id: int) -> None:
        self.sessions.pop(transaction_id, None)
