"""A webhook receiver for the benchmarks, as a process of its own: `fast` answers 200 at once and counts,
`hang` accepts connections and never answers. Plain asyncio, so that it costs little CPU.

    python bench/receiver.py --port 8123 --mode fast --count-file /tmp/count
"""

import argparse
import asyncio
from pathlib import Path

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


async def main(port: int, mode: str, count_file: Path) -> None:
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if mode == "hang":
                    await asyncio.sleep(3600)
                count += 1
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
    args = parser.parse_args()
    asyncio.run(main(args.port, args.mode, args.count_file))
