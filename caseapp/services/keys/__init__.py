"""Key services: rotation and retirement, and which keyring goes with this database."""
