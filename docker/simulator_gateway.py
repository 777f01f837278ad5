"""Run the sensor simulator in a container and expose its TCP port to the compose network.

``cps-edge simulate --tcp-port`` listens on 127.0.0.1 only, which other containers cannot reach.
This script starts the simulator on a loopback port and forwards every connection made to
``0.0.0.0:LISTEN_PORT`` to it, so the agent can open ``socket://sensor-simulator:LISTEN_PORT``.
It exits with the simulator's exit status, and stops the simulator on SIGTERM.

    python simulator_gateway.py --listen-port 7000 --simulator-port 7001 -- --rate 20 --loop

Arguments after ``--`` go to ``cps-edge simulate``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import subprocess
import sys
import threading
import time

logger = logging.getLogger("simulator_gateway")

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 4096


def pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes from ``source`` to ``target`` until either side closes."""
    try:
        while data := source.recv(CHUNK_BYTES):
            target.sendall(data)
    except OSError:
        pass
    finally:
        # Closing both ends makes the opposite pipe thread stop as well.
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()


def connect_upstream(port: int, timeout: float) -> socket.socket:
    """Connect to the simulator, waiting up to ``timeout`` seconds for it to listen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((LOOPBACK, port), timeout=5)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def serve(listen_port: int, simulator_port: int) -> None:
    """Accept clients on all interfaces and forward each one to the simulator, forever."""
    listener = socket.create_server(("0.0.0.0", listen_port), reuse_port=False)
    logger.info("forwarding 0.0.0.0:%s to the simulator on %s:%s", listen_port, LOOPBACK, simulator_port)
    while True:
        client, address = listener.accept()
        try:
            upstream = connect_upstream(simulator_port, timeout=10)
        except OSError as error:
            logger.error("client %s:%s dropped: simulator on port %s does not accept connections: %s",
                         address[0], address[1], simulator_port, error)
            client.close()
            continue
        upstream.settimeout(None)
        logger.info("client %s:%s connected", address[0], address[1])
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Start the simulator and the forwarder; return the simulator's exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-port", type=int, default=7000, help="port other containers connect to (default 7000)")
    parser.add_argument("--simulator-port", type=int, default=7001, help="loopback port of the simulator (default 7001)")
    parser.add_argument("simulate_args", nargs=argparse.REMAINDER, help="arguments for cps-edge simulate, after --")
    args = parser.parse_args(argv)
    extra = args.simulate_args[1:] if args.simulate_args[:1] == ["--"] else args.simulate_args

    simulator = subprocess.Popen(["cps-edge", "simulate", "--tcp-port", str(args.simulator_port), *extra])
    signal.signal(signal.SIGTERM, lambda *_: simulator.terminate())
    threading.Thread(target=serve, args=(args.listen_port, args.simulator_port), daemon=True).start()
    status = simulator.wait()
    logger.info("simulator exited with status %s", status)
    return status


if __name__ == "__main__":
    sys.exit(main())
