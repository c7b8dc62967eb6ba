"""Helpers the integration tests share: commands, a registry server, users and engines, and
copies of the project. Imported as `tests.support.<module>` (the project root is on sys.path)."""
