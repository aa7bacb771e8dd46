"""Test support: find real PostgreSQL and RabbitMQ, make private databases and bus namespaces."""
