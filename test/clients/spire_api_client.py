#!/usr/bin/python3
"""An independent client of SPIRE's server gRPC API (Python grpcio, stubs generated from the vendored spire-api-sdk
protos with Debian's grpc_tools) for wisp's tests, playing the part of spire-server's CLI, spire-controller-manager
and Tornjak on the server's admin socket.

Usage:
  spire_api_client.py --stubs DIR --socket PATH '<JSON list of calls>'
  spire_api_client.py --stubs DIR --socket PATH -      (one JSON call per stdin line, answered in order)
Each call is {"method": "/spire.api.server.entry.v1.Entry/ListEntries", "request": {...}} where the request is the
protobuf JSON form of the method's request message (json_format.ParseDict, so bytes fields are base64). For every call
one JSON line is printed: {"response": <protobuf JSON of the response, with default values included>} or
{"status": {"code": "<grpc.StatusCode name>", "details": "..."}}.
Stubs are generated at test time into DIR (they are not kept in the repository).
"""
import argparse
import importlib
import json
import sys

SERVICES = {
    "spire.api.server.agent.v1.Agent": "spire.api.server.agent.v1.agent_pb2",
    "spire.api.server.bundle.v1.Bundle": "spire.api.server.bundle.v1.bundle_pb2",
    "spire.api.server.entry.v1.Entry": "spire.api.server.entry.v1.entry_pb2",
    "spire.api.server.svid.v1.SVID": "spire.api.server.svid.v1.svid_pb2",
    "spire.api.server.trustdomain.v1.TrustDomain": "spire.api.server.trustdomain.v1.trustdomain_pb2",
    "spire.api.server.debug.v1.Debug": "spire.api.server.debug.v1.debug_pb2",
    "spire.api.server.localauthority.v1.LocalAuthority": "spire.api.server.localauthority.v1.localauthority_pb2",
    "spire.api.server.logger.v1.Logger": "spire.api.server.logger.v1.logger_pb2",
    "grpc.health.v1.Health": "health_pb2",
}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stubs", required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("calls")
    a = p.parse_args()

    sys.path.insert(0, a.stubs)
    import grpc

    channel = grpc.insecure_channel("unix://" + a.socket)
    if a.calls == "-":
        for line in sys.stdin:
            if line.strip():
                do_call(channel, json.loads(line))
        return
    for call in json.loads(a.calls):
        do_call(channel, call)


def do_call(channel, call):
    """Makes one call and prints its result line."""
    import grpc
    from google.protobuf import json_format
    service, rpc = call["method"].lstrip("/").split("/")
    module = importlib.import_module(SERVICES[service])
    method = module.DESCRIPTOR.services_by_name[service.split(".")[-1]].methods_by_name[rpc]
    req_cls = message_class(method.input_type)
    res_cls = message_class(method.output_type)
    req = json_format.ParseDict(call.get("request", {}), req_cls())
    if method.server_streaming or method.client_streaming:
        fn = channel.stream_stream(call["method"], request_serializer=req_cls.SerializeToString, response_deserializer=res_cls.FromString)
        try:
            out = [json_format.MessageToDict(r, preserving_proto_field_name=True) for r in fn(iter([req]), timeout=20)]
            emit({"responses": out})
        except grpc.RpcError as e:
            emit({"status": {"code": e.code().name, "details": e.details()}})
        return
    fn = channel.unary_unary(call["method"], request_serializer=req_cls.SerializeToString, response_deserializer=res_cls.FromString)
    try:
        res = fn(req, timeout=20)
        emit({"response": to_dict(res)})
    except grpc.RpcError as e:
        emit({"status": {"code": e.code().name, "details": e.details()}})


def to_dict(msg):
    """Protobuf JSON with snake_case names and default values printed (the option's name depends on the version)."""
    from google.protobuf import json_format
    try:
        return json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    except TypeError:
        return json_format.MessageToDict(msg, preserving_proto_field_name=True, including_default_value_fields=True)


def message_class(descriptor):
    from google.protobuf import message_factory
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory().GetPrototype(descriptor)


if __name__ == "__main__":
    main()
