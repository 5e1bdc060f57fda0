"""HTTP API: FastAPI app factory, routers and the error-to-status table."""
