"""Errors of the shared layer.

VigieError                 base: a message the user can read on one line
├── ConfigError            settings or a config file is wrong
├── DatabaseError          the database refused or is not what Vigie needs
│   └── NotTimescaleError  PostgreSQL without the timescaledb extension
└── RegistryError          a registry command got bad input (unknown clinic, duplicate id, ...)
"""


class VigieError(Exception):
    """Base of every error Vigie reports to a user; ``str(exc)`` is the one-line message."""


class ConfigError(VigieError):
    """A setting or a configuration file is invalid."""


class DatabaseError(VigieError):
    """The database refused an operation or lacks what Vigie needs."""


class NotTimescaleError(DatabaseError):
    """The database is plain PostgreSQL: TimescaleDB is required."""


class RegistryError(VigieError):
    """Bad input to the clinic / animal / device registry."""
