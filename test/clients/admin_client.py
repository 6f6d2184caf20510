#!/usr/bin/python3
"""An independent client of SPIRE's agent admin API (Python grpcio, stubs from the vendored spire-api-sdk protos).

Usage:
  admin_client.py --stubs DIR --socket PATH call <Service>/<Method> '<request JSON>'
      One unary call; prints {"response": <message as JSON>} or {"status": {"code", "details"}}.
  admin_client.py --stubs DIR --socket PATH stream <Service>/<Method> '<request JSON>'
      A server stream; prints {"response": ...} per message as it arrives and {"status": ...} when it ends.

<Service> is Debug, Logger or DelegatedIdentity. Messages are printed with json_format (proto field names, bytes as
base64, int64 as strings, fields with default values included). Stubs are generated at test time with
grpc_tools.protoc into DIR (they are not kept in the repository).
"""
import argparse
import json
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stubs", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("mode", choices=["call", "stream"])
    p.add_argument("method")
    p.add_argument("request", nargs="?", default="{}")
    a = p.parse_args()

    sys.path.insert(0, a.stubs)
    import grpc
    from google.protobuf import json_format
    from spire.api.agent.debug.v1 import debug_pb2
    from spire.api.agent.delegatedidentity.v1 import delegatedidentity_pb2 as di_pb2
    from spire.api.agent.logger.v1 import logger_pb2
    from spire.api.types import jwtsvid_pb2, logger_pb2 as types_logger_pb2  # noqa: F401 (registers the types)

    methods = {
        "Debug/GetInfo": ("spire.agent.debug.v1.Debug", debug_pb2.GetInfoRequest, debug_pb2.GetInfoResponse),
        "Logger/GetLogger": ("spire.api.agent.logger.v1.Logger", logger_pb2.GetLoggerRequest, types_logger_pb2.Logger),
        "Logger/SetLogLevel": ("spire.api.agent.logger.v1.Logger", logger_pb2.SetLogLevelRequest, types_logger_pb2.Logger),
        "Logger/ResetLogLevel": ("spire.api.agent.logger.v1.Logger", logger_pb2.ResetLogLevelRequest, types_logger_pb2.Logger),
        "DelegatedIdentity/SubscribeToX509SVIDs": (
            "spire.api.agent.delegatedidentity.v1.DelegatedIdentity", di_pb2.SubscribeToX509SVIDsRequest, di_pb2.SubscribeToX509SVIDsResponse),
        "DelegatedIdentity/SubscribeToX509Bundles": (
            "spire.api.agent.delegatedidentity.v1.DelegatedIdentity", di_pb2.SubscribeToX509BundlesRequest, di_pb2.SubscribeToX509BundlesResponse),
        "DelegatedIdentity/FetchJWTSVIDs": (
            "spire.api.agent.delegatedidentity.v1.DelegatedIdentity", di_pb2.FetchJWTSVIDsRequest, di_pb2.FetchJWTSVIDsResponse),
        "DelegatedIdentity/SubscribeToJWTBundles": (
            "spire.api.agent.delegatedidentity.v1.DelegatedIdentity", di_pb2.SubscribeToJWTBundlesRequest, di_pb2.SubscribeToJWTBundlesResponse),
    }
    service, req_cls, res_cls = methods[a.method]
    path = "/%s/%s" % (service, a.method.split("/")[1])
    req = json_format.ParseDict(json.loads(a.request), req_cls())

    def as_json(m):
        return json_format.MessageToDict(m, preserving_proto_field_name=True, including_default_value_fields=True)

    with grpc.insecure_channel("unix://" + a.socket) as ch:
        try:
            if a.mode == "call":
                call = ch.unary_unary(path, request_serializer=req_cls.SerializeToString, response_deserializer=res_cls.FromString)
                emit({"response": as_json(call(req, timeout=30))})
            else:
                call = ch.unary_stream(path, request_serializer=req_cls.SerializeToString, response_deserializer=res_cls.FromString)
                for m in call(req):
                    emit({"response": as_json(m)})
                emit({"status": {"code": "OK", "details": ""}})
        except grpc.RpcError as e:
            emit({"status": {"code": e.code().name, "details": e.details()}})


if __name__ == "__main__":
    main()
