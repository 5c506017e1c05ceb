"""Errors of the simulators.

VigieError (vigie.errors)
└── SimulatorError       base of this package
    └── ScenarioError    a scenario file, a fault spec or an option is wrong
"""

from vigie.errors import VigieError


class SimulatorError(VigieError):
    """A simulator command cannot run; ``str(exc)`` is the one-line message."""


class ScenarioError(SimulatorError):
    """A scenario file, a fault specification or an option is invalid."""
