"""Case services: intake, records, listing, access, steps, workflow, clocks, notices."""
