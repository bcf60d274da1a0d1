"""Uptime per charging port by the US NEVI rule, 23 CFR 680.116(b).

    uptime % = (minutes in period − (outage minutes − excluded outage minutes)) / minutes in period × 100

- A port is a connector numbered above 0; connector 0's state applies to every port of its station.
- A port is up while its last status (and connector 0's) is one that can deliver energy: Available,
  Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing, Reserved. Anything else is an outage:
  Faulted, Unavailable, and Offline (written by the offline sweep when the station goes silent,
  whatever it last reported, until it speaks again).
- A port that fails FAILED_SESSIONS_THRESHOLD sessions in a row (rules.py) is down from the start
  of the first of them until a successful session starts, even while it says Available.
- History is ordered by arrival (`received_at`, then id): what the charger reports late, after an
  outage, cannot make the time it was silent count as up.
- A port counts from its first status event; a period never reaches past now.
- Confirmed exclusions (exclusions.py) take outage time out, never up time; overlapping ones
  count once.

Where to look: `rules.py` (what counts, and what a failed session is for every app),
`history.py` (the database computation with window functions), `selectors.py` (port_uptime,
uptime_report, network_uptime), `rollup.py` (the daily PortUptimeDay rows and, from
`usage_rollup.py`, the usage ones; today rolled up as far as now every few minutes), `days.py`
(which part of a period comes from roll-ups and which from history), `exclusions.py`
(exclusions, their audit trail, maintenance windows), `sources.py` (proposals from maintenance
windows and opening hours), `views.py` (the operators' page), `evchart.py` (EV-ChART).
Days are UTC days.
"""
