"""Dashboards on the analytics engine: siyu.analytics.queries is the way in (filters parsed and scoped there)."""
