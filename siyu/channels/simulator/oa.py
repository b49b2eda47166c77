"""Placeholder: the platform's simulated API (a WSGI app named `app`)."""

from siyu.channels.simulator.server import _not_found as app  # noqa: F401
