"""The policy: the greedy choice, budgets, replay, off-policy estimators, safe improvement and uplift evaluation."""
