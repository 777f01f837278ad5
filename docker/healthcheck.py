"""Container health checks that need only the standard library.

    python healthcheck.py http URL        exit 0 when URL returns a 2xx status within 3 s
    python healthcheck.py listening PORT  exit 0 when a TCP socket listens on PORT (any address)

``listening`` reads /proc/net/tcp instead of connecting, because the sensor simulator serves one
client at a time and a probe connection would take the agent's place.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TCP_LISTEN_STATE = "0A"


def check_http(url: str) -> int:
    """Return 0 when ``url`` responds with a 2xx status, 1 otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{url} did not respond: {error}", file=sys.stderr)
        return 1


def check_listening(port: int) -> int:
    """Return 0 when a TCP socket listens on ``port``, 1 otherwise."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows)  # header
                for row in rows:
                    fields = row.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port and fields[3] == TCP_LISTEN_STATE:
                        return 0
        except FileNotFoundError:
            continue
    print(f"nothing listens on TCP port {port}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    """Dispatch on the check name; return the exit status."""
    if len(argv) == 2 and argv[0] == "http":
        return check_http(argv[1])
    if len(argv) == 2 and argv[0] == "listening" and argv[1].isdigit():
        return check_listening(int(argv[1]))
    print("usage: healthcheck.py http URL | listening PORT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
