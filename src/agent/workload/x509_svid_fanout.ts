/**
 * FetchX509SVID streams grouped by their selector set: one cache subscription, one identity lookup and one response
 * message per group and change, shared by every stream of the group. @module
 */
import { formatError, PermissionDeniedError, UnavailableError } from "../../core/errors.ts";
import type { Selector } from "../../core/selector.ts";
import type { AgentManager } from "../manager/manager.ts";
import type { X509SVIDResponse } from "./proto/workload_pb.ts";
import { x509SVIDResponse } from "./x509_svid_response.ts";

/** One open stream: where its messages go, and how it ends when its caller loses every identity. */
interface Member {
  send: (m: X509SVIDResponse) => void;
  fail: (err: unknown) => void;
  /** The message this member got last: a member whose ensure() finishes after the group's send gets nothing twice. */
  last?: X509SVIDResponse;
}

interface Group {
  selectors: Selector[];
  members: Set<Member>;
  /** Ends the group's cache subscription and its hold on the selectors' SVIDs (the cache never evicts held ones). */
  unsubscribe: () => void;
  /** The change key of `message` (entries, SVID lifetimes, roots version, federated version). */
  key: string;
  /** The newest message: a stream that joins gets this object, so its encoded bytes are shared too (codec.ts). */
  message: X509SVIDResponse | undefined;
  /** Bumped for each new message (and when the group ends): a delivery still under way for an older one stops. */
  round: number;
}

/**
 * Members a delivery sends to before it yields to the event loop. The transport copies a message into a frame of its
 * own per stream, held until the socket takes it: sending to 10,000 streams at once held about 18 MB of frames at the
 * peak, 500 at a time holds under 1 MB, and new streams and other calls are served in between.
 */
const BATCH = 500;

/**
 * A workload's streams are all alike: with 10,000 streams from the same selectors, a CA rotation used to build,
 * encode and key 10,000 identical messages, and hold 10,000 cache listeners. A group does that work once per change.
 */
export class X509SVIDFanout {
  readonly #manager: AgentManager;
  readonly #groups = new Map<string, Group>();

  constructor(manager: AgentManager) {
    this.#manager = manager;
  }

  /** Groups open now (for tests and metrics). */
  get groups(): number {
    return this.#groups.size;
  }

  /**
   * Streams the selectors' X509-SVIDs to `send` until `signal` aborts: the current state first, then every change.
   * SVIDs beyond the agent's cache size are minted for the stream first; while a group is open its SVIDs stay cached.
   * @throws {PermissionDeniedError} "no identity issued", at once or when the last identity goes away
   * @throws {UnavailableError} "could not fetch X509-SVID: …" when an SVID cannot be minted
   */
  watch(selectors: Selector[], signal: AbortSignal, send: (m: X509SVIDResponse) => void): Promise<void> {
    // The client may have left while it was being attested; "abort" will not fire again then.
    if (signal.aborted) return Promise.resolve();
    if (this.#manager.entriesFor(selectors).length === 0) return Promise.reject(new PermissionDeniedError("no identity issued"));
    const id = selectors.map((s) => `${s.type}:${s.value}`).sort().join("\n");
    return new Promise<void>((resolve, reject) => {
      let group = this.#groups.get(id);
      if (!group) {
        const g: Group = { selectors, members: new Set(), unsubscribe: () => {}, key: "", message: undefined, round: 0 };
        this.#groups.set(id, g);
        const unsubscribe = this.#manager.subscribe(() => this.#refresh(id, g));
        const release = this.#manager.hold(selectors);
        g.unsubscribe = () => {
          unsubscribe();
          release();
        };
        group = g;
      }
      const g = group;
      const leave = () => {
        signal.removeEventListener("abort", onAbort);
        g.members.delete(member);
        if (g.members.size === 0 && this.#groups.get(id) === g) {
          g.unsubscribe();
          this.#groups.delete(id);
        }
      };
      const onAbort = () => {
        leave();
        resolve();
      };
      const member: Member = {
        send,
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      g.members.add(member);
      // The group holds the SVIDs now, so what ensure() mints stays; entries beyond the cache are minted here.
      this.#manager.ensure(selectors).then(
        () => {
          if (!g.members.has(member)) return;
          // State can change between notifications only through a notification, but a lookup is cheap next to a
          // stream, and it keeps a group whose last member left and came back from serving a stale message.
          if (!this.#refresh(id, g) && g.message !== undefined) deliver(member, g.message);
        },
        (cause) => member.fail(new UnavailableError(`could not fetch X509-SVID: ${formatError(cause)}`, { cause })),
      );
    });
  }

  /**
   * Looks the group's identities up again and sends a new message to every member when they changed; ends every
   * member's stream when none is left. Returns whether it sent.
   */
  #refresh(id: string, g: Group): boolean {
    const m = this.#manager;
    if (m.entriesFor(g.selectors).length === 0) {
      const err = new PermissionDeniedError("no identity issued");
      g.round++;
      g.unsubscribe();
      if (this.#groups.get(id) === g) this.#groups.delete(id);
      for (const member of [...g.members]) member.fail(err);
      return true;
    }
    const ids = m.identities(g.selectors);
    // An entry that just arrived is being minted (the group holds it): its message follows that notification.
    if (ids.length === 0) return false;
    // SPIRE sends every cache update; skipping byte-identical ones only drops true no-ops.
    const key = ids.map((i) => `${i.entry.id}:${i.entry.revisionNumber}:${i.svid.issuedAt.getTime()}:${i.svid.notAfter.getTime()}:${i.svid.chain.length}`)
      .join("|") +
      `#${m.bundle().rootsVersion}#${m.federatedVersion}`;
    if (key === g.key && g.message !== undefined) return false;
    g.key = key;
    g.message = x509SVIDResponse(ids, m.bundle().roots, m.federatedBundlesFor(ids.map((i) => i.entry)));
    sendAll(g);
    return true;
  }
}

/**
 * Sends the group's message to every member, BATCH at a time. Members that join meanwhile got it when they joined;
 * members that leave are skipped; a newer message starts a round of its own and this one stops.
 */
function sendAll(g: Group): void {
  const round = ++g.round;
  const message = g.message!;
  const members = [...g.members];
  let i = 0;
  const step = () => {
    if (g.round !== round) return;
    const end = Math.min(members.length, i + BATCH);
    for (; i < end; i++) {
      const member = members[i]!;
      if (g.members.has(member)) deliver(member, message);
    }
    if (i < members.length) setTimeout(step, 0);
  };
  step();
}

/** A message that cannot be sent ends that stream only. */
function deliver(member: Member, m: X509SVIDResponse): void {
  if (member.last === m) return;
  member.last = m;
  try {
    member.send(m);
  } catch (err) {
    member.fail(err);
  }
}
