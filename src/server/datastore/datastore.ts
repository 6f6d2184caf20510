/** The datastore port: everything the server persists. SQLite (libsql) and PostgreSQL implement it. @module */

/** A workload or node selector such as unix:uid:1000 (type "unix", value "uid:1000"). */
export interface Selector {
  type: string;
  value: string;
}

/** A registration entry, SPIRE's shape. TTLs are seconds; 0 means the server default. */
export interface RegistrationEntry {
  id: string;
  spiffeID: string;
  parentID: string;
  selectors: Selector[];
  x509SVIDTTL: number;
  jwtSVIDTTL: number;
  dnsNames: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
  /** Bumped on every update; agents compare it to decide what changed. */
  revisionNumber: number;
  /** Unix seconds. */
  createdAt: number;
  /** Unix seconds after which the entry is no longer served (SPIRE `-entryExpiry`); 0 or absent: never. */
  expiresAt?: number;
  /** Names of the foreign trust domains whose bundles this entry's workloads receive (SPIRE `federates_with`). */
  federatesWith?: string[];
}

/** Fields a caller provides to create an entry; the store assigns id, revision and createdAt when absent. */
export type NewRegistrationEntry = Omit<RegistrationEntry, "id" | "revisionNumber" | "createdAt"> & { id?: string };

/** An attested agent. */
export interface AttestedNode {
  spiffeID: string;
  attestationType: string;
  /** Serial (hex) of the agent SVID currently in use. */
  certSerial: string;
  /** Unix seconds. */
  certNotAfter: number;
  /** Serial of a renewed SVID the agent has not presented yet ("" when none). */
  newCertSerial: string;
  newCertNotAfter: number;
  canReattest: boolean;
  banned: boolean;
  selectors: Selector[];
}

export interface JoinToken {
  token: string;
  /** Unix seconds. */
  expiresAt: number;
}

/** A JWT signing key published in the bundle. */
export interface JWTKey {
  kid: string;
  /** DER SubjectPublicKeyInfo. */
  publicKey: Uint8Array;
  /** Unix seconds. */
  notAfter: number;
}

/** The trust bundle of one trust domain. */
export interface Bundle {
  trustDomain: string;
  /** DER root certificates. */
  x509Authorities: Uint8Array[];
  jwtKeys: JWTKey[];
  /** Bumped on every change (spiffe_sequence). */
  sequence: number;
  /** Seconds. */
  refreshHint: number;
  /** Hex subject key IDs of X.509 authorities an operator tainted (`localauthority x509 taint`). */
  taintedX509?: string[];
  /** Key IDs of JWT authorities an operator tainted (`localauthority jwt taint`). */
  taintedJWT?: string[];
}

/** SPIRE's bundle endpoint profiles (SPIFFE Federation §5). */
export type BundleEndpointProfile =
  | { type: "https_web" }
  | { type: "https_spiffe"; endpointSPIFFEID: string };

/** A federation relationship made through the API (`federation create`); config-file ones are not stored. */
export interface FederationRelationship {
  /** Foreign trust domain name. */
  trustDomain: string;
  bundleEndpointURL: string;
  profile: BundleEndpointProfile;
}

/** One server's CA journal (opaque JSON for the CA manager), found by its active X.509 authority id. */
export interface CAJournal {
  id: number;
  activeX509AuthorityID: string;
  data: string;
}

/** A change to the set of entries, in commit order; servers tail these to push changes to agents. */
export interface EntryEvent {
  id: number;
  entryID: string;
}

/** A managed-config document (SPIRL `section/schema/spec`), stored as the operator wrote it; one per section. */
export interface ManagedConfig {
  /** e.g. "UpstreamAuthority". */
  section: string;
  /** The document text (YAML). */
  document: string;
  /** 1 for the first document of a section, bumped by every set. */
  version: number;
  /** Unix seconds of the last set. */
  updatedAt: number;
}

export interface ListEntriesFilter {
  parentID?: string;
  spiffeID?: string;
  /** Entries whose selectors include all of these. */
  selectors?: Selector[];
}

/** How agents' node selectors must relate to a filter's selectors (SPIRE's SelectorMatch behaviours). */
export type SelectorMatchBehavior = "exact" | "any" | "superset" | "subset";

/** SPIRE's ListAgents/CountAgents filters; every criterion given must hold. */
export interface ListAttestedNodesFilter {
  attestationType?: string;
  banned?: boolean;
  canReattest?: boolean;
  /** Unix seconds: nodes whose current SVID expires strictly before this. */
  expiresBefore?: number;
  /** Must not be empty. */
  selectorMatch?: { selectors: Selector[]; match: SelectorMatchBehavior };
}

/** The persistent state of a trust domain. Every method is atomic; errors are ServiceErrors. */
export interface DataStore {
  // Entries
  /** @throws {AlreadyExistsError} when an entry with the same parent, SPIFFE ID and selectors exists */
  createEntry(e: NewRegistrationEntry): Promise<RegistrationEntry>;
  fetchEntry(id: string): Promise<RegistrationEntry | undefined>;
  listEntries(filter?: ListEntriesFilter): Promise<RegistrationEntry[]>;
  /** @throws {NotFoundError} */
  updateEntry(e: RegistrationEntry): Promise<RegistrationEntry>;
  /** @throws {NotFoundError} */
  deleteEntry(id: string): Promise<RegistrationEntry>;
  /** Events with id > afterID, oldest first. */
  listEntryEvents(afterID: number, limit?: number): Promise<EntryEvent[]>;
  /** The highest event id so far (0 when none). */
  lastEntryEventID(): Promise<number>;

