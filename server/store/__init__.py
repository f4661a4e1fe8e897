"""The event store: api (what the server asks of a database, open_store),
core (row encoding and every method body both dialects share), and one
module of dialect code per backend (sqlite, postgres)."""
