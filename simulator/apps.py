from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    """Installed only when the simulator package is present: it brings `siyu simulate`."""

    name = "simulator"
    label = "simulator"
    verbose_name = "Channel simulator"
