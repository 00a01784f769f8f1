#!/usr/bin/python3
"""The sync Python client of `daq-bench grpc`: reads N messages of a
server-streaming method as raw bytes (no parsing, the same work for every
server) after a warm-up, and prints one JSON line.

usage: grpc_client.py ADDRESS METHOD REQUEST_HEX N WARMUP
"""
import json
import sys
import time

import grpc


def main():
    addr, method, req_hex, n, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    ch = grpc.insecure_channel(addr, options=[("grpc.max_receive_message_length", 100 << 20)])
    call = ch.unary_stream(method)(bytes.fromhex(req_hex))
    got = total = 0
    t0 = None
    for msg in call:
        got += 1
        if got == warm:
            t0 = time.monotonic()
        elif got > warm:
            total += len(msg)
        if got == warm + n:
            break
    secs = time.monotonic() - t0
    call.cancel()
    ch.close()
    print(json.dumps({"frames": n, "seconds": secs, "bytes": total}))


if __name__ == "__main__":
    main()
