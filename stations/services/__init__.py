"""Every write and business rule of the stations app.

Import from the submodules: `from stations.services import sessions`.
"""
