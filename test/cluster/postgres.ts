/**
 * A throwaway PostgreSQL server for the cluster suite, from Debian's `postgresql` package.
 *
 * `make` runs `initdb` into a fresh temp dir, starts the server with `pg_ctl` on a free loopback port (its
 * Unix socket dir inside the temp dir, no system service), creates the database, and on scope close
 * stops it (`pg_ctl stop -m immediate`) and removes the dir. A process exit hook does the same if the
 * scope never closes (a crashed or interrupted run). PostgreSQL refuses to run as root, so as root every
 * command runs as the `postgres` user (`runuser -u postgres --`) and the temp dir is owned by it.
 *
 * Run it as a script to get a server for the examples (README): `npx node test/cluster/postgres.ts`
 * prints the database URL and keeps the server until Ctrl-C.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFile, execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Why the throwaway server could not be started. */
export class PostgresError extends Data.TaggedError("PostgresError")<{
  readonly step: string
  readonly cause?: unknown
}> {
  override get message() {
    return `PostgreSQL ${this.step} failed: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** A running throwaway server. */
export interface Postgres {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly username: string
  /** `postgres://postgres@127.0.0.1:PORT/DATABASE` (trust authentication on loopback). */
  readonly url: string
  readonly dir: string
}

/** The newest `/usr/lib/postgresql/<version>/bin` that has `pg_ctl`. */
export const binDir = (): string => {
  const root = "/usr/lib/postgresql"
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "pg_ctl"))).sort((a, b) => Number(b) - Number(a))
    : []
  if (versions.length === 0) {
    throw new Error("PostgreSQL is not installed: run .ci/run, or apt-get install -y postgresql")
  }
  return join(root, versions[0]!, "bin")
}

const isRoot = () => process.getuid?.() === 0

/** argv for a PostgreSQL binary, as the `postgres` user when we are root. */
const command = (bin: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  isRoot() ? ["runuser", ["-u", "postgres", "--", join(binDir(), bin), ...args]] : [join(binDir(), bin), [...args]]

const run = (step: string, bin: string, args: ReadonlyArray<string>) =>
  Effect.callback<string, PostgresError>((resume) => {
    const [file, argv] = command(bin, args)
    const child = execFile(file, argv, { cwd: "/", timeout: 60_000 }, (error, stdout, stderr) =>
      resume(error ? Effect.fail(new PostgresError({ step, cause: new Error(`${error.message}\n${stderr}`) })) : Effect.succeed(stdout)))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const freePort = Effect.callback<number, PostgresError>((resume) => {
  const server = Net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new PostgresError({ step: "port", cause }))))
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Stops the server (immediate mode) and removes its dir; synchronous so an exit hook can use it. */
const destroySync = (dir: string) => {
  try {
    const [file, argv] = command("pg_ctl", ["stop", "-D", join(dir, "data"), "-m", "immediate", "-w", "-t", "10"])
    execFileSync(file, argv, { cwd: "/", stdio: "ignore", timeout: 15_000 })
  } catch {
    // not running (start failed, or already stopped)
  }
  rmSync(dir, { recursive: true, force: true })
}

/**
 * Starts a throwaway server for the scope.
 *
 * @example
 * const pg = yield* Postgres.make({ database: "cluster" })
 * // pg.url => "postgres://postgres@127.0.0.1:41234/cluster"
 */
export const make = (options?: {
  readonly database?: string | undefined
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string>> | undefined
}) =>
  Effect.gen(function*() {
    const database = options?.database ?? "fiberloop"
    const dir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const dir = mkdtempSync(join(tmpdir(), "fiberloop-pg-"))
          if (isRoot()) {
            const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim())
            const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim())
            chownSync(dir, uid, gid)
          }
          return dir
        },
        catch: (cause) => new PostgresError({ step: "temp dir", cause })
      }).pipe(Effect.map((dir) => {
        const hook = () => destroySync(dir)
        process.once("exit", hook)
        return { dir, hook }
      })),
      ({ dir, hook }) =>
        Effect.sync(() => {
          process.off("exit", hook)
          destroySync(dir)
        })
    ).pipe(Effect.map(({ dir }) => dir))
    const data = join(dir, "data")
    yield* run("initdb", "initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
    const port = yield* freePort
    const settings: Record<string, string> = {
      listen_addresses: "127.0.0.1",
      port: String(port),
      unix_socket_directories: dir,
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      max_connections: "200",
      ...options?.settings
    }
    const serverOptions = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(" ")
    yield* run("pg_ctl start", "pg_ctl", ["start", "-D", data, "-w", "-t", "30", "-l", join(dir, "log"), "-o", serverOptions]).pipe(
      Effect.mapError((error) => {
        const log = existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8") : ""
        return new PostgresError({ step: error.step, cause: new Error(`${String(error.cause)}\n${log}`) })
      })
    )
    yield* run("createdb", "createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", database])
    const pg: Postgres = {
      host: "127.0.0.1",
      port,
      database,
      username: "postgres",
      url: `postgres://postgres@127.0.0.1:${port}/${database}`,
      dir
    }
    return pg
  })

/** A `PgClient`/`SqlClient` layer for a running throwaway server. */
export const layerClient = (pg: Postgres, options?: { readonly maxConnections?: number | undefined }) =>
  PgClient.layer({
    url: Redacted.make(pg.url),
    maxConnections: options?.maxConnections ?? 10
  })

const main = Effect.gen(function*() {
  const pg = yield* make({ database: process.argv[2] ?? "fiberloop" })
  process.stdout.write(`${pg.url}\n`)
  yield* Effect.never
})

if (import.meta.main) {
  const NodeRuntime = await import("@effect/platform-node/NodeRuntime")
  NodeRuntime.runMain(Effect.scoped(main))
}
