"""Container backends: the only code that talks to a container engine."""
