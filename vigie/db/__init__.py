"""Database access shared by every stage: connection helper, schema migrations, license detection."""

from vigie.db._connect import connect
from vigie.db._migrate import Migration, MigrationStatus, detect_license, discover, migrate, status

__all__ = ["Migration", "MigrationStatus", "connect", "detect_license", "discover", "migrate", "status"]
