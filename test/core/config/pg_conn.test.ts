/** PostgreSQL connection strings: libpq key=value lists and URLs, and the problems reported for bad ones. @module */
import { test } from "../../_uvu.ts";
import * as assert from "uvu/assert";
import { parsePGConnString, type PGConnParams } from "../../../src/core/config/pg_conn.ts";
import { ConfigError } from "../../../src/core/errors.ts";

const none = { hosts: [], ports: [], settings: {} };
const parses: [string, PGConnParams][] = [
  // SPIRE's documented example.
  [
    "dbname=postgres user=postgres host=/tmp port=5432 sslmode=disable",
    { hosts: ["/tmp"], ports: [5432], database: "postgres", user: "postgres", sslMode: "disable", settings: {} },
  ],
  [
    String.raw`user = bob  password='it\'s a \\ secret' dbname=my\ db`,
    { ...none, user: "bob", password: String.raw`it's a \ secret`, database: "my db" },
  ],
  ["host=a,b port=6000", { ...none, hosts: ["a", "b"], ports: [6000] }],
  ["host=a,b port=,5433", { ...none, hosts: ["a", "b"], ports: [5432, 5433] }],
  [
    "host=db sslmode=verify-ca sslrootcert=/ca.pem sslcert=/c.pem sslkey=/k.pem connect_timeout=5 " +
    "application_name=wisp target_session_attrs=read-write",
    {
      ...none,
      hosts: ["db"],
      sslMode: "verify-ca",
      sslRootCert: "/ca.pem",
      sslCert: "/c.pem",
      sslKey: "/k.pem",
      connectTimeoutSeconds: 5,
      applicationName: "wisp",
      targetSessionAttrs: "read-write",
    },
  ],
  [
    "options='-c search_path=s1 -cwork_mem=8MB --statement-timeout=5s'",
    { ...none, settings: { search_path: "s1", work_mem: "8MB", statement_timeout: "5s" } },
  ],
  [
    "postgresql://us%40er:p%3Ass@db.example:6543/spire?sslmode=verify-full&connect_timeout=3",
    { ...none, hosts: ["db.example"], ports: [6543], user: "us@er", password: "p:ss", database: "spire", sslMode: "verify-full", connectTimeoutSeconds: 3 },
  ],
  [
    "postgres://h1:5432,h2:5433/db?target_session_attrs=primary",
    { ...none, hosts: ["h1", "h2"], ports: [5432, 5433], database: "db", targetSessionAttrs: "primary" },
  ],
  ["postgres://[::1]:5433/db", { ...none, hosts: ["::1"], ports: [5433], database: "db" }],
  ["postgres://%2Fvar%2Frun%2Fpostgresql/db", { ...none, hosts: ["/var/run/postgresql"], database: "db" }],
  [
    "postgresql:///db?host=/tmp&port=5433&user=u",
    { ...none, hosts: ["/tmp"], ports: [5433], database: "db", user: "u" },
  ],
  ["POSTGRES://h/db?ssl=true", { ...none, hosts: ["h"], database: "db", sslMode: "require" }],
  ["postgres://", none],
  ["postgres://u@/d", { ...none, user: "u", database: "d" }],
];

test("libpq key=value lists and postgres:// URLs parse into settings", () => {
  for (const [input, want] of parses) assert.equal(parsePGConnString(input), want, input);
});

const refused: [string, string[]][] = [
  ["", ["connection string: must not be empty"]],
  ["mysql://u@h/db", ["connection string: unsupported URL scheme (use postgres:// or postgresql://)"]],
  ["host=/tmp dbname", [`connection string: missing "=" after "dbname"`]],
  ["password='abc", [`connection string: unterminated quoted value of "password"`]],
  ["host=a,b,c port=1,2", ["connection string: 2 ports do not match 3 hosts"]],
  ["host=a,,b", [`connection string: host list "a,,b" has an empty entry`]],
  ["options=-x", [`connection string: options: expected "-c name=value" or "--name=value", got "-x"`]],
  ["postgres://h/db?sslmode", [`connection string: URL parameter "sslmode" has no value`]],
  ["postgres://h/%zz", ["connection string: the database name has an invalid percent-encoding"]],
  [
    "port=0 sslmode=bogus connect_timeout=-1 target_session_attrs=x foo=1 bar=2 foo=3",
    [
      `connection string: unsupported parameter "foo" (supported: host, port, dbname, user, password, sslmode, ` +
      `sslrootcert, sslcert, sslkey, connect_timeout, application_name, target_session_attrs, options)`,
      `connection string: unsupported parameter "bar" (supported: host, port, dbname, user, password, sslmode, ` +
      `sslrootcert, sslcert, sslkey, connect_timeout, application_name, target_session_attrs, options)`,
      `connection string: port "0" is not a number from 1 to 65535`,
      `connection string: sslmode "bogus" is not one of disable, allow, prefer, require, verify-ca, verify-full`,
      `connection string: target_session_attrs "x" is not one of any, read-write, read-only, primary, standby, ` +
      `prefer-standby`,
      `connection string: connect_timeout "-1" is not a whole number of seconds`,
    ],
  ],
];

test("bad connection strings are one ConfigError listing every problem", () => {
  for (const [input, issues] of refused) {
    let err: unknown;
    try {
      parsePGConnString(input);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, input);
    assert.is(err.code, "ERR_CONFIG_INVALID");
    assert.equal(err.issues, issues, input);
  }
});

test("messages name the config key given and never repeat the password", () => {
  let err: unknown;
  try {
    parsePGConnString("postgres://u:hunter2@h:x/db", "ro_connection_string");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.is(err.message, `ro_connection_string: port "x" is not a number from 1 to 65535`);
  assert.not.match(err.message, "hunter2");
});

test.run();
