"""trialplan."""
