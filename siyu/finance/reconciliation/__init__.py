"""Reconciliation against the WeChat Pay trade bill: services (download, check, parse, match, resolve), queries,
the API router, console views and the daily task. Its models live in siyu/finance/models.py."""
