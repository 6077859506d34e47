"""A probe line in a process of its own, so that what it measures is the gateway and not the
test process that abuses it: ``python tests/reliability_probe.py PORT LINE RATE``.

It sends IAQs at RATE per second until its standard input closes, waits for every IAR and
prints one JSON object: sent, answered, p99_ms.
"""

import asyncio
import json
import sys
import time

# Run as a script, this file's directory (tests/) is first on the path.
from messages import iaq
from reliability_tools import LoadLine, latency_histogram, p99_ms


async def probe(port: int, line_code: str, rate: float) -> dict[str, object]:
    """Probe until stdin closes; the figures of the run."""
    loop = asyncio.get_running_loop()
    stop = loop.run_in_executor(None, sys.stdin.read)
    line = await LoadLine.connect(port, line_code)
    print("ready", flush=True)
    sent_at: dict[str, float] = {}
    start = time.monotonic()
    while not stop.done():
        due = int((time.monotonic() - start) * rate)
        while len(sent_at) < due:
            control = f"P{len(sent_at)}"
            sent_at[control] = time.monotonic()
            line.send_nowait([iaq(f"{line_code}0000000", arn="012345678", control=control)])
        await asyncio.sleep(0.002)
    outputs = await line.wait_outputs(2 * len(sent_at), timeout=60)
    await line.close()
    histogram = latency_histogram()
    answered = 0
    for output in outputs:
        if output.message.mke == "IAR" and output.message.control in sent_at:
            answered += 1
            latency = output.at - sent_at[output.message.control]
            histogram.record_value(max(1, int(latency * 1e6)))
    return {"sent": len(sent_at), "answered": answered, "p99_ms": p99_ms(histogram)}


def main() -> None:
    """Run the probe and print its figures."""
    port, line_code, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    print(json.dumps(asyncio.run(probe(port, line_code, rate))), flush=True)


if __name__ == "__main__":
    main()