  // Agents
  /** @throws {AlreadyExistsError} */
  createAttestedNode(n: AttestedNode): Promise<AttestedNode>;
  fetchAttestedNode(spiffeID: string): Promise<AttestedNode | undefined>;
  /** Ordered by SPIFFE ID. @throws {InvalidArgumentError} "cannot list by empty selectors set" */
  listAttestedNodes(filter?: ListAttestedNodesFilter): Promise<AttestedNode[]>;
  /** @throws {InvalidArgumentError} "cannot list by empty selectors set" */
  countAttestedNodes(filter?: ListAttestedNodesFilter): Promise<number>;
  /** Replaces the node; a banned node stays banned with empty serials (only deleting it lifts a ban). @throws {NotFoundError} */
  updateAttestedNode(n: AttestedNode): Promise<AttestedNode>;
  /** Sets banned and empties both serials, as SPIRE's BanAgent; the node and its selectors stay. @throws {NotFoundError} */
  banAttestedNode(spiffeID: string): Promise<AttestedNode>;
  /** @throws {NotFoundError} */
  deleteAttestedNode(spiffeID: string): Promise<AttestedNode>;

  // Join tokens
  /**
   * Stores a token and, when given, the alias entry naming its agent (SPIRE's CreateJoinToken with agent_id), both
   * or neither; returns the alias entry.
   * @throws {AlreadyExistsError}
   */
  createJoinToken(t: JoinToken, alias?: NewRegistrationEntry): Promise<RegistrationEntry | undefined>;
  /** Deletes and returns the token in one step, so that a token works exactly once. */
  takeJoinToken(token: string): Promise<JoinToken | undefined>;
  pruneJoinTokens(expiresBefore: number): Promise<number>;

  // Bundles
  fetchBundle(trustDomain: string): Promise<Bundle | undefined>;
  /** Adds roots and keys not yet present (deduplicated) and bumps the sequence when anything changed. */
  appendBundle(b: Omit<Bundle, "sequence" | "refreshHint"> & { refreshHint?: number }): Promise<Bundle>;
  /** Removes roots and keys that expired before `expiresBefore` (unix seconds); bumps the sequence when anything changed. */
  pruneBundle(trustDomain: string, expiresBefore: number): Promise<Bundle | undefined>;
  listBundles(): Promise<Bundle[]>;
  /**
   * Marks the root whose subject key ID is `ski` (hex) as tainted; bumps the sequence.
   * @throws {NotFoundError} "no ca found with provided subject key ID"
   * @throws {InvalidArgumentError} "root CA is already tainted"
   */
  taintX509CA(trustDomain: string, ski: string): Promise<Bundle>;
  /**
   * Removes a tainted root from the bundle; bumps the sequence.
   * @throws {NotFoundError} "no root CA found with provided subject key ID"
   * @throws {InvalidArgumentError} "it is not possible to revoke an untainted root CA"
   */
  revokeX509CA(trustDomain: string, ski: string): Promise<Bundle>;
  /** @throws {NotFoundError} "no JWT Key found with provided key ID"; {InvalidArgumentError} "key is already tainted" */
  taintJWTKey(trustDomain: string, kid: string): Promise<Bundle>;
  /** @throws {NotFoundError}; {InvalidArgumentError} "it is not possible to revoke an untainted key" */
  revokeJWTKey(trustDomain: string, kid: string): Promise<Bundle>;

  /** Replaces a trust domain's bundle whole (a foreign bundle fetched or set by an operator); bumps the sequence when it changed. */
  setBundle(b: Omit<Bundle, "sequence"> & { sequence?: number }): Promise<Bundle>;
  /** @throws {NotFoundError} */
  deleteBundle(trustDomain: string): Promise<void>;

  // Federation relationships
  /** @throws {AlreadyExistsError} */
  createFederationRelationship(r: FederationRelationship): Promise<FederationRelationship>;
  fetchFederationRelationship(trustDomain: string): Promise<FederationRelationship | undefined>;
  /** Ordered by trust domain. */
  listFederationRelationships(): Promise<FederationRelationship[]>;
  /** @throws {NotFoundError} */
  updateFederationRelationship(r: FederationRelationship): Promise<FederationRelationship>;
  /** @throws {NotFoundError} */
  deleteFederationRelationship(trustDomain: string): Promise<void>;

  // CA journal
  setCAJournal(j: Omit<CAJournal, "id"> & { id?: number }): Promise<CAJournal>;
  fetchCAJournal(activeX509AuthorityID: string): Promise<CAJournal | undefined>;

  // Managed config
  /** Stores the section's document, bumping its version (1 when new) and updatedAt atomically. */
  setManagedConfig(section: string, document: string): Promise<ManagedConfig>;
  fetchManagedConfig(section: string): Promise<ManagedConfig | undefined>;

  close(): Promise<void>;
}
