"""A webhook receiver for the benchmarks, as a process of its own: `fast` answers 200 at once and counts,
`hang` accepts connections and never answers. Plain asyncio, so that it costs little CPU.

    python bench/receiver.py --port 8123 --mode fast --count-file /tmp/count
    python bench/receiver.py --port 8123 --mode fast --count-file /tmp/count --ids-file /tmp/ids

With `--ids-file`, each request's `webhook-id` header (the event id, the same on every retry of a delivery) is
appended to that file, one line per request received, before it is answered ("-" when the header is missing): the
lines less the distinct ids are the duplicates, and an event whose id is absent never arrived (bench/chaos.py).
"""

import argparse
import asyncio
from pathlib import Path

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


async def main(port: int, mode: str, count_file: Path, ids_file: Path | None = None) -> None:
    count = 0
    # Line-buffered: every id is written out as it arrives, so a reader sees all of them once the sender has an
    # answer.
    ids = ids_file.open("a", buffering=1) if ids_file is not None else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                webhook_id = "-"
                for line in head.split(b"\r\n"):
                    lower = line.lower()
                    if lower.startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                    elif lower.startswith(b"webhook-id:"):
                        webhook_id = line.split(b":", 1)[1].strip().decode(errors="replace") or "-"
                await reader.readexactly(length)
                if mode == "hang":
                    await asyncio.sleep(3600)
                count += 1
                if ids is not None:
                    ids.write(webhook_id + "\n")
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def report() -> None:
        while True:
            count_file.write_text(str(count))
            await asyncio.sleep(0.05)

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await asyncio.gather(server.serve_forever(), report())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["fast", "hang"], default="fast")
    parser.add_argument("--count-file", type=Path, required=True)
    parser.add_argument("--ids-file", type=Path, help="append each request's webhook-id header to this file")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.mode, args.count_file, args.ids_file))
