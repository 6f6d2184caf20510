import postgres from "postgres";
import { execFileSync } from "node:child_process";
const B = "/usr/lib/postgresql/15/bin";
const pgctl = (...a) => execFileSync("runuser", ["-u", "postgres", "--", `${B}/pg_ctl`, "-D", "/tmp/pgscratch/pg/data", "-l", "/tmp/pgscratch/pg/log", "-w", ...a], { stdio: "ignore" });
const sql = postgres({ host: "/tmp/pgscratch/pg", port: 5432, user: "wisp", database: "postgres", onnotice: () => {}, max: 3, connect_timeout: 5 });
console.log(await sql.unsafe("select 1 as a; select 2 as b"));
console.log(await sql.unsafe("select $1::int + 1 as x, 5::bigint as big, 4::int as i", [1]));
pgctl("-m", "fast", "stop");
for (let i = 0; i < 3; i++) {
  const t = Date.now();
  try { await sql.unsafe("select 1"); console.log("ok?"); } catch (e) { console.log(i, Date.now() - t, e.constructor.name, e.code, e.errno, e.message, e.severity); }
}
try { await sql.begin(async (tx) => { await tx.unsafe("select 1"); }); } catch (e) { console.log("tx", e.code, e.message); }
pgctl("-o", "-c listen_addresses='' -c unix_socket_directories=/tmp/pgscratch/pg", "start");
const t = Date.now();
try { console.log(await sql.unsafe("select 1 as back"), Date.now() - t); } catch (e) { console.log("after", e.code, e.message); }
try { console.log(await sql.unsafe("select 1 as back"), Date.now() - t); } catch (e) { console.log("after2", e.code, e.message); }
// kill connection during query
const other = postgres({ host: "/tmp/pgscratch/pg", port: 5432, user: "wisp", database: "postgres", onnotice: () => {} });
const p = sql.unsafe("select pg_sleep(2)").catch((e) => console.log("term", e.code, e.message, e.severity));
await new Promise((r) => setTimeout(r, 300));
await other.unsafe("select pg_terminate_backend(pid) from pg_stat_activity where query like 'select pg_sleep%' and pid <> pg_backend_pid()");
await p;
try { await sql.unsafe("create table t(x int primary key); insert into t values (1)"); await sql.unsafe("insert into t values ($1)", [1]); } catch (e) { console.log("dup", e.constructor.name, e.code, e.message, e.constraint_name); }
await sql.unsafe("drop table t");
await sql.end(); await other.end();
try { await sql.unsafe("select 1"); } catch (e) { console.log("ended", e.code, e.message); }
