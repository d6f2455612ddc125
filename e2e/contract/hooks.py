"""Schemathesis hooks for the API contract test (e2e/tests/e2e/contract.rs).

One hook: header text travels as UTF-8. Spin's HTTP server refuses a request whose header value
is not valid UTF-8 with an empty 500, before any component runs
(spin_trigger_http::headers::prepare_request_headers: `std::str::from_utf8(value)?`, in Spin 3.6.3
and 4.1), and schemathesis's HTTP client encodes header values as Latin-1, so a generated value
such as "\\x84" would arrive as the single byte 0x84 and never reach the API. Sent as UTF-8, the
API sees exactly the text schemathesis generated and answers it (a malformed If-Match is a 400
problem, as documented). docs/problems.md says what a client that sends non-UTF-8 header bytes
gets from the runtime. Everything else is sent as schemathesis makes it.
"""

import schemathesis


def _as_utf8_on_the_wire(value):
    if isinstance(value, str) and not value.isascii():
        # requests encodes str header values as Latin-1: hand it the UTF-8 bytes as Latin-1 text.
        return value.encode("utf-8").decode("latin-1")
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    for source in (case.headers, kwargs.get("headers")):
        if source:
            for name, value in list(source.items()):
                source[name] = _as_utf8_on_the_wire(value)
