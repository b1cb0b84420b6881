"""Stateful fakes of the external services arsync talks to, for tests."""
