#!/usr/bin/env python3
"""A userspace impairment relay for the network lab: forwards TCP from a listen address to a
target address and delays every chunk it forwards, in both directions.

The kernel the lab runs on may have no netem, so latency and loss come from here:

  * latency: each chunk is written `--latency-ms` after it was read, plus a jitter drawn
    uniformly from [0, --jitter-ms] by a random generator seeded with --seed;
  * loss: with probability --loss, a chunk is "lost once" and goes out --rto-ms later, as TCP
    would deliver it after a retransmission; the bytes still arrive whole and in order (a chunk
    never overtakes the one before it), which is what an application above TCP sees of loss.

Prints one JSON line on stdout when it listens ({"event":"listening","addr":..,"port":..}),
then one per connection closed with its figures ({"event":"closed","chunks":..,"lost":..,
"bytes":..,"mean_delay_ms":..}). Stops on SIGTERM or SIGINT. Python 3 standard library only.
"""

import argparse
import asyncio
import json
import random
import signal
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


class Impairment:
    """Decides when each chunk goes out; one per relay, its generator seeded once."""

    def __init__(self, latency_ms, jitter_ms, loss, rto_ms, seed):
        self.latency = latency_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.loss = loss
        self.rto = rto_ms / 1000.0
        self.rng = random.Random(seed)

    def delay(self):
        """The delay of one chunk, in seconds, and whether it was 'lost' once."""
        d = self.latency
        if self.jitter > 0:
            d += self.rng.uniform(0.0, self.jitter)
        lost = self.loss > 0 and self.rng.random() < self.loss
        if lost:
            d += self.rto
        return d, lost


class Direction:
    """One direction of one connection: a reader that stamps each chunk with the time it is
    due, and a writer that sends the chunks in order, each no earlier than its due time."""

    def __init__(self, impairment, stats):
        self.impairment = impairment
        self.stats = stats
        self.queue = asyncio.Queue()
        self.last_due = 0.0

    async def read(self, reader):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                now = loop.time()
                d, lost = self.impairment.delay()
                # In order: a chunk is never due before the one read before it.
                due = max(self.last_due, now + d)
                self.last_due = due
                self.stats["chunks"] += 1
                self.stats["lost"] += 1 if lost else 0
                self.stats["bytes"] += len(data)
                self.stats["delay_sum"] += due - now
                await self.queue.put((due, data))
        except (ConnectionError, OSError):
            pass
        finally:
            await self.queue.put((None, None))

    async def write(self, writer):
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await self.queue.get()
                if data is None:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass


async def handle(client_reader, client_writer, args, impairment):
    stats = {"chunks": 0, "lost": 0, "bytes": 0, "delay_sum": 0.0}
    try:
        target_reader, target_writer = await asyncio.wait_for(
            asyncio.open_connection(args.target_host, args.target_port), timeout=10)
    except (OSError, asyncio.TimeoutError) as e:
        emit({"event": "error", "error": "cannot reach target %s:%d: %s"
              % (args.target_host, args.target_port, e)})
        client_writer.close()
        return
    up = Direction(impairment, stats)
    down = Direction(impairment, stats)
    tasks = [
        asyncio.ensure_future(up.read(client_reader)),
        asyncio.ensure_future(up.write(target_writer)),
        asyncio.ensure_future(down.read(target_reader)),
        asyncio.ensure_future(down.write(client_writer)),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        for w in (client_writer, target_writer):
            try:
                w.close()
            except OSError:
                pass
        mean = stats["delay_sum"] / stats["chunks"] * 1000.0 if stats["chunks"] else 0.0
        emit({"event": "closed", "chunks": stats["chunks"], "lost": stats["lost"],
              "bytes": stats["bytes"], "mean_delay_ms": round(mean, 3)})


async def main_async(args):
    impairment = Impairment(args.latency_ms, args.jitter_ms, args.loss, args.rto_ms, args.seed)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args, impairment), args.listen_host, args.listen_port)
    port = server.sockets[0].getsockname()[1]
    emit({"event": "listening", "addr": args.listen_host, "port": port,
          "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, "loss": args.loss,
          "rto_ms": args.rto_ms, "seed": args.seed})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def parse_hostport(text, what):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit("relay: %s must be HOST:PORT, not %r" % (what, text))
    return host, int(port)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", required=True, help="HOST:PORT to listen on (port 0: any)")
    p.add_argument("--target", required=True, help="HOST:PORT to forward to")
    p.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay per chunk")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform extra delay, at most")
    p.add_argument("--loss", type=float, default=0.0, help="probability a chunk is lost once")
    p.add_argument("--rto-ms", type=float, default=200.0, help="a lost chunk's extra delay")
    p.add_argument("--seed", type=int, default=1, help="seed of the jitter and loss draws")
    args = p.parse_args()
    if not 0.0 <= args.loss <= 1.0:
        raise SystemExit("relay: --loss must be within [0, 1], not %r" % args.loss)
    if args.latency_ms < 0 or args.jitter_ms < 0 or args.rto_ms < 0:
        raise SystemExit("relay: --latency-ms, --jitter-ms and --rto-ms must not be negative")
    args.listen_host, args.listen_port = parse_hostport(args.listen, "--listen")
    args.target_host, args.target_port = parse_hostport(args.target, "--target")
    try:
        asyncio.run(main_async(args))
    except OSError as e:
        emit({"event": "error", "error": "cannot listen on %s: %s" % (args.listen, e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
