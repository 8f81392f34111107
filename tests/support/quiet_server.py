"""A threading HTTP server for test stand-ins that does not print a traceback when a client hangs up."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the timeout tests) closed its socket before the answer: expected."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ValueError)):
            super().handle_error(request, client_address)
