/**
 * Writes raced against crashes: concurrent admin-API clients create registration entries (alone and in batches) and
 * join tokens (with and without a node alias) while the test crashes the server or its database, and a client-side
 * ledger records what each client sent and what it was answered. `check` then compares the ledger with what the
 * datastore holds, through the admin API and by reading the tables directly:
 * - every write the client saw acknowledged is there with every field as acknowledged (and stays there);
 * - every write that got no answer, or an error answer, is there complete or absent, and once seen absent it never
 *   appears later;
 * - nothing is half there: each entry's selector rows match its selector list, each entry has its one creation event
 *   and no event names a missing entry, each alias entry has its token and each token asked with an alias has it;
 * - nothing is there that no client asked for.
 * @module
 */
import * as assert from "uvu/assert";
import type { AdminHTTP } from "./_admin.ts";
import type { Rand } from "./_fuzz.ts";

const TD = "spiffe://example.org";
const AGENT_PREFIX = `${TD}/spire/agent/join_token/`;

/** Reads rows straight from the datastore's tables (SQLite file or PostgreSQL), past the server. */
export type RawQuery = (sql: string) => Promise<Record<string, unknown>[]>;

interface Selector {
  type: string;
  value: string;
}

interface EntryRequest {
  spiffe_id: string;
  parent_id: string;
  selectors: Selector[];
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  dns_names: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
}

export interface EntryJSON {
  id: string;
  spiffe_id: { trust_domain: string; path: string };
  parent_id: { trust_domain: string; path: string };
  selectors: Selector[];
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  dns_names: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
  revision_number: number;
  created_at: number;
}

/** What the client knows of one write: "sent" until an answer comes (and for good if none does). */
type Answer = "sent" | "acked" | "refused";
/** What the datastore was last seen to hold for a write the client could not be sure of. */
type Seen = "unknown" | "present" | "absent";

interface EntryWrite {
  path: string;
  request: EntryRequest;
  answer: Answer;
  seen: Seen;
  /** The acknowledged object, or the stored one once an unanswered write was found: it must never change. */
  stored?: EntryJSON;
}

interface TokenWrite {
  /** Path of the node alias asked for, if any. */
  alias?: string;
  /** Unique per request (a multiple of TTL_STEP), so a stored token tells which request made it. */
  ttl: number;
  answer: Answer;
  seen: Seen;
  token?: { value: string; expires_at: number };
}

export interface CheckStats {
  entries: number;
  tokens: number;
}

/** Totals over a run, for the [figure] lines. */
export interface LedgerFigures {
  requests: number;
  ackedEntries: number;
  ackedTokens: number;
  /** Writes that got no answer at all (the crash cut them off), by what the next check found. */
  unansweredFound: number;
  unansweredAbsent: number;
  /** Writes answered with an error (e.g. "datastore is unavailable"), by what the next check found. */
  refusedFound: number;
  refusedAbsent: number;
  lost: number;
  halfWritten: number;
  checks: number;
}

const pathOf = (id: string) => id.slice(TD.length);
function fail(message: string): never {
  assert.unreachable(message);
  throw new Error(message);
}
/** Token TTLs are k × TTL_STEP for a unique k; a run is far shorter than half a step, so expires_at gives k back. */
const TTL_STEP = 100_000;
const selKey = (s: Selector) => `${s.type}\u0000${s.value}`;

export class CrashLedger {
  readonly entries = new Map<string, EntryWrite>();
  readonly tokenWrites: TokenWrite[] = [];
  /** Tokens known to be stored (acknowledged, or found after a crash), by value. */
  readonly tokens = new Map<string, TokenWrite>();
  readonly figures: LedgerFigures = {
    requests: 0,
    ackedEntries: 0,
    ackedTokens: 0,
    unansweredFound: 0,
    unansweredAbsent: 0,
    refusedFound: 0,
    refusedAbsent: 0,
    lost: 0,
    halfWritten: 0,
    checks: 0,
  };
  #seq = 0;
  readonly #rand: Rand;

  constructor(rand: Rand) {
    this.#rand = rand;
  }

