"""Monitoring: drift of inputs and predictions, realised outcomes, fairness, alerts and the retraining trigger."""
