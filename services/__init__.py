"""The use cases that routes, actors and the command line call: declare, check in,
trace, enrol, measure. Plain asyncio; no Ray, no HTTP."""
