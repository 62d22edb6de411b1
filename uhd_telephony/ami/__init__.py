"""AMI: the wire framing, typed events and the connection to Asterisk."""
