"""FastAPI routers for everything but the two prediction endpoints: probes, model, metrics."""