  /**
   * One writer: until `stop()` says so, sends a batch of 1 to 3 entries (70 %) or a join token (30 %, two thirds of
   * them with a node alias), recording each write before it is sent.
   */
  async writer(admin: AdminHTTP, stop: () => boolean): Promise<void> {
    while (!stop()) {
      this.figures.requests++;
      if (this.#rand.chance(0.3)) await this.#token(admin);
      else await this.#entries(admin, 1 + this.#rand.int(3));
      // A request that fails without I/O (the client's pool refusing at once) settles in a microtask, and a loop of
      // those never lets timers run: the test's own deadlines included (seen: a CI run hung 290 s in "waiting for
      // /ready" with every deadline bounded). Yield to the event loop after each request, as any client's retry would.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  #request(n: number): EntryRequest {
    const r = this.#rand;
    const selectors: Selector[] = [{ type: "unix", value: `uid:${n}` }];
    for (let k = r.int(4); k > 0; k--) {
      selectors.push(r.pick([
        { type: "unix", value: `gid:${r.int(50)}` },
        { type: "unix", value: `user:svc-${r.int(20)}` },
        { type: "k8s", value: `ns:team-${r.int(10)}` },
        { type: "docker", value: `label:app:${r.int(10)}` },
      ]));
    }
    return {
      spiffe_id: `${TD}/crash/${n}`,
      parent_id: `${TD}/node/${r.int(5)}`,
      // Duplicates removed: the store keeps a selector set.
      selectors: [...new Map(selectors.map((s) => [selKey(s), s])).values()],
      x509_svid_ttl: r.int(7200),
      jwt_svid_ttl: r.int(600),
      dns_names: r.chance(0.5) ? [`w${n}.example.org`, ...(r.chance(0.5) ? [`alt-${n}.example.org`] : [])] : [],
      hint: r.chance(0.5) ? `hint-${n}-${"x".repeat(r.int(200))}` : "",
      admin: r.chance(0.2),
      downstream: r.chance(0.1),
    };
  }

  async #entries(admin: AdminHTTP, count: number): Promise<void> {
    const writes: EntryWrite[] = [];
    for (let i = 0; i < count; i++) {
      const request = this.#request(++this.#seq);
      const w: EntryWrite = { path: pathOf(request.spiffe_id), request, answer: "sent", seen: "unknown" };
      this.entries.set(w.path, w);
      writes.push(w);
    }
    let res;
    try {
      res = await admin.call<{ results?: { status: { status: string }; entry?: EntryJSON }[] }>(
        "POST",
        "/entry/v1/entries",
        { entries: writes.map((w) => w.request) },
      );
    } catch {
      return; // No answer: the writes stay "sent".
    }
    // An error status for the whole request (e.g. 503 before the handler ran) refuses every item.
    writes.forEach((w, i) => {
      const item = res.body.results?.[i];
      if (res.status === 200 && item?.status.status === "OK" && item.entry) {
        w.answer = "acked";
        w.stored = item.entry;
        this.figures.ackedEntries++;
      } else {
        w.answer = "refused";
      }
    });
  }

  async #token(admin: AdminHTTP): Promise<void> {
    const k = ++this.#seq;
    const w: TokenWrite = { ttl: k * TTL_STEP, answer: "sent", seen: "unknown" };
    if (this.#rand.chance(2 / 3)) w.alias = `/node-alias/${k}`;
    this.tokenWrites.push(w);
    let res;
    try {
      res = await admin.call<{ value?: string; expires_at?: number }>(
        "POST",
        "/agent/v1/join_tokens",
        { ttl: w.ttl, ...(w.alias ? { agent_id: `${TD}${w.alias}` } : {}) },
      );
    } catch {
      return;
    }
    if (res.status === 200 && typeof res.body.value === "string" && typeof res.body.expires_at === "number") {
      w.answer = "acked";
      w.token = { value: res.body.value, expires_at: res.body.expires_at };
      this.tokens.set(w.token.value, w);
      this.figures.ackedTokens++;
    } else {
      w.answer = "refused";
    }
  }

  /** Compares the datastore with the ledger (see the module comment); `label` names the crash in failure messages. */
  async check(label: string, admin: AdminHTTP, raw: RawQuery): Promise<CheckStats> {
    this.figures.checks++;
    const listed = await admin.call<{ entries: EntryJSON[] }>("GET", "/entry/v1/entries");
    assert.is(listed.status, 200, `${label}: entry list answered ${listed.status}`);
    const api = listed.body.entries;
    const rows = await raw("SELECT pk, id, selectors FROM registered_entries");
    const selectorRows = await raw("SELECT entry_pk, type, value FROM entry_selectors");
    const events = await raw("SELECT id, entry_id FROM entry_events");
    const tokenRows = await raw("SELECT token, expires_at FROM join_tokens");

    // Nothing half there, table by table.
    assert.equal(api.map((e) => e.id).sort(), rows.map((r) => String(r.id)).sort(), `${label}: the API and the table list different entries`);
    const selsByPK = new Map<string, Set<string>>();
    for (const s of selectorRows) {
      const k = String(s.entry_pk);
      if (!selsByPK.has(k)) selsByPK.set(k, new Set());
      selsByPK.get(k)!.add(selKey({ type: String(s.type), value: String(s.value) }));
    }
    const half = (what: string) => {
      this.figures.halfWritten++;
      fail(`${label}: half-written: ${what}`);
    };
    const pks = new Set(rows.map((r) => String(r.pk)));
    for (const k of selsByPK.keys()) if (!pks.has(k)) half(`selector rows of missing entry pk ${k}`);
    for (const r of rows) {
      const want = new Set((JSON.parse(String(r.selectors)) as Selector[]).map(selKey));
      const got = selsByPK.get(String(r.pk)) ?? new Set<string>();
      if (want.size !== got.size || [...want].some((k) => !got.has(k))) {
        half(`entry ${String(r.id)} lists ${want.size} selectors but has ${got.size} selector rows`);
      }
    }
    const eventsByEntry = new Map<string, number>();
    for (const e of events) eventsByEntry.set(String(e.entry_id), (eventsByEntry.get(String(e.entry_id)) ?? 0) + 1);
    const ids = new Set(api.map((e) => e.id));
    for (const id of eventsByEntry.keys()) if (!ids.has(id)) half(`event for entry ${id}, which is not there`);
    // Nothing is updated or deleted here, so each entry has exactly its creation event.
    for (const e of api) if (eventsByEntry.get(e.id) !== 1) half(`entry ${e.id} has ${eventsByEntry.get(e.id) ?? 0} events`);

    // Join tokens and their aliases.
    const storedTokens = new Map(tokenRows.map((t) => [String(t.token), Number(t.expires_at)]));
    const aliases = new Map<string, EntryJSON>(); // alias path -> entry
    const aliasOfToken = new Map<string, EntryJSON>(); // token -> alias entry
    const byPath = new Map<string, EntryJSON>();
    for (const e of api) {
      assert.is(e.spiffe_id.trust_domain, "example.org");
      if (byPath.has(e.spiffe_id.path)) fail(`${label}: two entries for ${e.spiffe_id.path}`);
      byPath.set(e.spiffe_id.path, e);
      if (!e.spiffe_id.path.startsWith("/node-alias/")) continue;
      const parent = `${TD}${e.parent_id.path}`;
      if (!parent.startsWith(AGENT_PREFIX)) fail(`${label}: alias ${e.spiffe_id.path} has parent ${parent}`);
      const token = parent.slice(AGENT_PREFIX.length);
      assert.equal(e.selectors, [{ type: "spiffe_id", value: parent }], `${label}: selectors of alias ${e.spiffe_id.path}`);
      if (!storedTokens.has(token)) half(`alias ${e.spiffe_id.path} without its join token`);
      aliases.set(e.spiffe_id.path, e);
      aliasOfToken.set(token, e);
    }
    for (const [value, w] of this.tokens) {
      const expires = storedTokens.get(value);
      if (expires === undefined) {
        this.figures.lost++;
        fail(`${label}: LOST: ${w.answer === "acked" ? "acknowledged" : "previously stored"} join token (${w.alias ?? "no alias"})`);
      }
      assert.is(expires, w.token!.expires_at, `${label}: expires_at of a join token`);
      const alias = aliasOfToken.get(value);
      if (w.alias !== undefined && alias?.spiffe_id.path !== w.alias) half(`join token asked with alias ${w.alias} has ${alias?.spiffe_id.path ?? "none"}`);
      if (w.alias === undefined && alias !== undefined) fail(`${label}: token without alias got ${alias.spiffe_id.path}`);
    }
    // Tokens nobody saw acknowledged: each must belong to an unanswered or refused request, found by its TTL.
    const byTTL = new Map(this.tokenWrites.map((w) => [w.ttl, w]));
    const nowSeconds = Date.now() / 1000;
    for (const [value, expiresAt] of storedTokens) {
      if (this.tokens.has(value)) continue;
      const alias = aliasOfToken.get(value);
      const w = byTTL.get(Math.round((expiresAt - nowSeconds) / TTL_STEP) * TTL_STEP);
      if (w === undefined || w.answer === "acked") fail(`${label}: a join token no client asked for (${alias?.spiffe_id.path ?? "no alias"})`);
      if (w.seen === "absent") fail(`${label}: join token ${w.ttl / TTL_STEP} appeared after it was seen absent`);
      if (w.alias !== undefined && alias?.spiffe_id.path !== w.alias) half(`join token asked with alias ${w.alias} has ${alias?.spiffe_id.path ?? "none"}`);
      if (w.alias === undefined && alias !== undefined) fail(`${label}: token without alias got ${alias.spiffe_id.path}`);
      w.seen = "present";
      w.token = { value, expires_at: expiresAt };
      this.tokens.set(value, w);
      this.figures[w.answer === "sent" ? "unansweredFound" : "refusedFound"]++;
    }
    for (const w of this.tokenWrites) {
      if (w.answer === "acked" || w.seen !== "unknown") continue;
      w.seen = "absent";
      this.figures[w.answer === "sent" ? "unansweredAbsent" : "refusedAbsent"]++;
    }

    // Registration entries.
    for (const e of api) {
      const path = e.spiffe_id.path;
      if (aliases.has(path)) continue;
      const w = this.entries.get(path);
      if (w === undefined) fail(`${label}: an entry no client asked for: ${path}`);
      if (w.seen === "absent") fail(`${label}: ${path} appeared after it was seen absent`);
      const { id: _id, revision_number, created_at, ...fields } = e;
      const stored: Record<string, unknown> = { ...fields, spiffe_id: `${TD}${fields.spiffe_id.path}`, parent_id: `${TD}${fields.parent_id.path}` };
      // Fields the client did not send (expiry, federation, store_svid) hold their defaults; the rest must be as sent.
      for (const [k, v] of Object.entries(stored)) {
        if (!(k in w.request)) {
          assert.ok(v === 0 || v === false || (Array.isArray(v) && v.length === 0), `${label}: ${path} has ${k} = ${JSON.stringify(v)}, which no client set`);
          delete stored[k];
        }
      }
      assert.equal(
        stored,
        w.request,
        `${label}: ${path} differs from what the client sent`,
      );
      assert.is(revision_number, 0);
      if (w.stored) assert.equal(e, w.stored, `${label}: ${path} differs from what was ${w.answer === "acked" ? "acknowledged" : "found before"}`);
      else {
        w.stored = e;
        w.seen = "present";
        this.figures[w.answer === "sent" ? "unansweredFound" : "refusedFound"]++;
      }
      assert.ok(created_at > 0);
    }
    for (const w of this.entries.values()) {
      if (byPath.has(w.path)) continue;
      if (w.stored) {
        this.figures.lost++;
        fail(`${label}: LOST: ${w.answer === "acked" ? "acknowledged" : "previously stored"} entry ${w.path}`);
      }
      if (w.seen === "unknown") {
        w.seen = "absent";
        this.figures[w.answer === "sent" ? "unansweredAbsent" : "refusedAbsent"]++;
      }
    }
    return { entries: api.length, tokens: storedTokens.size };
  }
}
