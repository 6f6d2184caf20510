#!/usr/bin/python3
"""An independent SPIFFE Workload API client (Python grpcio) used by wisp's integration tests.

Usage:
  workload_client.py --stubs DIR --socket PATH [--no-header | --header VALUE ...] fetch
      Prints the first FetchX509SVID message as one JSON object and exits 0.
  workload_client.py ... bundles
      Prints the first FetchX509Bundles message as one JSON object and exits 0.
  workload_client.py ... watch N
      Keeps one FetchX509SVID stream and prints one JSON line per message (serial and notAfter of every SVID, read
      from the leaf by the small DER reader below) until N messages have arrived, then exits 0.

On an RPC error it prints {"error": {"code": "<grpc.StatusCode name>", "details": "..."}} and exits 2.
Stubs are generated at test time with grpc_tools.protoc into DIR (they are not kept in the repository).
"""
import argparse
import base64
import json
import os
import sys


def b64(b):
    return base64.b64encode(b).decode("ascii")


def tlv(der, i):
    """Returns (tag, value start, value end) of the DER value at offset i."""
    tag = der[i]
    length = der[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[i:i + n], "big")
        i += n
    return tag, i, i + length


def split_der(data):
    out = []
    i = 0
    while i < len(data):
        _, _, end = tlv(data, i)
        out.append(data[i:end])
        i = end
    return out


def leaf_info(chain):
    """Serial (hex, upper case, no leading zeros) and notAfter (ASN.1 time text) of the first certificate."""
    der = split_der(chain)[0]
    _, cert, _ = tlv(der, 0)
    _, i, _ = tlv(der, cert)  # tbsCertificate
    tag, vs, ve = tlv(der, i)
    if tag == 0xA0:  # explicit version
        tag, vs, ve = tlv(der, ve)
    serial = format(int.from_bytes(der[vs:ve], "big"), "X")
    _, _, i = tlv(der, ve)  # signature algorithm
    _, _, i = tlv(der, i)  # issuer
    _, validity, _ = tlv(der, i)
    _, _, i = tlv(der, validity)  # notBefore
    _, vs, ve = tlv(der, i)
    return serial, der[vs:ve].decode("ascii")


def svid_json(s):
    return {
        "spiffe_id": s.spiffe_id,
        "x509_svid": b64(s.x509_svid),
        "x509_svid_key": b64(s.x509_svid_key),
        "bundle": b64(s.bundle),
        "hint": s.hint,
    }


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stubs", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--no-header", action="store_true")
    p.add_argument("--header", action="append", default=None)
    p.add_argument("mode", choices=["fetch", "bundles", "watch"])
    p.add_argument("count", nargs="?", type=int, default=1)
    a = p.parse_args()

    sys.path.insert(0, a.stubs)
    import grpc
    import workload_pb2
    import workload_pb2_grpc

    values = [] if a.no_header else (a.header or ["true"])
    metadata = [("workload.spiffe.io", v) for v in values]
    channel = grpc.insecure_channel("unix://" + os.path.abspath(a.socket))
    stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
    try:
        if a.mode == "fetch":
            stream = stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=metadata, timeout=20)
            m = next(stream)
            emit({
                "pid": os.getpid(),
                "svids": [svid_json(s) for s in m.svids],
                "crl": [b64(c) for c in m.crl],
                "federated_bundles": {k: b64(v) for k, v in m.federated_bundles.items()},
            })
            stream.cancel()
        elif a.mode == "bundles":
            stream = stub.FetchX509Bundles(workload_pb2.X509BundlesRequest(), metadata=metadata, timeout=20)
            m = next(stream)
            emit({"pid": os.getpid(), "crl": [b64(c) for c in m.crl], "bundles": {k: b64(v) for k, v in m.bundles.items()}})
            stream.cancel()
        else:
            stream = stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=metadata)
            n = 0
            for m in stream:
                n += 1
                svids = []
                for s in m.svids:
                    serial, not_after = leaf_info(s.x509_svid)
                    svids.append({"spiffe_id": s.spiffe_id, "serial": serial, "not_after": not_after, "leaf": b64(split_der(s.x509_svid)[0])})
                emit({"n": n, "pid": os.getpid(), "svids": svids})
                if n >= a.count:
                    stream.cancel()
                    break
    except grpc.RpcError as e:
        emit({"error": {"code": e.code().name, "details": e.details()}})
        return 2
    finally:
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
