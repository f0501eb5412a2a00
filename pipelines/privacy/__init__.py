"""Personal data: forgetting a customer everywhere Herald wrote, and retention of run files and reports."""
