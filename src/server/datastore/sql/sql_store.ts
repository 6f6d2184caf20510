/**
 * The SQL implementation of the DataStore port, on any SQLDriver. Queries are shared by SQLite and PostgreSQL:
 * they use `$N` placeholders (the driver translates), RETURNING, ON CONFLICT and 0/1 integers for booleans; only
 * the DDL in migrations.ts differs per dialect.
 * @module
 */
import type { Clock } from "../../../core/ports/clock.ts";
import { systemClock } from "../../../core/ports/clock.ts";
import type { SQLDriver } from "../../../core/ports/sql_driver.ts";
import type {
  AttestedNode,
  Bundle,
  CAJournal,
  DataStore,
  EntryEvent,
  FederationRelationship,
  JoinToken,
  ListAttestedNodesFilter,
  ListEntriesFilter,
  ManagedConfig,
  NewRegistrationEntry,
  RegistrationEntry,
} from "../datastore.ts";
import {
  appendBundle,
  deleteBundle,
  fetchBundle,
  listBundles,
  pruneBundle,
  revokeJWTKey,
  revokeX509CA,
  setBundle,
  taintJWTKey,
  taintX509CA,
} from "./bundles.ts";
import {
  createFederationRelationship,
  deleteFederationRelationship,
  fetchFederationRelationship,
  listFederationRelationships,
  updateFederationRelationship,
} from "./federation_relationships.ts";
import { fetchCAJournal, setCAJournal } from "./ca_journal.ts";
import { createEntry, deleteEntry, fetchEntry, lastEntryEventID, listEntries, listEntryEvents, updateEntry } from "./entries.ts";
import { createJoinToken, pruneJoinTokens, takeJoinToken } from "./join_tokens.ts";
import { fetchManagedConfig, setManagedConfig } from "./managed_config.ts";
import { migrate, type MigrateResult, type Migration } from "./migrations.ts";
import {
  banAttestedNode,
  countAttestedNodes,
  createAttestedNode,
  deleteAttestedNode,
  fetchAttestedNode,
  listAttestedNodes,
  updateAttestedNode,
} from "./nodes.ts";

export interface SQLStoreOptions {
  driver: SQLDriver;
  /** Source of createdAt and event times; the wall clock by default. */
  clock?: Clock;
  /** Recorded in schema_version when this code migrates the schema. */
  codeVersion?: string;
  /** The schema history; the built-in one unless a test supplies its own. */
  migrations?: readonly Migration[];
}

/** A DataStore over SQL. The store owns its driver: closing the store closes the driver. */
export class SQLStore implements DataStore {
  readonly driver: SQLDriver;
  /** What opening did to the schema. */
  readonly migration: MigrateResult;
  #clock: Clock;

  private constructor(driver: SQLDriver, clock: Clock, migration: MigrateResult) {
    this.driver = driver;
    this.#clock = clock;
    this.migration = migration;
  }

  /**
   * Migrates the schema to the newest version this code knows and returns the store. On failure the driver is
   * closed, so a refused open never keeps the database (or its process lock).
   * @throws {FailedPreconditionError} code ERR_SCHEMA_TOO_NEW when the database was written by newer code
   */
  static async open(options: SQLStoreOptions): Promise<SQLStore> {
    try {
      const result = await migrate(options.driver, {
        codeVersion: options.codeVersion ?? "unknown",
        ...(options.migrations === undefined ? {} : { migrations: options.migrations }),
      });
      return new SQLStore(options.driver, options.clock ?? systemClock, result);
    } catch (err) {
      await options.driver.close();
      throw err;
    }
  }

  #now(): number {
    return Math.floor(this.#clock.now().getTime() / 1000);
  }

