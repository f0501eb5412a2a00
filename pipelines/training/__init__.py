"""Training: the training set, fitting, evaluation, review material, promotion rules and registry I/O."""
