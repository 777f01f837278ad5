"""The ``simulate`` and ``read`` subcommands of ``cps-edge``."""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
import time
from datetime import datetime, timezone

from edge_agent.sensor_io.buffer import Reading
from edge_agent.sensor_io.errors import PortBusyError, SensorError
from edge_agent.sensor_io.framing import DEFAULT_MAX_LINE_BYTES
from edge_agent.sensor_io.parsing import DEFAULT_FIELD, DEFAULT_PLAUSIBLE_RANGE, LINE_FORMATS
from edge_agent.sensor_io.reader import SerialReader
from edge_agent.sensor_io.simulator import LINE_ENDINGS, Simulator, SimulatorConfig
from edge_agent.sensor_io.source import parse_time


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``simulate`` and ``read`` to the ``cps-edge`` subcommands."""
    _add_simulate(commands)
    _add_read(commands)


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability between 0 and 1, got {text}")
    return value


def _timestamp(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither UNIX seconds nor a date such as 2010-06-01T12:00 (UTC unless a zone is given)"
        ) from None


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "simulate",
        help="replay a temperature series as a serial sensor on a pseudo-terminal or loopback TCP port",
        description=(
            "Replay a recorded temperature series as a serial sensor. Prints 'serial port: <address>' on "
            "standard output every time the port opens; open that address with 'cps-edge read --port'. "
            "Without --csv, replays seattle-temps.csv (hourly, degrees Fahrenheit) from the vega_datasets "
            "package when it is installed."
        ),
    )
    source = parser.add_argument_group("source")
    source.add_argument("--csv", dest="csv_path", metavar="FILE", help="CSV file with a header, a time column and a value column")
    source.add_argument("--value-column", metavar="NAME", help="temperature column (default: first numeric column that is not the time)")
    source.add_argument("--time-column", metavar="NAME", help="time column, UNIX seconds or dates (default: a column named date, time, datetime, timestamp or ts)")
    source.add_argument("--unit", choices=["C", "F"], help="unit of the values in the file (default: F for the built-in series, C for --csv)")
    source.add_argument("--start-at", type=_timestamp, metavar="TIMESTAMP", help="start at the first row at or after this time: UNIX seconds or a date, UTC unless a zone is given")
    source.add_argument("--loop", action="store_true", help="start over at the first row after the last one (default: stop at the end)")
    source.add_argument("--max-lines", type=int, metavar="N", help="stop after writing N lines (default: no limit)")

    output = parser.add_argument_group("output")
    output.add_argument("--format", dest="line_format", choices=LINE_FORMATS, default="plain", help="line format (default: plain)")
    output.add_argument("--field", default=DEFAULT_FIELD, help=f"temperature key or column name for kv, csv and json (default: {DEFAULT_FIELD})")
    output.add_argument("--output-unit", choices=["C", "F"], default="C", help="unit written to the port (default: C)")
    output.add_argument("--line-ending", choices=list(LINE_ENDINGS), default="lf", help="line ending: lf, crlf or cr (default: lf)")
    output.add_argument("--rate", type=float, default=2.0, metavar="LINES_PER_SECOND", help="lines written per second, fractional allowed (default: 2)")
    output.add_argument("--header-every", type=int, default=50, metavar="N", help="repeat the csv header every N lines so a late reader can start (default: 50)")

    port = parser.add_argument_group("port")
    port.add_argument("--link", metavar="PATH", help="keep a symbolic link at PATH pointing to the current pseudo-terminal (replaced atomically)")
    port.add_argument("--tcp-port", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT for pyserial socket:// readers instead of a pseudo-terminal; 0 picks a free port")
    port.add_argument("--write-timeout", type=float, default=1.0, metavar="SECONDS", help="drop a write that no reader takes within this time (default: 1.0)")

    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--noise-probability", type=_probability, default=0.0, metavar="P", help="probability (0 to 1) per line of NUL/0xFF noise bytes inside it (default: 0)")
    faults.add_argument("--split-probability", type=_probability, default=0.0, metavar="P", help="probability (0 to 1) per line of writing it in two parts 5 ms apart (default: 0)")
    faults.add_argument("--wrong-value-probability", type=_probability, default=0.0, metavar="P", help="probability (0 to 1) per line of an implausible, non-finite or non-numeric value (default: 0)")
    faults.add_argument("--disconnect-probability", type=_probability, default=0.0, metavar="P", help="probability (0 to 1) per line of a disconnect (default: 0)")
    faults.add_argument("--disconnect-every", type=float, metavar="SECONDS", help="disconnect periodically, every SECONDS (default: never)")
    faults.add_argument("--disconnect-for", type=float, default=1.0, metavar="SECONDS", help="how long a disconnect lasts before the port reopens (default: 1.0)")
    faults.add_argument("--seed", type=int, help="random seed for reproducible faults (default: random)")
    parser.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Run the simulator in the foreground until the source ends or SIGINT/SIGTERM arrives."""
    config = SimulatorConfig(
        csv_path=args.csv_path,
        value_column=args.value_column,
        time_column=args.time_column,
        unit=args.unit,
        output_unit=args.output_unit,
        line_format=args.line_format,
        field=args.field,
        line_ending=args.line_ending,
        rate=args.rate,
        loop=args.loop,
        start_at=args.start_at,
        max_lines=args.max_lines,
        link=args.link,
        tcp_port=args.tcp_port,
        header_every=args.header_every,
        noise_probability=args.noise_probability,
        split_probability=args.split_probability,
        wrong_value_probability=args.wrong_value_probability,
        disconnect_probability=args.disconnect_probability,
        disconnect_every=args.disconnect_every,
        disconnect_for=args.disconnect_for,
        write_timeout=args.write_timeout,
        seed=args.seed,
    )
    stop = threading.Event()
    simulator: Simulator | None = None

    def announce(address: str) -> None:
        device = simulator.device if simulator is not None else None
        print(f"serial port: {device or address}", flush=True)
        if args.link and device:
            print(f"serial link: {args.link} -> {device}", flush=True)

    try:
        simulator = Simulator(config, on_port=announce)
    except SensorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        simulator.open()
        stats = simulator.run(stop)
    except SensorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        stats = simulator.stats
    finally:
        simulator.stop()
        signal.signal(signal.SIGTERM, previous)
    faults = ", ".join(f"{name} {count}" for name, count in sorted(stats.faults.items())) or "none"
    print(
        f"simulator stopped: {stats.lines_sent} lines sent, {stats.lines_unsent} unsent (no reader), "
        f"{stats.disconnects} disconnects, faults: {faults}",
        file=sys.stderr,
    )
    return 0


