"""Reads of the workorders app that are more than a filter: what the portal's pages
and the API show. Each returns rows shaped for showing, in a number of queries
that does not grow with the rows."""
