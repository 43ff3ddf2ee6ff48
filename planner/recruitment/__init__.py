"""Recruitment forecasting: Poisson-Gamma site rates and time-to-target simulation."""
