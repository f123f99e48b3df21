/**
 * Actors on a cluster of three runner processes on loopback with a real PostgreSQL (shard locks,
 * runner registry, persisted messages), through a client in this process. One cluster for the file; the
 * tests run in order (spread, SIGKILL failover, SIGTERM handover) and every call is bounded.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { existsSync } from "node:fs"
import * as Net from "node:net"
import * as ActorCluster from "../../src/actor/ActorCluster.ts"
import * as ClusterLayer from "../../src/actor/cluster/ClusterLayer.ts"
import { Counter, createLedger, Ledger } from "../cluster/fixtures/actors.ts"
import { lockExpirationMillis, lockRefreshMillis, sharding } from "../cluster/fixtures/sharding.ts"
import * as Postgres from "../cluster/postgres.ts"
import { type RunnerProcess, signal, spawnRunner } from "../cluster/support.ts"

class Env extends Context.Service<Env, {
  readonly pg: Postgres.Postgres
  readonly runners: ReadonlyArray<RunnerProcess>
}>()("test/cluster/Env") {}

const EnvLive = Layer.effect(Env)(Effect.gen(function*() {
  const pg = yield* Postgres.make({ database: "cluster" })
  const runners = yield* Effect.all(
    ["a", "b", "c"].map((name) => spawnRunner({ name, url: pg.url })),
    { concurrency: "unbounded" }
  )
  return { pg, runners }
}))

const TestLayer = Layer.unwrap(Effect.gen(function*() {
  const { pg } = yield* Env
  return ClusterLayer.layerClient({ sharding }).pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(pg.url), maxConnections: 4 }))
  )
})).pipe(Layer.provideMerge(EnvLive))

const ids = Array.from({ length: 30 }, (_, i) => `e${i}`)

/** Where each id lives now (each ask bounded). */
const placement = Effect.gen(function*() {
  const counters = yield* ActorCluster.client(Counter)
  const where = yield* Effect.all(
    ids.map((id) => counters(id).ask("Where", undefined, { timeout: "10 seconds" })),
    { concurrency: "unbounded" }
  )
  return new Map(ids.map((id, i) => [id, where[i]!]))
})

