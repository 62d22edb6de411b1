"""Requests by mail: an LMTP/SMTP endpoint the hospital's mail server delivers to turns mails to a tenant's
helpdesk address into tickets and replies into comments."""
