"""Shared test helpers: polling, ORM from async code, fault reports, remediation steps,
browser login, and the hostile data set the XSS tests render."""

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group
from django.db import connections
from django.test import TestCase
from django.utils import timezone

from config import roles
from stations.models import ChargingSession, ChargingStation, FrameLog, IdTag, RemoteCommand
from stations.services import status
from tests.factories import (
    AMSTERDAM,
    ConnectorFactory,
    SiteFactory,
    StationFactory,
    TechnicianFactory,
    UserFactory,
)
from workorders.models import ErrorCode, Incident, IncidentStep, Technician, WorkOrder
from workorders.services import lifecycle, remediation

BASE_DIR = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", BASE_DIR / "var" / "screenshots"))


def eventually(check, timeout: float = 5.0):
    """Poll until check() returns a truthy value (the server writes some rows in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


async def orm(fn):
    """Run an ORM read from async test code, closing the thread's connection after."""

    def call():
        try:
            return fn()
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)


# --- Faults and remediation ------------------------------------------------


def technician(username: str, *, skills=(), at=AMSTERDAM, certifications=()) -> Technician:
    return TechnicianFactory(
        user__username=username,
        skills=list(skills),
        certifications=list(certifications),
        home_latitude=at[0],
        home_longitude=at[1],
    )


def fault(station, *, connector_id=1, error_code="InternalError", vendor_error_code="", status_value="Faulted"):
    """The charger reports a fault, through the service the OCPP handler calls."""
    return status.connector_status_report(
        station_id=station.pk,
        connector_id=connector_id,
        status=status_value,
        error_code=error_code,
        vendor_error_code=vendor_error_code,
    )


def recover(station, connector_id=1):
    return status.connector_status_report(
        station_id=station.pk, connector_id=connector_id, status="Available", error_code="NoError"
    )


def advance(incident, now=None):
    return remediation.incident_advance(incident_id=incident.pk, now=now)


def amsterdam_station(identity: str, **kwargs):
    """A station with connectors 0 and 1 on a site in Amsterdam."""
    site = SiteFactory(latitude=AMSTERDAM[0], longitude=AMSTERDAM[1])
    station = StationFactory(identity=identity, site=site, **kwargs)
    ConnectorFactory(station=station, connector_id=0)
    ConnectorFactory(station=station, connector_id=1)
    return station


# --- Browser ---------------------------------------------------------------


def operator_user(username: str = "browser-op"):
    roles.ensure_roles()
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    return user


def login(page, base: str, username: str) -> None:
    """Log a factory user (password pw-for-tests) in through the login form."""
    page.goto(f"{base}/stations/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/stations/")


# --- Hostile data ----------------------------------------------------------

# Each would run as script if a page put it anywhere but in text or JSON data.
SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
TEMPLATE = "${window.__xss=1}"
SHORT = "<svg onload=__xss=1>"  # fits the 20-character fields (vendor, model, id tag)
# Still a valid identity (no spaces or '/'): breaks out of a JS template literal
# or a string, and opens a tag if it lands in markup unescaped.
IDENTITY = "Q`+(window.__xss=1)+`${window.__xss=1}\"'<b>"
MARKUP_PAYLOADS = (SCRIPT, IMG, SHORT, IDENTITY)


@dataclass
class Hostile:
    station: ChargingStation
    incident: Incident
    order: WorkOrder
    technician: Technician


def hostile_world(technician_username: str = "xss-tech") -> Hostile:
    """A station, its history, an incident and a work order where every text a
    charger or a user can choose holds a script."""
    roles.ensure_roles()
    ErrorCode.objects.update_or_create(
        vendor="",
        code=IMG,
        defaults={"meaning": SCRIPT, "field_steps": f"{IMG}\n{TEMPLATE}", "likely_parts": SCRIPT, "skills": [SHORT]},
    )
    site = SiteFactory(name=IMG, address=SCRIPT, latitude=AMSTERDAM[0], longitude=AMSTERDAM[1])
    station = StationFactory(
        identity=IDENTITY,
        site=site,
        vendor=TEMPLATE,
        model=SHORT,
        serial_number='"><svg onload=__xss=1>',
        firmware_version=SCRIPT,
        firmware_status=SHORT,
    )
    ConnectorFactory(station=station, connector_id=0)
    connector = ConnectorFactory(station=station, connector_id=1)
    # The incident opens on commit; a test inside one transaction runs that at once.
    with TestCase.captureOnCommitCallbacks(execute=True):
        status.connector_status_report(
            station_id=station.pk,
            connector_id=1,
            status="Faulted",
            error_code="OtherError",
            vendor_error_code=IMG,
            info=SCRIPT,
            vendor_id=TEMPLATE,
        )
    incident = Incident.objects.get(station=station)
    IncidentStep.objects.create(incident=incident, kind="decision", reason=SCRIPT + IMG, at=timezone.now(), key="xss")

    IdTag.objects.create(id_tag=SHORT)
    ChargingSession.objects.create(
        station=station,
        connector=connector,
        id_tag=SHORT,
        id_tag_status="Invalid",
        meter_start=0,
        start_at=timezone.now(),
        start_fingerprint="xss",
        meter_flags=[SHORT],
    )
    FrameLog.objects.create(
        station=station,
        direction="in",
        message_type=2,
        action=SHORT,
        unique_id=TEMPLATE,
        raw=json.dumps([2, TEMPLATE, "DataTransfer", {"vendorId": SCRIPT, "data": IMG}]),
        created_at=timezone.now(),
    )
    RemoteCommand.objects.create(
        station=station,
        action="DataTransfer",
        payload={"vendorId": SCRIPT, "data": IMG},
        requested_via=IMG,
        status="accepted",
        response={"status": "Accepted", "data": TEMPLATE},
        completed_at=timezone.now(),
    )
    RemoteCommand.objects.create(
        station=station,
        action="GetConfiguration",
        payload={"key": [SHORT]},
        requested_via=SHORT,
        status="error",
        error_code="GenericError",
        error_description=SCRIPT,
        completed_at=timezone.now(),
    )

    user = UserFactory(username=technician_username, first_name=IMG, last_name=TEMPLATE)
    user.groups.add(Group.objects.get(name=roles.TECHNICIAN))
    technician = Technician.objects.create(
        user=user,
        skills=["ac", "dc", SHORT],
        certifications=[SCRIPT],
        territory=SCRIPT,
        home_latitude=AMSTERDAM[0],
        home_longitude=AMSTERDAM[1],
        work_start="00:00",
        work_end="23:59",
    )
    order = lifecycle.workorder_create(
        kind="corrective",
        station=station,
        connector=connector,
        incident=incident,
        title=SCRIPT,
        checklist=[IMG, TEMPLATE],
        diagnosis={
            "error_code": "OtherError",
            "vendor_error_code": IMG,
            "meaning": SCRIPT,
            "decision": TEMPLATE,
            "field_steps": f"{SCRIPT}\n{IMG}",
            "likely_parts": TEMPLATE,
            "skills": [SHORT],
            "remote_steps_tried": [{"step": SHORT, "command": IMG, "outcome": TEMPLATE}],
        },
    )
    order = lifecycle.workorder_transition(work_order=order, to="assigned", technician=technician)
    WorkOrder.objects.filter(pk=order.pk).update(notes=SCRIPT, parts_used=IMG, follow_up=TEMPLATE)
    return Hostile(station=station, incident=incident, order=order, technician=technician)
