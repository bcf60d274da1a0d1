"""Portal pages for field work, one module per audience: the technician's queue
and work order (phone first), the dispatcher's boards, incidents, and KPIs.
Views check who may do what, read through workorders.selectors and act through
workorders.services; they hold no rules and no queries of their own."""
