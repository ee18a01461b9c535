"""Lists Weir's servers and puts one in maintenance:

    WEIR_URL=http://127.0.0.1:8989 WEIR_USER=admin WEIR_PASSWORD=mariadb python3 example.py server1
"""
import os
import sys

from weir import ApiError, Client


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: example.py SERVER", file=sys.stderr)
        return 2
    client = Client(os.environ.get("WEIR_URL", "http://127.0.0.1:8989"), os.environ.get("WEIR_USER", "admin"), os.environ.get("WEIR_PASSWORD", "mariadb"))
    try:
        for s in client.list_servers():
            # parameters is a typed dataclass (rank, priority); custom parameters are not in it.
            print(f"{s.name}\t{s.address}:{s.port}\t{s.parameters.rank.value}/{s.parameters.priority}\t{[f.value for f in s.state]}")
        server = client.set_maintenance(sys.argv[1])
    except ApiError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    print(f"{server.name} is now {[f.value for f in server.state]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
