"""Running Siyu in production: request ids and structured logs, Prometheus metrics, `siyu consistency`."""
