"""One router per resource: predictions and the health probes."""
