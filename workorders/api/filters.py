"""The API lists filter exactly as the portal's boards do."""

from workorders.selectors.filters import ErrorCodeFilter, IncidentFilter, WorkOrderFilter

__all__ = ["ErrorCodeFilter", "IncidentFilter", "WorkOrderFilter"]
