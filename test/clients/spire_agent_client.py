#!/usr/bin/python3
"""An independent "test agent" for SPIRE's server API on a wisp server's TCP port (Python grpcio, stubs generated at
test time from the vendored spire-api-sdk protos, keys and CSRs from `cryptography`).

It calls the server as SPIRE's agent does (pkg/agent/client/client.go): TLS that verifies the server's chain against
the trust bundle and checks that the server's SPIFFE ID is spiffe://<td>/spire/server (no hostname check), without a
client certificate for AttestAgent, with the agent SVID (mTLS) afterwards. grpcio can only check hostnames, so every
channel goes through a local tunnel that makes the TLS connection with Python's ssl module (ALPN h2) and checks the
SPIFFE ID itself; grpcio speaks plaintext HTTP/2 into the tunnel.

Usage:
  spire_agent_client.py --stubs DIR --server HOST:PORT --td example.org --bundle bundle.pem --dir WORKDIR '<steps JSON>'
The steps are a JSON list; one JSON line is printed per step, {"ok": {...}} or {"status": {"code", "details",
"reason"}} (reason: the PermissionDeniedDetails of grpc-status-details-bin, when present). Every step may name its
client identity: "as": "none" (default for attest), "agent" (the last attested or renewed agent SVID, the default
otherwise), or the name a batch_new_x509 step saved ("<name>.pem"/"<name>.key" in WORKDIR).
Steps:
  {"op": "attest", "type": "join_token", "payload": "<token>"}  AttestAgent; saves agent.pem/agent.key
  {"op": "attest", "type": "x509pop", "x509pop": {"cert": "node.pem", "key": "node.key", "tamper": false}}
                                                             the same with x509pop's challenge (ECDSA node key)
  {"op": "get_bundle"}                                       GetBundle
  {"op": "get_federated_bundle", "trust_domain": "x"}        GetFederatedBundle
  {"op": "post_status", "agent_version": "1.15.3"}           PostStatus
  {"op": "renew"}                                            RenewAgent (CSR without a URI SAN); saves agent.pem/agent.key
  {"op": "batch_new_x509", "entries": [{"id": "...", "save": "name"}]}
  {"op": "new_jwt", "entry_id": "...", "audience": ["a"]}    NewJWTSVID
  {"op": "get_authorized_entries"}
  {"op": "sync", "mask": {"spiffe_id": true, ...} | null}    SyncAuthorizedEntries as SPIRE's agent runs it
  {"op": "sync_initial_ids"}                                 a first sync request carrying IDs (refused)
  {"op": "count_entries"}                                    Entry.CountEntries (an admin RPC)
  {"op": "new_downstream_ca"}                                SVID.NewDownstreamX509CA (a downstream RPC)
  {"op": "keep", "as_name": "x"}                             copies the current agent SVID and key to x.pem/x.key
"""
import argparse
import base64
import json
import os
import queue
import select
import socket
import ssl
import sys
import threading


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Tunnel:
    """A local plaintext listener; each connection is carried over TLS (ALPN h2) to the server."""

    def __init__(self, server, ctx, expected_id):
        host, port = server.rsplit(":", 1)
        self.target = (host, int(port))
        self.ctx = ctx
        self.expected_id = expected_id
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.error = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            raw = socket.create_connection(self.target)
            tls = self.ctx.wrap_socket(raw, server_hostname=None)
            uris = [v for (k, v) in tls.getpeercert().get("subjectAltName", ()) if k == "URI"]
            if uris != [self.expected_id]:
                raise ssl.SSLError("server certificate is for %r, expected %r" % (uris, self.expected_id))
        except Exception as e:  # reported through the RPC's UNAVAILABLE and this note
            self.error = str(e)
            c.close()
            return
        socks = [c, tls]
        try:
            while True:
                # TLS may hold decrypted bytes that select() cannot see.
                ready = [tls] if tls.pending() else select.select(socks, [], [], 30)[0]
                if not ready:
                    continue
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (tls if s is c else c).sendall(data)
        except OSError:
            return
        finally:
            c.close()
            tls.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stubs", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--td", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("steps")
    a = p.parse_args()

    sys.path.insert(0, a.stubs)
    import grpc
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cryptography.x509.oid import NameOID
    from google.rpc import status_pb2
    from spire.api.server.agent.v1 import agent_pb2, agent_pb2_grpc
    from spire.api.server.bundle.v1 import bundle_pb2, bundle_pb2_grpc
    from spire.api.server.entry.v1 import entry_pb2, entry_pb2_grpc
    from spire.api.server.svid.v1 import svid_pb2, svid_pb2_grpc
    from spire.api.types import attestation_pb2, entry_pb2 as types_entry_pb2, status_pb2 as types_status_pb2

    server_id = "spiffe://%s/spire/server" % a.td

    def path(name, ext):
        return os.path.join(a.dir, "%s.%s" % (name, ext))

    def new_key_and_csr():
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE")])
        ).sign(key, hashes.SHA256())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return pem, csr.public_bytes(serialization.Encoding.DER)

    def chain_pem(ders):
        return "".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM).decode() for d in ders)

    def save(name, ders, key_pem):
        with open(path(name, "pem"), "w") as f:
            f.write(chain_pem(ders))
        with open(path(name, "key"), "wb") as f:
            f.write(key_pem)
        os.chmod(path(name, "key"), 0o600)

    def channel(identity):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(a.bundle)
        ctx.set_alpn_protocols(["h2"])
        if identity != "none":
            ctx.load_cert_chain(path(identity, "pem"), path(identity, "key"))
        t = Tunnel(a.server, ctx, server_id)
        return grpc.insecure_channel("127.0.0.1:%d" % t.port), t

    def status_of(e, tunnel):
        out = {"code": e.code().name, "details": e.details()}
        for k, v in e.trailing_metadata() or ():
            if k == "grpc-status-details-bin":
                st = status_pb2.Status.FromString(v)
                for d in st.details:
                    pdd = types_status_pb2.PermissionDeniedDetails()
                    if d.Unpack(pdd):
                        out["reason"] = types_status_pb2.PermissionDeniedDetails.Reason.Name(pdd.reason)
        if tunnel.error:
            out["tunnel_error"] = tunnel.error
        return out

    def svid_json(s):
        return {
            "id": "spiffe://%s%s" % (s.id.trust_domain, s.id.path),
            "expires_at": s.expires_at,
            "cert_chain": chain_pem(s.cert_chain),
        }

    def entry_json(e):
        return {
            "id": e.id,
            "spiffe_id": ("spiffe://%s%s" % (e.spiffe_id.trust_domain, e.spiffe_id.path)) if e.HasField("spiffe_id") else None,
            "parent_id": ("spiffe://%s%s" % (e.parent_id.trust_domain, e.parent_id.path)) if e.HasField("parent_id") else None,
            "selectors": ["%s:%s" % (s.type, s.value) for s in e.selectors],
            "revision_number": e.revision_number,
            "created_at": e.created_at,
            "x509_svid_ttl": e.x509_svid_ttl,
            "admin": e.admin,
        }

    def bundle_json(b):
        return {
            "trust_domain": b.trust_domain,
            "x509_authorities": [chain_pem([c.asn1]) for c in b.x509_authorities],
            "jwt_authorities": [k.key_id for k in b.jwt_authorities],
            "sequence_number": b.sequence_number,
            "refresh_hint": b.refresh_hint,
        }

    # A work dir that holds an agent SVID from an earlier run continues as that agent.
    identity = {"agent": "agent" if os.path.exists(path("agent", "pem")) else None}

    def x509pop_payload(pop):
        with open(pop["cert"], "rb") as f:
            leaf = x509.load_pem_x509_certificate(f.read())
        return json.dumps({"certificates": [base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()]}).encode()

    def x509pop_response(pop, challenge):
        """SPIRE's x509pop ECDSA answer: sign SHA-256(n_c || n_r), r and s as minimal big-endian bytes."""
        with open(pop["key"], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        nc = base64.b64decode(json.loads(challenge)["ecdsa_signature"]["nonce"])
        nr = os.urandom(32)
        r, s_ = decode_dss_signature(key.sign(nc + nr, ec.ECDSA(hashes.SHA256())))
        if pop.get("tamper"):
            nr = os.urandom(32)  # answers with a nonce other than the one signed
        minimal = lambda n: n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
        b64 = lambda b: base64.b64encode(b).decode()
        return json.dumps({"rsa_signature": None, "ecdsa_signature": {"nonce": b64(nr), "r": b64(minimal(r)), "s": b64(minimal(s_))}}).encode()

    def attest(step, ch):
        key_pem, csr = new_key_and_csr()
        stub = agent_pb2_grpc.AgentStub(ch)
        pop = step.get("x509pop")
        payload = x509pop_payload(pop) if pop else step["payload"].encode()
        first = agent_pb2.AttestAgentRequest(params=agent_pb2.AttestAgentRequest.Params(
            data=attestation_pb2.AttestationData(type=step["type"], payload=payload),
            params=agent_pb2.AgentX509SVIDParams(csr=csr),
        ))
        outbox = queue.Queue()
        outbox.put(first)

        def requests():
            while True:
                r = outbox.get()
                if r is None:
                    return
                yield r

        result = None
        challenges = 0
        try:
            for resp in stub.AttestAgent(requests(), timeout=30):
                if resp.HasField("challenge"):
                    challenges += 1
                    outbox.put(agent_pb2.AttestAgentRequest(challenge_response=x509pop_response(pop, resp.challenge)))
                if resp.HasField("result"):
                    result = resp.result
        finally:
            outbox.put(None)
        save("agent", result.svid.cert_chain, key_pem)
        identity["agent"] = "agent"
        return {"svid": svid_json(result.svid), "reattestable": result.reattestable, "challenges": challenges}

    def sync(step, ch):
        stub = entry_pb2_grpc.EntryStub(ch)
        mask = None
        if step.get("mask") is not None:
            mask = types_entry_pb2.EntryMask(**step["mask"])
        requests = []
        cond = threading.Condition()
        done = [False]

        def gen():
            yield entry_pb2.SyncAuthorizedEntriesRequest(output_mask=mask)
            while True:
                with cond:
                    while not requests and not done[0]:
                        cond.wait()
                    if requests:
                        r = requests.pop(0)
                    else:
                        return
                yield r

        def push(r=None):
            with cond:
                if r is None:
                    done[0] = True
                else:
                    requests.append(r)
                cond.notify()

        responses = stub.SyncAuthorizedEntries(gen(), timeout=60)
        try:
            first = next(responses)
            if len(first.entry_revisions) == 0:
                push()
                for _ in responses:
                    pass
                return {"mode": "full", "entries": [entry_json(e) for e in first.entries]}
            revisions = list(first.entry_revisions)
            pages = 1
            more = first.more
            page_size = len(first.entry_revisions)
            while more:
                r = next(responses)
                pages += 1
                revisions.extend(r.entry_revisions)
                more = r.more
            ids = sorted(r.id for r in revisions)
            entries = []
            entry_pages = 0
            # As SPIRE's agent: ask for the full entries in chunks no larger than the first page.
            for i in range(0, len(ids), page_size):
                push(entry_pb2.SyncAuthorizedEntriesRequest(ids=ids[i:i + page_size]))
                while True:
                    r = next(responses)
                    entry_pages += 1
                    entries.extend(r.entries)
                    if not r.more:
                        break
            # Unknown IDs are skipped: an answer with no entries and more=false.
            push(entry_pb2.SyncAuthorizedEntriesRequest(ids=["no-such-entry"]))
            r = next(responses)
            unknown = {"entries": len(r.entries), "more": r.more}
            push()
            for _ in responses:
                pass
            return {
                "mode": "paged",
                "revision_pages": pages,
                "page_size": page_size,
                "revisions": [{"id": r.id, "revision_number": r.revision_number, "created_at": r.created_at} for r in revisions],
                "entry_pages": entry_pages,
                "entries": [entry_json(e) for e in entries],
                "unknown": unknown,
            }
        finally:
            push()

    def run(step):
        op = step["op"]
        if op == "keep":
            for ext in ("pem", "key"):
                with open(path("agent", ext), "rb") as src, open(path(step["as_name"], ext), "wb") as dst:
                    dst.write(src.read())
            return {"ok": {}}
        who = step.get("as", "none" if op == "attest" else identity["agent"] or "none")
        ch, tunnel = channel(who)
        try:
            if op == "attest":
                return {"ok": attest(step, ch)}
            if op == "get_bundle":
                return {"ok": bundle_json(bundle_pb2_grpc.BundleStub(ch).GetBundle(bundle_pb2.GetBundleRequest(), timeout=30))}
            if op == "get_federated_bundle":
                b = bundle_pb2_grpc.BundleStub(ch).GetFederatedBundle(bundle_pb2.GetFederatedBundleRequest(trust_domain=step["trust_domain"]), timeout=30)
                return {"ok": bundle_json(b)}
            if op == "post_status":
                agent_pb2_grpc.AgentStub(ch).PostStatus(agent_pb2.PostStatusRequest(agent_version=step["agent_version"]), timeout=30)
                return {"ok": {}}
            if op == "renew":
                key_pem, csr = new_key_and_csr()
                r = agent_pb2_grpc.AgentStub(ch).RenewAgent(agent_pb2.RenewAgentRequest(params=agent_pb2.AgentX509SVIDParams(csr=csr)), timeout=30)
                save("agent", r.svid.cert_chain, key_pem)
                return {"ok": {"svid": svid_json(r.svid)}}
            if op == "batch_new_x509":
                keys = []
                params = []
                for e in step["entries"]:
                    key_pem, csr = new_key_and_csr()
                    keys.append(key_pem)
                    params.append(svid_pb2.NewX509SVIDParams(entry_id=e["id"], csr=csr))
                r = svid_pb2_grpc.SVIDStub(ch).BatchNewX509SVID(svid_pb2.BatchNewX509SVIDRequest(params=params), timeout=30)
                out = []
                for e, key_pem, res in zip(step["entries"], keys, r.results):
                    item = {"status": {"code": res.status.code, "message": res.status.message}}
                    if res.HasField("svid"):
                        item["svid"] = svid_json(res.svid)
                        if e.get("save"):
                            save(e["save"], res.svid.cert_chain, key_pem)
                    out.append(item)
                return {"ok": {"results": out}}
            if op == "new_jwt":
                r = svid_pb2_grpc.SVIDStub(ch).NewJWTSVID(svid_pb2.NewJWTSVIDRequest(entry_id=step["entry_id"], audience=step["audience"]), timeout=30)
                return {"ok": {"token": r.svid.token, "id": "spiffe://%s%s" % (r.svid.id.trust_domain, r.svid.id.path), "expires_at": r.svid.expires_at, "issued_at": r.svid.issued_at}}
            if op == "get_authorized_entries":
                r = entry_pb2_grpc.EntryStub(ch).GetAuthorizedEntries(entry_pb2.GetAuthorizedEntriesRequest(), timeout=30)
                return {"ok": {"entries": [entry_json(e) for e in r.entries]}}
            if op == "sync":
                return {"ok": sync(step, ch)}
            if op == "count_entries":
                r = entry_pb2_grpc.EntryStub(ch).CountEntries(entry_pb2.CountEntriesRequest(), timeout=30)
                return {"ok": {"count": r.count}}
            if op == "new_downstream_ca":
                _, csr = new_key_and_csr()
                svid_pb2_grpc.SVIDStub(ch).NewDownstreamX509CA(svid_pb2.NewDownstreamX509CARequest(csr=csr), timeout=30)
                return {"ok": {}}
            if op == "sync_initial_ids":
                for _ in entry_pb2_grpc.EntryStub(ch).SyncAuthorizedEntries(iter([entry_pb2.SyncAuthorizedEntriesRequest(ids=["x"])]), timeout=30):
                    pass
                return {"ok": {}}
            raise ValueError("unknown op %r" % op)
        except grpc.RpcError as e:
            return {"status": status_of(e, tunnel)}
        finally:
            ch.close()

    for step in json.loads(a.steps):
        emit(run(step))


if __name__ == "__main__":
    main()
