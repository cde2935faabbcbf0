"""Forecasting: where the target and the people around it will be (SMEMO), and constant-velocity peers."""
