"""Load check of TensorBoard's charrnn tab: N clients at once against one, on a running TensorBoard.

    tensorboard --logdir logs --port 6006 &
    python scripts/dashboard_load.py --url http://127.0.0.1:6006 --run <run name> --clients 1,4,16

Each client sends `--requests` generation requests one after another, each with a prime and seed
of its own. The same requests are first sent one at a time; every text of the concurrent rounds
must equal the one its request got alone (nothing lost or mixed up between clients). Prints, per
number of clients, the characters per second of all clients together and the latency of a request
(median and slowest). Standard library only.
"""

import argparse
import json
import statistics
import threading
import time
import urllib.request

PRIMES = ("ROMEO:", "JULIET:", "First Citizen:", "KING", "The ", "\n", "What", "O, ")


def generate(url: str, body: dict) -> str:
    """The text of one request, read from the streamed answer to its end."""
    request = urllib.request.Request(f"{url}/data/plugin/charrnn/generate", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    pieces = []
    with urllib.request.urlopen(request, timeout=300) as answer:
        for line in answer:
            message = json.loads(line)
            if "error" in message:
                raise RuntimeError(message["error"])
            if "chunk" in message:
                pieces.append(message["chunk"][0])
    return "".join(pieces)


def requests_of(client: int, count: int, run: str, length: int) -> list:
    return [dict(run=run, prime=PRIMES[(client + i) % len(PRIMES)], length=length, temperature=0.8,
                 seed=1000 * client + i) for i in range(count)]


def round_of(url: str, clients: int, count: int, run: str, length: int):
    """(texts by (client, i), latencies, seconds) of `clients` threads sending `count` requests each."""
    texts, latencies, errors = {}, [], []

    def client_loop(client):
        for i, body in enumerate(requests_of(client, count, run, length)):
            start = time.monotonic()
            try:
                texts[client, i] = generate(url, body)
            except Exception as e:  # noqa: BLE001 - counted and shown, the round goes on
                errors.append(f"client {client} request {i}: {e}")
            latencies.append(time.monotonic() - start)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return texts, latencies, time.monotonic() - start, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:6006")
    parser.add_argument("--run", required=True, help="the run's name in the charrnn tab")
    parser.add_argument("--clients", default="1,4,16", help="numbers of concurrent clients, comma-separated")
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--length", type=int, default=500, help="characters per request")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    alone = {}
    for client in range(max(counts)):  # the reference: every request sent alone
        for i, body in enumerate(requests_of(client, args.requests, args.run, args.length)):
            alone[client, i] = generate(args.url, body)
    print(f"{'clients':>7} {'requests':>8} {'chars/s':>9} {'median s':>9} {'slowest s':>9} {'wrong':>5} {'errors':>6}")
    for clients in counts:
        texts, latencies, seconds, errors = round_of(args.url, clients, args.requests, args.run, args.length)
        wrong = sum(texts.get(key) != alone[key] for key in texts)
        chars = sum(len(text) for text in texts.values())
        print(f"{clients:>7} {len(latencies):>8} {chars / seconds:>9,.0f} {statistics.median(latencies):>9.3f} "
              f"{max(latencies):>9.3f} {wrong:>5} {len(errors):>6}")
        for error in errors[:3]:
            print("   ", error)


if __name__ == "__main__":
    main()
