"""The state of a test's own processes, read from ``/proc`` (Linux)."""


def alive(pid):
    """Whether process ``pid`` exists and is not a zombie (a killed process soon is one, or gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            return b"State:\tZ" not in handle.read()
    except OSError:
        return False
