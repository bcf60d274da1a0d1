"""Every write and business rule of the workorders app."""
