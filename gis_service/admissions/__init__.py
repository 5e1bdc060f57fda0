"""Admissions: rounds, applicants, eligibility, running allocation and publishing results."""
