"""`herald import`: mapping files (YAML) that turn a team's exports into the warehouse contract's tables."""

from pipelines.warehouse.imports.importer import ImportReport, import_mapping
from pipelines.warehouse.imports.mapping import Mapping, MappingError, load_mapping

__all__ = ["ImportReport", "Mapping", "MappingError", "import_mapping", "load_mapping"]
