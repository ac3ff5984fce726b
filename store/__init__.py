"""Redis access, and nothing else touches Redis: the key schema, the Lua scripts, the
declaration, epidemiological and gallery stores, the IOC outbox, retention."""
