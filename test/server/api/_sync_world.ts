/**
 * A randomized world for the incremental sync property tests: sync hubs ("servers") over real datastores, agents
 * that keep their entries with the agent's own SyncedEntries, and random entry creates, updates (reparenting,
 * renaming, node aliases, federates_with), deletes, expiries, federated bundles set and deleted, node selector changes,
 * agent reconnects with stale cursors and server restarts. After every step each connected agent's entries and
 * federated bundles are compared with the truth computed from the datastore; a divergence throws with the seed and
 * the steps so far.
 * @module
 */
import type { ManualClock } from "../../../src/core/ports/clock.ts";
import { nullLogger } from "../../../src/core/log/logger.ts";
import type { Selector } from "../../../src/core/selector.ts";
import type { SyncDeltaJSON, SyncMessage, SyncSnapshotJSON } from "../../../src/agent/client/server_client.ts";
import { SyncedEntries } from "../../../src/agent/manager/synced_entries.ts";
import { SyncHub } from "../../../src/server/api/sync_hub.ts";
import type { DataStore, RegistrationEntry } from "../../../src/server/datastore/datastore.ts";
import { bundleDigest } from "../../../src/core/sync/bundle_digest.ts";
import { toBase64 } from "../../../src/core/encoding.ts";

const TDN = "example.org";
const SERVER = `spiffe://${TDN}/spire/server`;
/** Foreign trust domains entries may federate with. */
const FEDERATED = ["fed1.example", "fed2.example", "fed3.example"];

/** What an agent should hold: entry ID → revision, and federated trust domain → bundleDigest. */
interface Truth {
  entries: Map<string, number>;
  fed: Map<string, string>;
}

/** mulberry32: a small seeded PRNG, so a failing sequence replays from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimAgent {
  id: string;
  held: SyncedEntries;
  bundleSeq: number;
  hub: number | undefined;
  unsubscribe: () => void;
  /** Messages received during the current step. */
  messages: number;
  mismatches: number;
  /** Its node selectors changed while it was away: the one case a resumed delta may miss (node aliases). */
  selectorsChangedAway: boolean;
  resync: boolean;
}

export interface WorldOptions {
  seed: number;
  clock: ManualClock;
  /** One datastore per server (the same object for every server on SQLite; one pool each on PostgreSQL). */
  stores: DataStore[];
  agents: number;
  /** Reopens the datastores (SQLite restart); absent: no such step. */
  reopen?: () => Promise<DataStore[]>;
}

export interface WorldStats {
  steps: number;
  snapshots: number;
  deltas: number;
  resumedWithDelta: number;
  /** Reconnects whose delta missed a node alias change (selectors changed while away) and fell back to a snapshot. */
  resyncs: number;
  entries: number;
  /** Messages that carried a federated bundle or its removal. */
  federatedMessages: number;
}

export class SyncWorld {
  #o: WorldOptions;
  #rnd: () => number;
  #stores: DataStore[];
  #hubs: SyncHub[];
  #agents: SimAgent[] = [];
  #log: string[] = [];
  #stats: WorldStats = { steps: 0, snapshots: 0, deltas: 0, resumedWithDelta: 0, resyncs: 0, entries: 0, federatedMessages: 0 };
  #connecting = false;

  constructor(o: WorldOptions) {
    this.#o = o;
    this.#rnd = prng(o.seed);
    this.#stores = o.stores;
    this.#hubs = o.stores.map((ds) => this.#newHub(ds));
  }

  get stats(): WorldStats {
    return this.#stats;
  }

  #newHub(ds: DataStore): SyncHub {
    return new SyncHub({ ds, trustDomain: TDN, logger: nullLogger, clock: this.#o.clock });
  }

  #int(n: number): number {
    return Math.floor(this.#rnd() * n);
  }

  #pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.#int(xs.length)];
  }

  #nodeSelectors(): Selector[] {
    const pool = ["zone:a", "zone:b", "rack:1", "rack:2"];
    return pool.filter(() => this.#rnd() < 0.45).map((v) => ({ type: "x509pop", value: v }));
  }

