"""Ray actors: thin shells around plain Python classes that tests drive without Ray."""
