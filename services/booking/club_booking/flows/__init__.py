"""The booking workflows: one function per thing that happens, each inside the caller's transaction.

The API, the event handlers and the scheduled jobs call these; they read and write through the
session, apply the rules of `domain/`, raise `Problem` for refusals and publish events through the
outbox in the same transaction.
"""
