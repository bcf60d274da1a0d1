"""Writes of the alerts: rules, evaluation, acknowledgement, endpoints and deliveries."""
