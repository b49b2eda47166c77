"""The demo's names: its enterprise code and the login `siyu demo` prints (the console's login page shows it too)."""

DEMO_USER = "admin"
DEMO_PASSWORD = "siyu-demo"  # noqa: S105 - the printed demo login, documented in the README
DEMO_ENTERPRISE = "demo"
