"""Accounts, roles, passwords and sign-in sessions."""
