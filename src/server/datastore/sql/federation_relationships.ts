/** Federation relationships made through the API, one JSON document per foreign trust domain. @module */
import { AlreadyExistsError, NotFoundError } from "../../../core/errors.ts";
import type { SQLDriver } from "../../../core/ports/sql_driver.ts";
import type { FederationRelationship } from "../datastore.ts";

interface Row {
  trust_domain: string;
  data: string;
}

function toRelationship(r: Row): FederationRelationship {
  const d = JSON.parse(r.data) as Omit<FederationRelationship, "trustDomain">;
  return { trustDomain: r.trust_domain, bundleEndpointURL: d.bundleEndpointURL, profile: d.profile };
}

function toData(r: FederationRelationship): string {
  const profile = r.profile.type === "https_spiffe" ? { type: r.profile.type, endpointSPIFFEID: r.profile.endpointSPIFFEID } : { type: r.profile.type };
  return JSON.stringify({ bundleEndpointURL: r.bundleEndpointURL, profile });
}

export async function fetchFederationRelationship(db: SQLDriver, trustDomain: string): Promise<FederationRelationship | undefined> {
  const rows = await db.query<Row>(`SELECT trust_domain, data FROM federation_relationships WHERE trust_domain = $1`, [trustDomain]);
  return rows[0] === undefined ? undefined : toRelationship(rows[0]);
}

export async function listFederationRelationships(db: SQLDriver): Promise<FederationRelationship[]> {
  const rows = await db.query<Row>(`SELECT trust_domain, data FROM federation_relationships ORDER BY trust_domain`);
  return rows.map(toRelationship);
}

/** @throws {AlreadyExistsError} "federation relationship already exists" */
export async function createFederationRelationship(db: SQLDriver, r: FederationRelationship): Promise<FederationRelationship> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<Row>(`SELECT trust_domain, data FROM federation_relationships WHERE trust_domain = $1`, [r.trustDomain]);
    if (rows.length > 0) throw new AlreadyExistsError("federation relationship already exists");
    await tx.run(`INSERT INTO federation_relationships (trust_domain, data) VALUES ($1, $2)`, [r.trustDomain, toData(r)]);
    return toRelationship({ trust_domain: r.trustDomain, data: toData(r) });
  });
}

/** @throws {NotFoundError} "unable to fetch federation relationship: record not found" */
export async function updateFederationRelationship(db: SQLDriver, r: FederationRelationship): Promise<FederationRelationship> {
  const rows = await db.transaction((tx) =>
    tx.query<Row>(`UPDATE federation_relationships SET data = $2 WHERE trust_domain = $1 RETURNING trust_domain, data`, [r.trustDomain, toData(r)])
  );
  if (rows[0] === undefined) throw new NotFoundError("unable to fetch federation relationship: record not found");
  return toRelationship(rows[0]);
}

/** @throws {NotFoundError} "record not found" */
export async function deleteFederationRelationship(db: SQLDriver, trustDomain: string): Promise<void> {
  const rows = await db.transaction((tx) =>
    tx.query<Row>(`DELETE FROM federation_relationships WHERE trust_domain = $1 RETURNING trust_domain, data`, [trustDomain])
  );
  if (rows[0] === undefined) throw new NotFoundError("record not found");
}
