-- Runs once, when the PostgreSQL volume is created: a database for the sweeps' Optuna studies,
-- owned by the same user as MLflow's (storage.optuna_url = postgresql+psycopg2://USER@HOST:5432/optuna).
CREATE DATABASE optuna;
