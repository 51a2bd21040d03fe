#!/usr/bin/env python3
"""A Python client for `simulstream serve` (and SimulStreaming's server).

Sends raw s16le 16 kHz mono audio, half-closes the connection (the server then runs its final pass),
and prints the "start_ms end_ms text" lines as they arrive, until the server closes.

    python3 examples/client.py call.raw [host] [port]
"""
import socket
import sys
import threading


def main() -> None:
    path = sys.argv[1]
    host = sys.argv[2] if len(sys.argv) > 2 else "localhost"
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 43007
    with socket.create_connection((host, port)) as sock:

        def send() -> None:
            with open(path, "rb") as audio:
                while chunk := audio.read(3200):  # 100 ms per write
                    sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)  # end of audio

        sender = threading.Thread(target=send)
        sender.start()
        pending = b""
        while data := sock.recv(4096):
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                print(line.decode("utf-8"), flush=True)
        sender.join()


if __name__ == "__main__":
    main()
