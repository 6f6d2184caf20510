/** SPIRE's `server { federation { … } }` block: every key read, the shapes SPIRE accepts, its errors listed at once. */
import { test } from "../_uvu.ts";
import * as assert from "uvu/assert";
import { loadServerConfig } from "../../src/server/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

const load = (fed: string) => loadServerConfig({ text: `server { trust_domain = "one.example"\n federation { ${fed} } }`, filename: "server.conf" });

function issues(fed: string): readonly string[] {
  try {
    load(fed);
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error("expected a ConfigError");
}

test("bundle_endpoint with https_web serving_cert_file, and two federates_with relationships", () => {
  const c = load(`
    bundle_endpoint {
      address = "0.0.0.0"
      port = 8443
      refresh_hint = "10m"
      profile "https_web" {
        serving_cert_file {
          cert_file_path = "/etc/wisp/web.pem"
          key_file_path = "/etc/wisp/web.key"
          file_sync_interval = "5m"
        }
      }
    }
    federates_with "spiffe://two.example" {
      bundle_endpoint_url = "https://two.example:8443"
      bundle_endpoint_profile "https_spiffe" { endpoint_spiffe_id = "spiffe://two.example/spire/server" }
    }
    federates_with "three.example" {
      bundle_endpoint_url = "HTTPS://three.example/bundle"
      bundle_endpoint_profile "https_web" {}
    }`);
  assert.equal(c.federation, {
    bundleEndpoint: {
      address: "0.0.0.0",
      port: 8443,
      refreshHint: 600_000,
      profile: { type: "https_web", certFilePath: "/etc/wisp/web.pem", keyFilePath: "/etc/wisp/web.key", fileSyncInterval: 300_000 },
    },
    federatesWith: [
      {
        trustDomain: "two.example",
        bundleEndpointURL: "https://two.example:8443",
        profile: { type: "https_spiffe", endpointSPIFFEID: "spiffe://two.example/spire/server" },
      },
      { trustDomain: "three.example", bundleEndpointURL: "HTTPS://three.example/bundle", profile: { type: "https_web" } },
    ],
  });
});

test("defaults: port 443, address 0.0.0.0, refresh hint 5m, no profile means https_spiffe; no block means no endpoint", () => {
  assert.equal(load(`bundle_endpoint {}`).federation, {
    bundleEndpoint: { address: "0.0.0.0", port: 443, refreshHint: 300_000, profile: { type: "https_spiffe" } },
    federatesWith: [],
  });
  assert.equal(loadServerConfig({ text: `server { trust_domain = "one.example" }`, filename: "s.conf" }).federation, { federatesWith: [] });
});

test("ACME is refused by name; bad profiles, URLs, IDs and trust domains are all reported at once", () => {
  assert.equal(issues(`bundle_endpoint { profile "https_web" { acme { domain_name = "x.example" email = "a@x.example" } } }`), [
    'server.federation.bundle_endpoint.profile "https_web".acme is not supported by wisp: it cannot obtain certificates from an ACME CA; use serving_cert_file with a certificate from your CA',
  ]);
  assert.equal(
    issues(`
    bundle_endpoint { profile "https_web" {} }
    federates_with "two.example" { bundle_endpoint_url = "http://two.example" bundle_endpoint_profile "https_web" {} }
    federates_with "Bad TD" { bundle_endpoint_url = "https://x" bundle_endpoint_profile "https_web" {} }
    federates_with "four.example" { bundle_endpoint_url = "https://four.example" }
    federates_with "five.example" { bundle_endpoint_url = "https://five.example" bundle_endpoint_profile "https_spiffe" { endpoint_spiffe_id = "not-an-id" } }`),
    [
      `server.federation.bundle_endpoint.profile "https_web": malformed https_web profile configuration: 'acme' or 'serving_cert_file' is required`,
      `server.federation.federates_with "two.example".bundle_endpoint_url: must use the HTTPS protocol, got "http://two.example"`,
      `server.federation.federates_with "Bad TD": invalid trust domain: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`,
      `server.federation.federates_with "four.example": missing bundle endpoint configuration`,
      `server.federation.federates_with "five.example".bundle_endpoint_profile "https_spiffe".endpoint_spiffe_id: could not parse endpoint SPIFFE ID "not-an-id": scheme is missing or invalid`,
    ],
  );
  assert.equal(issues(`bundle_endpoint { profile "https_web" { serving_cert_file { cert_file_path = "/c" key_file_path = "/k" } } typo = 1 }`), [
    `unknown configuration key "server.federation.bundle_endpoint.typo"`,
  ]);
});

test.run();