def _add_read(commands: argparse._SubParsersAction) -> None:
    low, high = DEFAULT_PLAUSIBLE_RANGE
    parser = commands.add_parser(
        "read",
        help="open a serial port and print readings as they arrive, to check a device",
        description=(
            "Open a serial port and print each accepted reading as '<UTC time> <value> °C'. "
            "At exit, prints the reader status (lines, drops by reason, reconnects) as JSON on standard error."
        ),
    )
    parser.add_argument("--port", required=True, help="device path (/dev/ttyUSB0, /dev/serial/by-id/...) or pyserial URL (socket://127.0.0.1:7000)")
    parser.add_argument("--baudrate", type=int, default=9600, help="bits per second (default: 9600)")
    parser.add_argument("--format", dest="line_format", choices=LINE_FORMATS, default="plain", help="line format the device sends (default: plain)")
    parser.add_argument("--field", help=f"temperature key or column for kv, csv and json (default: {DEFAULT_FIELD})")
    parser.add_argument("--unit", choices=["C", "F"], default="C", help="unit the device sends; F is converted to °C (default: C)")
    parser.add_argument("--min", dest="minimum", type=float, default=low, help=f"lowest plausible value in °C; lower values are dropped (default: {low:g})")
    parser.add_argument("--max", dest="maximum", type=float, default=high, help=f"highest plausible value in °C; higher values are dropped (default: {high:g})")
    parser.add_argument("--max-line-bytes", type=int, default=DEFAULT_MAX_LINE_BYTES, metavar="BYTES", help=f"lines longer than this are dropped and counted (default: {DEFAULT_MAX_LINE_BYTES})")
    parser.add_argument("--gap-seconds", type=float, metavar="SECONDS", help="a pause longer than this between readings starts a new history segment (default: only disconnects do)")
    parser.add_argument("--record-dir", metavar="DIR", help="also append readings to rotated CSV files (timestamp,temperature_c) in DIR")
    parser.add_argument("--count", type=int, metavar="N", help="exit after N readings (default: run until Ctrl-C)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="exit after SECONDS (default: run until Ctrl-C)")
    parser.set_defaults(handler=run_read)


def format_reading(reading: Reading) -> str:
    moment = datetime.fromtimestamp(reading.timestamp, tz=timezone.utc).isoformat(timespec="milliseconds")
    return f"{moment} {reading.value:.2f} °C"


def run_read(args: argparse.Namespace) -> int:
    """Print readings from a port until ``--count``, ``--duration``, SIGINT or SIGTERM."""
    arrivals: queue.Queue[list[Reading]] = queue.Queue()
    try:
        reader = SerialReader(
            args.port,
            baudrate=args.baudrate,
            line_format=args.line_format,
            field=args.field,
            unit=args.unit,
            plausible_range=(args.minimum, args.maximum),
            gap_seconds=args.gap_seconds,
            recording_dir=args.record_dir,
            max_line_bytes=args.max_line_bytes,
            on_readings=arrivals.put,
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        reader.start()
    except PortBusyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    printed = 0
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                batch = arrivals.get(timeout=0.2)
            except queue.Empty:
                continue
            for reading in batch:
                print(format_reading(reading), flush=True)
                printed += 1
                if args.count is not None and printed >= args.count:
                    stop.set()
                    break
    except KeyboardInterrupt:
        pass
    finally:
        reader.stop()
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(reader.status(), indent=2), file=sys.stderr)
    return 0
