"""Data protection: the processing record and impact-assessment dossier (issue 15)."""
