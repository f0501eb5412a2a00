"""The Hillstrom e-mail experiment as Herald's real-data proof: ``csv_file`` → ``importer`` → ``experiment`` → ``report``."""