  createEntry(e: NewRegistrationEntry): Promise<RegistrationEntry> {
    return createEntry(this.driver, e, this.#now());
  }
  fetchEntry(id: string): Promise<RegistrationEntry | undefined> {
    return fetchEntry(this.driver, id);
  }
  listEntries(filter?: ListEntriesFilter): Promise<RegistrationEntry[]> {
    return listEntries(this.driver, filter);
  }
  updateEntry(e: RegistrationEntry): Promise<RegistrationEntry> {
    return updateEntry(this.driver, e, this.#now());
  }
  deleteEntry(id: string): Promise<RegistrationEntry> {
    return deleteEntry(this.driver, id, this.#now());
  }
  listEntryEvents(afterID: number, limit?: number): Promise<EntryEvent[]> {
    return listEntryEvents(this.driver, afterID, limit);
  }
  lastEntryEventID(): Promise<number> {
    return lastEntryEventID(this.driver);
  }

  createAttestedNode(n: AttestedNode): Promise<AttestedNode> {
    return createAttestedNode(this.driver, n);
  }
  fetchAttestedNode(spiffeID: string): Promise<AttestedNode | undefined> {
    return fetchAttestedNode(this.driver, spiffeID);
  }
  listAttestedNodes(filter?: ListAttestedNodesFilter): Promise<AttestedNode[]> {
    return listAttestedNodes(this.driver, filter);
  }
  countAttestedNodes(filter?: ListAttestedNodesFilter): Promise<number> {
    return countAttestedNodes(this.driver, filter);
  }
  banAttestedNode(spiffeID: string): Promise<AttestedNode> {
    return banAttestedNode(this.driver, spiffeID);
  }
  updateAttestedNode(n: AttestedNode): Promise<AttestedNode> {
    return updateAttestedNode(this.driver, n);
  }
  deleteAttestedNode(spiffeID: string): Promise<AttestedNode> {
    return deleteAttestedNode(this.driver, spiffeID);
  }

  createJoinToken(t: JoinToken, alias?: NewRegistrationEntry): Promise<RegistrationEntry | undefined> {
    return createJoinToken(this.driver, t, alias, this.#now());
  }
  takeJoinToken(token: string): Promise<JoinToken | undefined> {
    return takeJoinToken(this.driver, token);
  }
  pruneJoinTokens(expiresBefore: number): Promise<number> {
    return pruneJoinTokens(this.driver, expiresBefore);
  }

  fetchBundle(trustDomain: string): Promise<Bundle | undefined> {
    return fetchBundle(this.driver, trustDomain);
  }
  appendBundle(b: Omit<Bundle, "sequence" | "refreshHint"> & { refreshHint?: number }): Promise<Bundle> {
    return appendBundle(this.driver, b);
  }
  pruneBundle(trustDomain: string, expiresBefore: number): Promise<Bundle | undefined> {
    return pruneBundle(this.driver, trustDomain, expiresBefore);
  }
  listBundles(): Promise<Bundle[]> {
    return listBundles(this.driver);
  }
  taintX509CA(trustDomain: string, ski: string): Promise<Bundle> {
    return taintX509CA(this.driver, trustDomain, ski);
  }
  revokeX509CA(trustDomain: string, ski: string): Promise<Bundle> {
    return revokeX509CA(this.driver, trustDomain, ski);
  }
  taintJWTKey(trustDomain: string, kid: string): Promise<Bundle> {
    return taintJWTKey(this.driver, trustDomain, kid);
  }
  revokeJWTKey(trustDomain: string, kid: string): Promise<Bundle> {
    return revokeJWTKey(this.driver, trustDomain, kid);
  }

  setBundle(b: Omit<Bundle, "sequence"> & { sequence?: number }): Promise<Bundle> {
    return setBundle(this.driver, b);
  }
  deleteBundle(trustDomain: string): Promise<void> {
    return deleteBundle(this.driver, trustDomain);
  }

  createFederationRelationship(r: FederationRelationship): Promise<FederationRelationship> {
    return createFederationRelationship(this.driver, r);
  }
  fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | undefined> {
    return fetchFederationRelationship(this.driver, trustDomain);
  }
  listFederationRelationships(): Promise<FederationRelationship[]> {
    return listFederationRelationships(this.driver);
  }
  updateFederationRelationship(r: FederationRelationship): Promise<FederationRelationship> {
    return updateFederationRelationship(this.driver, r);
  }
  deleteFederationRelationship(trustDomain: string): Promise<void> {
    return deleteFederationRelationship(this.driver, trustDomain);
  }

  setCAJournal(j: Omit<CAJournal, "id"> & { id?: number }): Promise<CAJournal> {
    return setCAJournal(this.driver, j);
  }
  fetchCAJournal(activeX509AuthorityID: string): Promise<CAJournal | undefined> {
    return fetchCAJournal(this.driver, activeX509AuthorityID);
  }

  setManagedConfig(section: string, document: string): Promise<ManagedConfig> {
    return setManagedConfig(this.driver, section, document, this.#now());
  }
  fetchManagedConfig(section: string): Promise<ManagedConfig | undefined> {
    return fetchManagedConfig(this.driver, section);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
