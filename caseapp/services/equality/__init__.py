"""The gender-equality work of a unit and its period report (issue 13): plans and targets,
statistics by sex, campaigns and activities, the narrative, the document, reminders."""