  async setup(): Promise<void> {
    const ds = this.#stores[0]!;
    for (let i = 0; i < this.#o.agents; i++) {
      const id = `spiffe://${TDN}/spire/agent/x509pop/n${i}`;
      await ds.createAttestedNode({
        spiffeID: id,
        attestationType: "x509pop",
        certSerial: `0${i}`,
        certNotAfter: 2_000_000_000,
        newCertSerial: "",
        newCertNotAfter: 0,
        canReattest: true,
        banned: false,
        selectors: this.#nodeSelectors(),
      });
      this.#agents.push({
        id,
        held: new SyncedEntries(),
        bundleSeq: -1,
        hub: undefined,
        unsubscribe: () => {},
        messages: 0,
        mismatches: 0,
        selectorsChangedAway: false,
        resync: false,
      });
    }
    for (const a of this.#agents) await this.#connect(a, this.#int(this.#hubs.length));
    await this.#check("setup");
  }

  async #connect(a: SimAgent, hub: number): Promise<void> {
    const resume = a.held.resume(a.bundleSeq);
    const h = hub;
    let first = true;
    const onMessage = (event: "snapshot" | "delta", data: string) => {
      const m: SyncMessage = event === "snapshot"
        ? { kind: "snapshot", body: JSON.parse(data) as SyncSnapshotJSON }
        : { kind: "delta", body: JSON.parse(data) as SyncDeltaJSON };
      if (m.kind === "snapshot") this.#stats.snapshots++;
      else this.#stats.deltas++;
      if (m.body.federated_bundles || (m.kind === "delta" && m.body.federated_bundles_removed)) this.#stats.federatedMessages++;
      const isFirst = first;
      first = false;
      if (isFirst && resume && m.kind === "delta") this.#stats.resumedWithDelta++;
      if (m.body.bundle) a.bundleSeq = m.body.bundle.sequence;
      const heldBefore = new Map([...a.held.entries.values()].map((e) => [e.id.slice(0, 8), e.revisionNumber]));
      if (!a.held.apply(m).ok) {
        if (process.env.DBG) {
          console.log(
            "MISMATCH",
            a.id,
            "cursor",
            resume?.since,
            "msg",
            m.kind,
            JSON.stringify(
              m.kind === "delta"
                ? {
                  up: m.body.upserts.map((e) => `${e.id.slice(0, 8)}@${e.revision_number}`),
                  del: m.body.deletes.map((d) => d.slice(0, 8)),
                  rev: m.body.revision,
                }
                : {},
            ),
            "heldBefore",
            JSON.stringify([...heldBefore]),
            "heldAfter",
            JSON.stringify([...a.held.entries.values()].map((e) => `${e.id.slice(0, 8)}@${e.revisionNumber}`)),
          );
        }
        if (process.env.DBG) void this.#truth(a).then((t) => console.log("TRUTH", JSON.stringify([...t.entries].map(([k, v]) => `${k.slice(0, 8)}@${v}`))));
        // As the agent does: a digest mismatch makes it reconnect without a cursor, for a full snapshot.
        if (isFirst && a.selectorsChangedAway) a.resync = true;
        else a.mismatches++;
      }
      if (!this.#connecting) a.messages++;
    };
    a.hub = h;
    this.#connecting = true;
    try {
      a.unsubscribe = await this.#hubs[h]!.subscribe(a.id, onMessage, () => this.#drop(a), resume ?? {});
      if (a.resync) {
        a.resync = false;
        this.#stats.resyncs++;
        a.unsubscribe();
        a.unsubscribe = await this.#hubs[h]!.subscribe(a.id, onMessage, () => this.#drop(a), {});
      }
      a.selectorsChangedAway = false;
    } finally {
      this.#connecting = false;
    }
  }

  #drop(a: SimAgent): void {
    a.unsubscribe();
    a.hub = undefined;
  }

  async #truth(a: SimAgent): Promise<Truth> {
    const ds = this.#stores[0]!;
    const node = await ds.fetchAttestedNode(a.id);
    const now = Math.floor(this.#o.clock.now().getTime() / 1000);
    // An expired entry is not served, nor is anything below it (SPIRE -entryExpiry): crawl the live entries only.
    const live = (await ds.listEntries()).filter((e) => !e.expiresAt || e.expiresAt > now);
    const reached = crawl(live, a.id, node?.selectors ?? []);
    // The bundle of every trust domain a reached entry federates with, when the datastore has one.
    const fed = new Map<string, string>();
    for (const td of new Set(reached.flatMap((e) => e.federatesWith ?? []))) {
      const b = await ds.fetchBundle(td);
      if (!b) continue;
      fed.set(
        td,
        bundleDigest({
          x509_authorities: b.x509Authorities.map(toBase64),
          jwt_authorities: b.jwtKeys.map((k) => ({ kid: k.kid, public_key: toBase64(k.publicKey), expires_at: k.notAfter })),
        }),
      );
    }
    return { entries: new Map(reached.map((e) => [e.id, e.revisionNumber])), fed };
  }

  #fail(what: string): never {
    throw new Error(`incremental sync diverged (seed ${this.#o.seed}): ${what}\nsteps:\n  ${this.#log.join("\n  ")}`);
  }

  async #check(step: string, before?: Map<SimAgent, Truth>): Promise<Map<SimAgent, Truth>> {
    const truths = new Map<SimAgent, Truth>();
    for (const a of this.#agents) {
      const truth = await this.#truth(a);
      truths.set(a, truth);
      if (a.mismatches > 0) this.#fail(`after "${step}": agent ${a.id} saw a digest mismatch`);
      if (a.hub === undefined) continue;
      const held = new Map([...a.held.entries.values()].map((e) => [e.id, e.revisionNumber]));
      const missing = [...truth.entries].filter(([id, rev]) => held.get(id) !== rev).map(([id, rev]) => `${id}@${rev} (holds ${held.get(id) ?? "none"})`);
      const extra = [...held.keys()].filter((id) => !truth.entries.has(id));
      if (missing.length > 0 || extra.length > 0) {
        this.#fail(`after "${step}": agent ${a.id} on server ${a.hub} lacks [${missing.join(", ")}] and holds extra [${extra.join(", ")}]`);
      }
      // The agent's selector index finds exactly the entries a scan of all of them finds.
      for (const sel of [[{ type: "unix", value: "uid:0" }], [{ type: "unix", value: "uid:1" }, { type: "unix", value: "uid:2" }], this.#nodeSelectors()]) {
        const has = (e: { selectors: Selector[] }) => e.selectors.every((x) => sel.some((y) => y.type === x.type && y.value === x.value));
        const indexed = a.held.candidates(sel).filter(has).map((e) => e.id).sort();
        const scanned = [...a.held.entries.values()].filter(has).map((e) => e.id).sort();
        if (JSON.stringify(indexed) !== JSON.stringify(scanned)) {
          this.#fail(`after "${step}": agent ${a.id}'s selector index found [${indexed}], a scan [${scanned}]`);
        }
      }
      const fed = new Map([...a.held.federated].map(([td, b]) => [td, bundleDigest(b)]));
      if (!sameSet(fed, truth.fed)) {
        this.#fail(`after "${step}": agent ${a.id} on server ${a.hub} holds federated bundles ${show(fed)}, the truth is ${show(truth.fed)}`);
      }
      const was = before?.get(a);
      if (was && a.messages > 0 && sameSet(was.entries, truth.entries) && sameSet(was.fed, truth.fed)) {
        this.#fail(`after "${step}": agent ${a.id}, whose entries did not change, received ${a.messages} message(s)`);
      }
    }
    for (const a of this.#agents) a.messages = 0;
    return truths;
  }

  async #entries(): Promise<RegistrationEntry[]> {
    return this.#stores[0]!.listEntries();
  }

  /** Each foreign trust domain with probability 0.25. */
  #federates(): string[] {
    return FEDERATED.filter(() => this.#rnd() < 0.25);
  }

  #workloadID(): string {
    return `spiffe://${TDN}/w${this.#int(10)}`;
  }

  async #parent(existing: RegistrationEntry[]): Promise<{ parentID: string; selectors: Selector[] }> {
    const r = this.#rnd();
    const unix = () => [{ type: "unix", value: `uid:${this.#int(3)}` }];
    if (r < 0.35) return { parentID: this.#pick(this.#agents)!.id, selectors: unix() };
    if (r < 0.6 && existing.length > 0) return { parentID: this.#pick(existing)!.spiffeID, selectors: unix() };
    if (r < 0.78) {
      const sel = this.#nodeSelectors();
      return { parentID: SERVER, selectors: sel.length > 0 ? sel : [{ type: "x509pop", value: "zone:a" }] };
    }
    return { parentID: this.#workloadID(), selectors: unix() };
  }

  /** One random step; returns its description. */
  async step(): Promise<string> {
    const clock = this.#o.clock;
    const now = () => Math.floor(clock.now().getTime() / 1000);
    const origin = this.#int(this.#hubs.length);
    const ds = this.#stores[origin]!;
    const existing = await this.#entries();
    const r = this.#rnd();
    let desc: string;
    const create = async (expiresAt?: number) => {
      const p = await this.#parent(existing);
      const spiffeID = p.parentID === SERVER ? `spiffe://${TDN}/alias${this.#int(3)}` : this.#workloadID();
      try {
        const e = await ds.createEntry({
          spiffeID,
          parentID: p.parentID,
          selectors: p.selectors,
          x509SVIDTTL: 0,
          jwtSVIDTTL: 0,
          dnsNames: [],
          hint: "",
          admin: false,
          downstream: false,
          federatesWith: this.#federates(),
          ...(expiresAt ? { expiresAt } : {}),
        });
        const fw = e.federatesWith?.length ? ` federates with ${e.federatesWith.join(",")}` : "";
        return `create ${e.id.slice(0, 8)} ${e.parentID} → ${e.spiffeID}${fw}${expiresAt ? ` expires +${expiresAt - now()}s` : ""} via server ${origin}`;
      } catch (err) {
        return `create refused (${(err as { code?: string }).code})`;
      }
    };
    if (r < 0.25 || existing.length < 3) {
      desc = await create();
    } else if (r < 0.45) {
      const e = this.#pick(existing)!;
      const k = this.#int(5);
      const next = { ...e };
      if (k === 0) next.parentID = (await this.#parent(existing.filter((x) => x.id !== e.id))).parentID;
      else if (k === 1) next.spiffeID = e.parentID === SERVER ? `spiffe://${TDN}/alias${this.#int(3)}` : this.#workloadID();
      else if (k === 2) {
        next.selectors = e.parentID === SERVER
          ? (this.#nodeSelectors().slice(0, 1).concat([{ type: "x509pop", value: "zone:a" }]))
          : [{ type: "unix", value: `uid:${this.#int(3)}` }];
      } else if (k === 3) next.hint = `h${this.#int(100)}`;
      else next.federatesWith = this.#federates();
      try {
        await ds.updateEntry(next);
        desc = `update ${e.id.slice(0, 8)} ${["reparent", "rename", "selectors", "hint", "federates_with"][k]} → ${next.parentID} / ${next.spiffeID}${
          k === 4 ? ` [${next.federatesWith?.join(",")}]` : ""
        } via server ${origin}`;
      } catch (err) {
        desc = `update refused (${(err as { code?: string }).code})`;
      }
    } else if (r < 0.55) {
      const e = this.#pick(existing)!;
      await ds.deleteEntry(e.id);
      desc = `delete ${e.id.slice(0, 8)} ${e.spiffeID} via server ${origin}`;
    } else if (r < 0.59) {
      desc = await create(now() + 1 + this.#int(20));
    } else if (r < 0.63) {
      const s = 1 + this.#int(10);
      clock.advance(s * 1000);
      desc = `clock +${s}s`;
    } else if (r < 0.67) {
      // Both servers at once: interleaved transactions (out-of-order commits on PostgreSQL).
      const out = await Promise.all(this.#stores.flatMap((store, i) =>
        [0, 1].map(async () => {
          const p = await this.#parent(existing);
          try {
            await store.createEntry({
              spiffeID: this.#workloadID(),
              parentID: p.parentID === SERVER ? this.#agents[0]!.id : p.parentID,
              selectors: p.selectors,
              x509SVIDTTL: 0,
              jwtSVIDTTL: 0,
              dnsNames: [],
              hint: "",
              admin: false,
              downstream: false,
            });
            return `s${i}`;
          } catch {
            return `s${i}:refused`;
          }
        })
      ));
      desc = `burst of creates on every server (${out.join(" ")})`;
    } else if (r < 0.74) {
      const a = this.#pick(this.#agents)!;
      const node = (await ds.fetchAttestedNode(a.id))!;
      const selectors = this.#nodeSelectors();
      await ds.updateAttestedNode({ ...node, selectors });
      // The server the agent re-attests through tells its own streams; other servers' sweeps notice later.
      if (a.hub !== undefined) await this.#hubs[a.hub]!.nodeChanged(a.id);
      else a.selectorsChangedAway = true;
      desc = `node selectors of ${a.id} → [${selectors.map((s) => s.value).join(",")}]`;
    } else if (r < 0.8) {
      const a = this.#pick(this.#agents.filter((x) => x.hub !== undefined));
      if (a) this.#drop(a);
      desc = a ? `disconnect ${a.id}` : "disconnect (none connected)";
    } else if (r < 0.86) {
      // A federation refresh: sometimes the same content (no change), sometimes new authorities.
      const td = this.#pick(FEDERATED)!;
      const roots = [0, 1].slice(0, 1 + this.#int(2)).map(() => new Uint8Array([this.#int(3), this.#int(3)]));
      const b = await ds.setBundle({ trustDomain: td, x509Authorities: roots, jwtKeys: [], refreshHint: 60 });
      desc = `set bundle of ${td} (sequence ${b.sequence}) via server ${origin}`;
    } else if (r < 0.88) {
      const td = this.#pick(FEDERATED)!;
      const had = await ds.fetchBundle(td);
      if (had) await ds.deleteBundle(td);
      desc = had ? `delete bundle of ${td} via server ${origin}` : `delete bundle of ${td} (none)`;
    } else if (r < 0.95) {
      const a = this.#pick(this.#agents.filter((x) => x.hub === undefined));
      if (a) {
        const h = this.#int(this.#hubs.length);
        desc = `reconnect ${a.id} to server ${h} with cursor ${a.held.cursor ?? "none"}`;
        await this.#connect(a, h);
      } else desc = "reconnect (none disconnected)";
    } else if (r < 0.99 || !this.#o.reopen) {
      const h = this.#int(this.#hubs.length);
      for (const a of this.#agents) if (a.hub === h) this.#drop(a);
      this.#hubs[h] = this.#newHub(this.#stores[h]!);
      desc = `restart server ${h}`;
    } else {
      for (const a of this.#agents) if (a.hub !== undefined) this.#drop(a);
      this.#stores = await this.#o.reopen();
      this.#hubs = this.#stores.map((s) => this.#newHub(s));
      desc = "restart every server and reopen the datastore";
    }
    this.#log.push(desc);
    return desc;
  }

  /** Runs `steps` random steps, checking after each; the origin server is told at once, the others poll. */
  async run(steps: number, deadline: number): Promise<void> {
    let before = await this.#check("start");
    for (let i = 0; i < steps && Date.now() < deadline; i++) {
      const desc = await this.step();
      for (const hub of this.#hubs) await hub.notify();
      before = await this.#check(desc, before);
      this.#stats.steps++;
    }
    this.#stats.entries = (await this.#entries()).length;
  }

  close(): void {
    for (const a of this.#agents) if (a.hub !== undefined) this.#drop(a);
  }
}

/**
 * SPIRE's crawl written out plainly, independent of the server's index: from the agent's ID and the node aliases its
 * selectors cover (every alias selector among the node's), follow parent → child links.
 */
export function crawl(entries: RegistrationEntry[], agentID: string, nodeSelectors: Selector[]): RegistrationEntry[] {
  const have = new Set(nodeSelectors.map((s) => `${s.type}:${s.value}`));
  const out = new Map<string, RegistrationEntry>();
  const aliases = entries.filter((e) =>
    e.parentID === SERVER && e.selectors.length > 0 && have.size > 0 && e.selectors.every((s) => have.has(`${s.type}:${s.value}`))
  );
  for (const a of aliases) out.set(a.id, a);
  const reached = new Set([agentID, ...aliases.map((a) => a.spiffeID)]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const e of entries) {
      if (out.has(e.id) || !reached.has(e.parentID)) continue;
      out.set(e.id, e);
      reached.add(e.spiffeID);
      grew = true;
    }
  }
  return [...out.values()];
}

function show(m: Map<string, string>): string {
  return `{${[...m].map(([k, v]) => `${k}:${v}`).join(", ")}}`;
}

function sameSet<V>(a: Map<string, V>, b: Map<string, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
