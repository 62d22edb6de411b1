"""The built-in AMI simulator: a TCP server that speaks AMI like Asterisk 22."""
