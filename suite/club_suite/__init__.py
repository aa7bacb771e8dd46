"""The whole suite in one process (`make run`): for development and demos, never production."""
