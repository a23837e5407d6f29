"""Harnesses shared by the tests: real servers of their own (Debian's
postfix and dovecot-imapd, WordPress under ``php -S``, a small HTTP server)
on loopback ports of the test's own, started, waited for, stopped and
cleaned up by pytest fixtures (and the bench scripts); and every helper more
than one test module uses (sites, configs, relays, rendered editions), since
no test module imports another."""
