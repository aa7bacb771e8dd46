"""Units of work that tie the domain rules to billing's tables, the outbox and the job queue.

Each function works inside the caller's session (an HTTP request's transaction, a consumer's, or a
job's); outside calls (Stripe) only ever happen in jobs, after the causing transaction committed.
"""
