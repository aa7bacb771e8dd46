"""What the club says to a member, by occasion."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    type: str
    title: str
    message: str


def welcome(first_name: str) -> Message:
    return Message(
        type="new_member",
        title="Welcome to the club",
        message=f"Welcome, {first_name}! Your membership account is ready.",
    )
