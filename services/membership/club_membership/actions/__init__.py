"""Units of work: SQL, the domain rules and the events they publish, used by the API, the
handlers and the seed. Each function works inside the caller's session (its transaction)."""
