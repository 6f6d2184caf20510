#!/usr/bin/python3
"""An independent Envoy SDS v3 client (Python grpcio, stubs from the vendored upstream Envoy protos) for wisp's tests.

It plays the part of Envoy's xDS client, driven line by line so a test decides every ACK, NACK and nonce.

Usage:
  sds_client.py --stubs DIR --socket PATH stream
      Opens StreamSecrets. Reads one JSON command per stdin line:
        {"op": "request", "resource_names": [...], "version_info": "", "response_nonce": "", "type_url": "...",
         "error_detail": "text" (a NACK), "node": {"id": "...", "metadata": {...}, "envoy_version": [major, minor]}}
        {"op": "close"}   half-closes the request stream
      Prints one JSON line per response: {"response": <decoded>}, and at the end {"status": {"code", "details"}}.
  sds_client.py ... fetch '<request JSON or a JSON list of them>'
      Calls FetchSecrets once per request; prints one line each, {"response": ...} or {"status": ...}.
  sds_client.py ... delta
      Opens DeltaSecrets with one empty request; prints {"status": ...}.

A decoded response is {"version_info", "nonce", "type_url", "resources": [secret...]}, each secret
{"type_url" (of the Any), "name", "kind": "tls_certificate" | "validation_context", and for certificates "certificate_chain"
and "private_key" (the inline bytes as text), for validation contexts either "trusted_ca" (text) or
"custom_validator": {"name", "typed_config_type_url", "trust_domains": [{"name", "trust_bundle"}]}} (the
SPIFFECertValidatorConfig unpacked from its Any).
Stubs are generated at test time with grpc_tools.protoc into DIR (they are not kept in the repository).
"""
import argparse
import json
import os
import queue
import sys
import threading


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stubs", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("mode", choices=["stream", "fetch", "delta"])
    p.add_argument("request", nargs="?", default="{}")
    a = p.parse_args()

    sys.path.insert(0, a.stubs)
    import grpc
    from google.protobuf import struct_pb2
    from google.rpc import status_pb2
    from envoy.config.core.v3 import base_pb2
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
    from envoy.extensions.transport_sockets.tls.v3 import tls_spiffe_validator_config_pb2 as spiffe_pb2
    from envoy.service.discovery.v3 import discovery_pb2
    from envoy.service.secret.v3 import sds_pb2_grpc

    def request(cmd):
        req = discovery_pb2.DiscoveryRequest(
            version_info=cmd.get("version_info", ""),
            resource_names=cmd.get("resource_names", []),
            type_url=cmd.get("type_url", "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"),
            response_nonce=cmd.get("response_nonce", ""),
        )
        if "error_detail" in cmd:
            req.error_detail.CopyFrom(status_pb2.Status(code=3, message=cmd["error_detail"]))
        node = cmd.get("node")
        if node is not None:
            n = base_pb2.Node(id=node.get("id", ""), cluster=node.get("cluster", ""))
            if "metadata" in node:
                md = struct_pb2.Struct()
                md.update(node["metadata"])
                n.metadata.CopyFrom(md)
            if "envoy_version" in node:
                major, minor = node["envoy_version"]
                n.user_agent_name = "envoy"
                n.user_agent_build_version.version.major_number = major
                n.user_agent_build_version.version.minor_number = minor
            req.node.CopyFrom(n)
        return req

    def text(ds):
        which = ds.WhichOneof("specifier")
        if which != "inline_bytes":
            raise ValueError("data source is %s, not inline_bytes" % which)
        return ds.inline_bytes.decode("ascii")

    def secret_json(any_msg):
        s = secret_pb2.Secret()
        if not any_msg.Unpack(s):
            raise ValueError("resource is a %s, not a Secret" % any_msg.type_url)
        out = {"type_url": any_msg.type_url, "name": s.name, "kind": s.WhichOneof("type")}
        if out["kind"] == "tls_certificate":
            out["certificate_chain"] = text(s.tls_certificate.certificate_chain)
            out["private_key"] = text(s.tls_certificate.private_key)
        elif out["kind"] == "validation_context":
            vc = s.validation_context
            if vc.HasField("trusted_ca"):
                out["trusted_ca"] = text(vc.trusted_ca)
            if vc.HasField("custom_validator_config"):
                cv = vc.custom_validator_config
                cfg = spiffe_pb2.SPIFFECertValidatorConfig()
                if not cv.typed_config.Unpack(cfg):
                    raise ValueError("typed_config is a %s" % cv.typed_config.type_url)
                out["custom_validator"] = {
                    "name": cv.name,
                    "typed_config_type_url": cv.typed_config.type_url,
                    "trust_domains": [{"name": td.name, "trust_bundle": text(td.trust_bundle)} for td in cfg.trust_domains],
                    "trust_bundles_set": cfg.HasField("trust_bundles"),
                }
        return out

    def response_json(r):
        return {
            "version_info": r.version_info,
            "nonce": r.nonce,
            "type_url": r.type_url,
            "resources": [secret_json(x) for x in r.resources],
        }

    channel = grpc.insecure_channel("unix://" + os.path.abspath(a.socket))
    stub = sds_pb2_grpc.SecretDiscoveryServiceStub(channel)
    try:
        if a.mode == "fetch":
            reqs = json.loads(a.request)
            for cmd in reqs if isinstance(reqs, list) else [reqs]:
                try:
                    emit({"response": response_json(stub.FetchSecrets(request(cmd), timeout=20))})
                except grpc.RpcError as e:
                    emit({"status": {"code": e.code().name, "details": e.details()}})
        elif a.mode == "delta":
            stream = stub.DeltaSecrets(iter([discovery_pb2.DeltaDiscoveryRequest()]), timeout=20)
            for _ in stream:
                pass
            emit({"status": {"code": "OK", "details": ""}})
        else:
            q = queue.Queue()

            def requests():
                while True:
                    cmd = q.get()
                    if cmd is None:
                        return
                    yield request(cmd)

            def read_stdin():
                for line in sys.stdin:
                    line = line.strip()
                    if not line:
                        continue
                    cmd = json.loads(line)
                    if cmd.get("op") == "close":
                        break
                    q.put(cmd)
                q.put(None)

            threading.Thread(target=read_stdin, daemon=True).start()
            for r in stub.StreamSecrets(requests()):
                emit({"response": response_json(r)})
            emit({"status": {"code": "OK", "details": ""}})
    except grpc.RpcError as e:
        emit({"status": {"code": e.code().name, "details": e.details()}})
        return 2
    finally:
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
