"""Harnesses shared by the tests: real servers of their own (Debian's
postfix and dovecot-imapd) on loopback ports of the test's own, started,
waited for, stopped and cleaned up by pytest fixtures."""
