"""Landing zones for tests: a local folder, or a prefix in a real S3-compatible server.

`MotoServer` runs moto's standalone server (`moto_server`, from `moto[server]`) as its own
process on a free 127.0.0.1 port; `Zone` writes the same bytes to either store and names
paths the way the loader's messages do; `ResettingProxy` stands in front of the server and
resets connections, as a flaky network does; `answering` plays a store answering 5xx.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MotoServer:
    """moto's S3-compatible server in its own process, stopped by its pid."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"moto-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_up(timeout=30)

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint} within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)

    def require_auth(self, required: bool) -> None:
        """Make the server check credentials and IAM policies (moto accepts anything by default)."""
        count = b"0" if required else b"inf"
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=count,
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).read()

    def iam_user(self, action: str, resource: str) -> dict[str, str]:
        """The AWS key variables of a new IAM user allowed `action` on `resource` only (make it
        before `require_auth(True)`)."""
        import json

        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint)
        user = f"user-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        statement = {"Effect": "Allow", "Action": action, "Resource": resource}
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        iam.put_user_policy(UserName=user, PolicyName="only", PolicyDocument=policy)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }

    def new_bucket(self) -> str:
        bucket = f"landing-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket


def aws_environment(endpoint: str, secret: str = "test") -> dict[str, str]:
    """The standard AWS variables pointing at a test server, and nothing from ~/.aws."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def frame_bytes(frame: pd.DataFrame, name: str) -> bytes:
    """A frame as the bytes of a landing file named `name` (.csv, .csv.gz, .parquet, .jsonl)."""
    sink = io.BytesIO()
    if name.endswith(".parquet"):
        frame.to_parquet(sink, index=False)
        return sink.getvalue()
    if name.endswith(".jsonl"):
        return frame.to_json(orient="records", lines=True).encode()
    data = frame.to_csv(index=False).encode()
    return gzip.compress(data) if name.endswith(".gz") else data


class Zone:
    """A landing zone the tests write to: `location` is what SALES_LANDING_DIR would hold."""

    def __init__(self, location: str, root: Path | None = None, server: MotoServer | None = None):
        self.location, self.root, self.server = location, root, server
        self.is_remote = server is not None

    @classmethod
    def local(cls, folder: Path) -> Zone:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(str(folder), root=folder)

    @classmethod
    def s3(cls, server: MotoServer, prefix: str = "landing/zone") -> Zone:
        bucket = server.new_bucket()
        zone = cls(f"s3://{bucket}/{prefix}", server=server)
        zone.bucket, zone.prefix = bucket, prefix
        return zone

    def name(self, relative: str) -> str:
        """How the loader's messages name `relative`: the local path or the s3:// URL."""
        return f"{self.location}/{relative}"

    def put(self, relative: str, data: bytes) -> None:
        if self.is_remote:
            self.server.client().put_object(
                Bucket=self.bucket, Key=f"{self.prefix}/{relative}", Body=data
            )
        else:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def put_frame(self, relative: str, frame: pd.DataFrame) -> None:
        self.put(relative, frame_bytes(frame, relative))

    def folder(self, relative: str) -> None:
        """An empty folder; on S3 the zero-byte `name/` object consoles create as a folder."""
        if self.is_remote:
            self.put(f"{relative}/", b"")
        else:
            (self.root / relative).mkdir(parents=True, exist_ok=True)

    def remove(self, relative: str) -> None:
        if self.is_remote:
            self.server.client().delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{relative}")
        elif (self.root / relative).is_dir():
            shutil.rmtree(self.root / relative)
        else:
            (self.root / relative).unlink()


def answering(status: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 answering every request with `status` (e.g. 503 SlowDown)."""

    class Answer(BaseHTTPRequestHandler):
        def _answer(self):
            body = b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class ResettingProxy:
    """A TCP proxy to `port` that resets the first `resets` connections (RST, like a dropped
    network path), then forwards bytes both ways. Stopped with `close()`."""

    def __init__(self, port: int, resets: int):
        self.target, self.resets, self.reset_count = port, resets, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.reset_count < self.resets:
                self.reset_count += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(1 << 16):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
