"""A real mosquitto for the MQTT tests: free loopback port, configuration from `mqtt-config`."""

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from gateway_process import GatewayProcess

from gateway.bus import home_of
from gateway.datafiles import load_lines
from gateway.mqtt_config import BrokerAccount, line_accounts, write_config
from routing.lines import LINE_CODES

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
GATEWAY_ACCOUNT = BrokerAccount("iaqgw", "DEV-IAQGW")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """mosquitto with the development line registry's accounts and ACLs, in a temp dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        registry = load_lines(None)
        write_config(directory, registry, line_accounts(registry, {}, development=True),
                     GATEWAY_ACCOUNT, self.port)
        self.log_path = directory / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT`` for ``--bus``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "Broker":
        """Start and wait until the port takes connections."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise TimeoutError("mosquitto did not start")

    def stop(self) -> None:
        """SIGTERM (mosquitto writes its persistence file) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        """What mosquitto logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


INSTANCES = ("a", "b")


def homed(instance: str, count: int, skip: tuple[str, ...] = ()) -> list[str]:
    """``count`` line codes whose home is ``instance`` among :data:`INSTANCES`."""
    found = [c for c in LINE_CODES if home_of(c, INSTANCES) == instance and c not in skip]
    return found[:count]


def wait_for_event(process: GatewayProcess, event: str, timeout: float = 20.0) -> None:
    """Wait until the process has logged ``event``."""
    process.wait_for(event, timeout)


def start_instances(tmp_path: Path, broker: Broker) -> dict[str, GatewayProcess]:
    """Gateway processes ``a`` and ``b`` on the broker, each connected to it."""
    started: dict[str, GatewayProcess] = {}
    try:
        for name in INSTANCES:
            (tmp_path / name).mkdir()
            started[name] = GatewayProcess(
                tmp_path / name / "data", "--bus", broker.url, "--instance", name,
                "--instances", ",".join(INSTANCES),
            ).start()
        for process in started.values():
            wait_for_event(process, "bus.connected")
    except BaseException:
        for process in started.values():
            process.stop()
        raise
    return started
