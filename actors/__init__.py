"""Ray actors only, each a thin shell around a store or a service."""
