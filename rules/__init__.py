"""Rules: clinically meaningful alerts and recommendation drafts that a vet approves (issue 6).

- :mod:`rules._config`: per-species rule files (``config/rules/*.toml``), clinic/animal overrides, versions;
- :mod:`rules._engine`: the pure engine (``evaluate(frame, context, rules, now)`` → episodes);
- :mod:`rules._backtest`: the same engine over a recording, scored against its labels;
- :mod:`rules._drafts`: owner/farmer drafts in French and English (pure);
- :mod:`rules._store`, :mod:`rules._vet`: alerts and drafts in the database, vet actions with the audit log;
- :mod:`rules._service`: ``vigie rules``, continuous evaluation on committed readings.

Importing the package is cheap; the modules load pandas and the analytics functions when used.
"""

from __future__ import annotations

from rules._model import CATEGORIES, SEVERITIES

__all__: list[str] = ["CATEGORIES", "SEVERITIES"]
