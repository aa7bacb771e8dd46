"""Clients of the outside systems (HubSpot, Google Calendar, Eventbrite): HTTP, timeouts, rate limits."""
