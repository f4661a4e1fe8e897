"""The event store: api (what the server asks of a database), backends (open_store: which store a database names),
core (row encoding and every method body both dialects share), and one
module of dialect code per backend (sqlite, postgres)."""
