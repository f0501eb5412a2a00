"""An MLflow server that goes away mid-call becomes one retryable RegistryUnavailable line."""

from __future__ import annotations

import pytest
import requests
from mlflow.exceptions import MlflowException

from pipelines.config import HeraldConfig
from pipelines.errors import RegistryError, RegistryUnavailable
from pipelines.tracking import server_calls

CFG = HeraldConfig(mlflow_tracking_uri="http://mlflow:5000")


@pytest.mark.parametrize(
    "raised",
    [
        MlflowException("API request to http://mlflow:5000/api/2.0/mlflow/runs/log-batch failed with exception x"),
        MlflowException("API request to http://mlflow:5000/api/2.0/x failed with timeout exception y"),
        requests.exceptions.ConnectionError("Connection refused"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_a_server_that_went_away_is_registry_unavailable(raised: Exception) -> None:
    with pytest.raises(RegistryUnavailable) as info, server_calls(CFG, "registering the challenger"):
        raise raised
    assert isinstance(info.value, RegistryError)
    assert "http://mlflow:5000 stopped answering while registering the challenger" in str(info.value)


def test_other_mlflow_errors_pass_through() -> None:
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"), server_calls(CFG, "registering"):
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: Registered Model with name=x not found")
