"""Pure rules and data of dichte: schemas, validation, signed tokens, settings.

Nothing here imports Ray or an HTTP framework, so every rule is tested without
starting a cluster.
"""
