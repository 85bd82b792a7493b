"""A job: its journal, the pipeline stages and resume table, results and failures."""
