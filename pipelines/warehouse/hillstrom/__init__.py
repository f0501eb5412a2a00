"""The Hillstrom e-mail experiment as real data: ``csv_file`` checks the file, ``importer`` maps it."""
