"""Satisfaction (Kundenzufriedenheit): a one-click rating 1-5 of a resolved ticket through its status link."""
