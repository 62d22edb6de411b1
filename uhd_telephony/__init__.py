"""uhd-telephony: Asterisk call tracking, tickets and KPIs for an IT user helpdesk."""

__version__ = "0.1.0"
