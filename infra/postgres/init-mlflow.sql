-- A separate database and role for MLflow's backend store next to Airflow's metadata.
CREATE USER mlflow WITH PASSWORD 'mlflow';
CREATE DATABASE mlflow OWNER mlflow;
