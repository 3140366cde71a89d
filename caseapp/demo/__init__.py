"""Demo data: a province with its schools, accounts and cases (not part of the services)."""