/** Repeats `check` every 100 ms until it returns true, at most `attempts` times. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, attempts: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < attempts; i++) {
      if (yield* check) return true
      yield* Effect.sleep(100)
    }
    return false
  })

const runner = (name: string) =>
  Effect.gen(function*() {
    const { runners } = yield* Env
    return runners.find((r) => r.name === name)!
  })

describe("ActorCluster on three runner processes and PostgreSQL", () => {
  layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect("entities spread over all three runners", () =>
      Effect.gen(function*() {
        let spread = new Set<string>()
        const settled = yield* eventually(
          Effect.map(placement, (where) => {
            spread = new Set(where.values())
            return spread.size === 3
          }),
          200
        )
        assert.isTrue(settled, `entities only on ${[...spread].join(", ")}`)
        const counters = yield* ActorCluster.client(Counter)
        assert.strictEqual(yield* counters("e1").ask("Increment", { by: 2 }, { timeout: "10 seconds" }), 2)
        assert.strictEqual(yield* counters("e1").ask("Increment", { by: 3 }, { timeout: "10 seconds" }), 5)
      }), 60_000)

    it.effect("a runner killed with SIGKILL: its shards move, calls resume, persisted messages are processed", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createLedger
        const victim = yield* runner("b")
        const where = yield* placement
        const onVictim = ids.filter((id) => where.get(id) === "b")
        assert.isAtLeast(onVictim.length, 1)

        // persisted messages, stored in PostgreSQL before tell returns; 200 ms of work each
        const ledger = yield* ActorCluster.client(Ledger)
        const keys: Array<string> = []
        for (const id of onVictim) {
          for (let i = 0; i < 4; i++) {
            keys.push(`${id}/${i}`)
            yield* ledger(id).tell("Record", { key: `${id}/${i}`, millis: 200 })
          }
        }
        // kill it mid-work: once it has processed some of them
        const processedSome = yield* eventually(
          Effect.map(sql<{ n: string }>`SELECT count(*) AS n FROM ledger`, (rows) => Number(rows[0]!.n) > 0),
          100
        )
        assert.isTrue(processedSome)
        yield* signal(victim, "SIGKILL")
        const killedAt = Date.now()
        assert.strictEqual((yield* Deferred.await(victim.exit).pipe(Effect.timeout("5 seconds"))).signal, "SIGKILL")

        // every call to its entities resumes on a survivor; none hangs (each bounded)
        const counters = yield* ActorCluster.client(Counter)
        const resumed = yield* Effect.all(
          onVictim.map((id) =>
            counters(id).ask("Where", undefined, { timeout: "30 seconds" }).pipe(
              Effect.map((name) => ({ name, after: Date.now() - killedAt }))
            )
          ),
          { concurrency: "unbounded" }
        )
        for (const { name } of resumed) assert.oneOf(name, ["a", "c"])
        const slowest = Math.max(...resumed.map((r) => r.after))
        // measured 3.3-4.2 s with a 6 s lock expiration (PostgreSQL drops a dead session's advisory locks; the
        // runner leaves the registry when its heartbeat is older than the expiration); 2 s of slack for the
        // retry and poll intervals on a loaded 2-core VM
        assert.isAtMost(slowest, lockExpirationMillis + 2_000, `moved after ${slowest} ms`)

        // every persisted message processed at least once
        let missing: Array<string> = keys
        const complete = yield* eventually(
          Effect.map(sql<{ key: string }>`SELECT DISTINCT key FROM ledger`, (rows) => {
            const seen = new Set(rows.map((r) => r.key))
            missing = keys.filter((k) => !seen.has(k))
            return missing.length === 0
          }),
          300
        )
        assert.isTrue(complete, `never processed: ${missing.join(", ")}`)
        // and some of them were left unprocessed by the killed runner: a survivor processed those
        const bySurvivors = yield* sql<{ n: string }>`SELECT count(*) AS n FROM ledger WHERE runner <> 'b'`
        assert.isAtLeast(Number(bySurvivors[0]!.n), 1)
      }), 90_000)

    it.effect("a runner stopped with SIGTERM hands its shards over before it exits", () =>
      Effect.gen(function*() {
        const leaving = yield* runner("c")
        const where = yield* placement
        const onLeaving = ids.filter((id) => where.get(id) === "c")
        assert.isAtLeast(onLeaving.length, 1)
        const counters = yield* ActorCluster.client(Counter)
        const inFlight = yield* Effect.forkChild(
          counters(onLeaving[0]!).ask("Slow", { millis: 500 }, { timeout: "30 seconds" })
        )
        yield* signal(leaving, "SIGTERM")
        const exit = yield* Deferred.await(leaving.exit).pipe(Effect.timeout("20 seconds"))
        const exitAt = Date.now()
        assert.strictEqual(exit.code, 130, leaving.output())
        // its shards were released, not left to expire: they answer from the survivor sooner than a lock
        // refreshed just before the exit could expire
        const moved = yield* Effect.all(
          onLeaving.map((id) => counters(id).ask("Where", undefined, { timeout: "30 seconds" })),
          { concurrency: "unbounded" }
        )
        const after = Date.now() - exitAt
        for (const name of moved) assert.strictEqual(name, "a")
        // measured 0.2-0.4 s after the exit on a loaded 2-core VM
        assert.isBelow(after, lockExpirationMillis - lockRefreshMillis, `moved ${after} ms after the exit`)
        // the call in flight when it left was answered (by it, or by the new owner)
        assert.oneOf(yield* Fiber.join(inFlight), ["a", "c"])
      }), 90_000)

    it.effect("with no runner left, volatile calls fail typed in time; persisted tells wait in storage for the next runner", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { pg } = yield* Env
        yield* signal(yield* runner("a"), "SIGKILL")
        yield* Deferred.await((yield* runner("a")).exit).pipe(Effect.timeout("5 seconds"))
        const counters = yield* ActorCluster.client(Counter, { timeout: "2 seconds" })
        const asked = yield* Effect.flip(counters("e1").ask("Get")).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(asked._tag === "ActorError" && asked.reason, "AskTimeout")
        const told = yield* Effect.flip(counters("e1").tell("Increment", { by: 1 })).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(told.reason, "ActorStopped")
        const ledger = yield* ActorCluster.client(Ledger, { timeout: "2 seconds" })
        yield* ledger("e1").tell("Record", { key: "while-down", millis: 0 })

        // a new runner (its port served by NodeSocketServer, the other transport) takes every shard: the
        // stored message is processed, the actor respawns fresh
        yield* spawnRunner({ name: "d", url: pg.url, transport: "node" })
        const later = yield* ActorCluster.client(Counter, { timeout: "30 seconds" })
        assert.strictEqual(yield* later("e1").ask("Where"), "d")
        assert.strictEqual(yield* later("e1").ask("Get"), 0)
        const stored = yield* eventually(
          Effect.map(sql<{ runner: string }>`SELECT runner FROM ledger WHERE key = 'while-down'`, (rows) =>
            rows.length > 0 && rows.every((r) => r.runner === "d")),
          300
        )
        assert.isTrue(stored)
      }), 90_000)
  })
})

describe("the throwaway PostgreSQL server", () => {
  it.live("is stopped and its directory removed when its scope closes", () =>
    Effect.gen(function*() {
      const pg = yield* Effect.scoped(Effect.gen(function*() {
        const pg = yield* Postgres.make()
        const rows = yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ one: number }>`SELECT 1 AS one`
        }).pipe(Effect.provide(Postgres.layerClient(pg)))
        assert.strictEqual(rows[0]!.one, 1)
        assert.isTrue(existsSync(pg.dir))
        return pg
      }))
      assert.isFalse(existsSync(pg.dir))
      const refused = yield* Effect.callback<boolean>((resume) => {
        const socket = Net.connect({ host: pg.host, port: pg.port })
        socket.once("connect", () => {
          socket.destroy()
          resume(Effect.succeed(false))
        })
        socket.once("error", () => resume(Effect.succeed(true)))
      }).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(refused)
    }), 60_000)
})

describe("the suite's fixtures", () => {
  // three runners start at once and each creates the ledger table: PostgreSQL's concurrent
  // CREATE TABLE IF NOT EXISTS can fail with a unique violation, and a runner that fails to start
  // failed the whole suite in CI
  it.live("createLedger run by three clients at once on a fresh table succeeds every time", () =>
    Effect.gen(function*() {
      const pg = yield* Postgres.make({ database: "fixtures" })
      const clients = yield* Effect.all([0, 1, 2].map(() => Layer.build(Postgres.layerClient(pg))))
      for (let round = 0; round < 20; round++) {
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`DROP TABLE IF EXISTS ledger`
        }).pipe(Effect.provideContext(clients[0]!))
        yield* Effect.all(clients.map((context) => Effect.provideContext(createLedger, context)), {
          concurrency: "unbounded"
        }).pipe(Effect.timeout("10 seconds"))
      }
    }).pipe(Effect.scoped), 60_000)
})
