"""Harnesses shared by the tests: real servers of their own (Debian's
postfix and dovecot-imapd, WordPress under ``php -S``, a small HTTP server)
on loopback ports of the test's own, started, waited for, stopped and
cleaned up by pytest fixtures (and the bench scripts)."""
