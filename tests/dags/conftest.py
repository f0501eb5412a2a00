"""Point Airflow at Herald's DAG folder and a throwaway home before anything imports it."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="herald-airflow-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# Airflow puts the DAG folder on sys.path in its own processes; do the same here.
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))
