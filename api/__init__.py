"""HTTP layer: FastAPI routers, the error model, pages. Rules live in `domain`."""
