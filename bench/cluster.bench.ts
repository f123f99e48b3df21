/**
 * Ask round trips on effect/cluster against a local actor, A/B interleaved: the same `Counter` definition
 * (test/cluster/fixtures/actors.ts) spawned locally (`Actor.spawn`), on the embedded in-process cluster
 * (`ClusterLayer.layerEmbedded`), and on two runner processes with PostgreSQL (a throwaway server, as the
 * cluster tests start it) asked from a client in this process; and the runner port served by fiberloop's
 * `SocketServer` view against `NodeSocketServer`.
 *
 * For one entity (sequential asks) and for 1,000 entities (1,000 asks in flight, one per entity): asks/s,
 * and the median and p99 latency of an ask.
 *
 * Run with `npm run bench -- cluster` (BENCH_ROUNDS, BENCH_MILLIS override the rounds and the duration).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as Actor from "../src/actor/Actor.ts"
import * as ActorCluster from "../src/actor/ActorCluster.ts"
import * as ActorSystem from "../src/actor/ActorSystem.ts"
import * as ClusterLayer from "../src/actor/cluster/ClusterLayer.ts"
import { Counter } from "../test/cluster/fixtures/actors.ts"
import { sharding } from "../test/cluster/fixtures/sharding.ts"
import * as Postgres from "../test/cluster/postgres.ts"
import { spawnRunner } from "../test/cluster/support.ts"
import { type Case, compare, type Sample } from "./harness.ts"

const MILLIS = Number(process.env.BENCH_MILLIS ?? 1_000)
const ENTITIES = 1_000

/** Asks entity `i` to increment; one variant of the system under test. */
interface Target {
  readonly ask: (i: number) => Promise<unknown>
}

const percentile = (sorted: Array<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const sample = (count: number, elapsed: number, latencies: Array<number>): Sample => {
  latencies.sort((a, b) => a - b)
  return {
    value: (count * 1000) / elapsed,
    side: { p50: percentile(latencies, 0.5) * 1000, p99: percentile(latencies, 0.99) * 1000 }
  }
}

/** Sequential asks to one entity for MILLIS. */
const oneEntity = (target: Target) => async (): Promise<Sample> => {
  const latencies: Array<number> = []
  const start = performance.now()
  while (performance.now() - start < MILLIS) {
    const t = performance.now()
    await target.ask(0)
    latencies.push(performance.now() - t)
  }
  return sample(latencies.length, performance.now() - start, latencies)
}

/** Rounds of ENTITIES concurrent asks, one per entity, for MILLIS. */
const manyEntities = (target: Target) => async (): Promise<Sample> => {
  const latencies: Array<number> = []
  const start = performance.now()
  while (performance.now() - start < MILLIS) {
    await Promise.all(Array.from({ length: ENTITIES }, (_, i) => {
      const t = performance.now()
      return target.ask(i).then(() => latencies.push(performance.now() - t))
    }))
  }
  return sample(latencies.length, performance.now() - start, latencies)
}

const local = async (): Promise<{ target: Target; close: () => Promise<void> }> => {
  const runtime = ManagedRuntime.make(ActorSystem.layer)
  const scope = Scope.makeUnsafe()
  const refs = await runtime.runPromise(
    Effect.all(Array.from({ length: ENTITIES }, () => Actor.spawn(Counter)), { concurrency: "unbounded" }).pipe(
      Scope.provide(scope)
    )
  )
  return {
    target: { ask: (i) => runtime.runPromise(refs[i]!.ask("Increment", { by: 1 })) },
    close: async () => {
      await runtime.runPromise(Scope.close(scope, Exit.void))
      await runtime.dispose()
    }
  }
}

const clustered = async <E>(layer: Layer.Layer<ClusterLayer.Services, E>) => {
  const runtime = ManagedRuntime.make(layer)
  const counters = await runtime.runPromise(ActorCluster.client(Counter))
  const refs = Array.from({ length: ENTITIES }, (_, i) => counters(`e${i}`))
  return {
    target: { ask: (i: number) => runtime.runPromise(refs[i]!.ask("Increment", { by: 1 })) } satisfies Target,
    close: () => runtime.dispose()
  }
}

const embedded = () => clustered(ActorCluster.layer(Counter).pipe(Layer.provideMerge(ClusterLayer.layerEmbedded())))

/** A database on the throwaway server and two runner processes on it, for as long as `scope` is open. */
const runners = (scope: Scope.Scope, pg: Postgres.Postgres, transport: "fiberloop" | "node") =>
  Effect.gen(function*() {
    const database = `bench_${transport}`
    yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`CREATE DATABASE ${database}`)
    }).pipe(Effect.provide(Postgres.layerClient(pg)), Effect.orDie)
    const url = pg.url.replace(/\/[^/]+$/, `/${database}`)
    yield* Effect.all(
      [1, 2].map((n) => spawnRunner({ name: `${transport}-${n}`, url, transport })),
      { concurrency: "unbounded" }
    )
    return ClusterLayer.layerClient({ sharding }).pipe(
      Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }))
    )
  }).pipe(Scope.provide(scope))

const main = async () => {
  const scope = Scope.makeUnsafe()
  try {
    const pg = await Effect.runPromise(Postgres.make({ database: "bench" }).pipe(Scope.provide(scope)))
    const [viaFiberloop, viaNode] = await Effect.runPromise(
      Effect.all([runners(scope, pg, "fiberloop"), runners(scope, pg, "node")], { concurrency: "unbounded" })
    )
    const targets = {
      local: await local(),
      embedded: await embedded(),
      fiberloop: await clustered(viaFiberloop),
      node: await clustered(viaNode)
    }
    const side = [
      { key: "p50", name: "  median latency", unit: "µs", higherIsBetter: false, target: Infinity },
      { key: "p99", name: "  p99 latency", unit: "µs", higherIsBetter: false, target: Infinity }
    ]
    const pair = (name: string, a: Target, b: Target): Array<Case> => [
      { name: `${name}: 1 entity, asks/s`, unit: "/s", higherIsBetter: true, target: 0, subject: oneEntity(a), baseline: oneEntity(b), side },
      { name: `${name}: ${ENTITIES} entities, asks/s`, unit: "/s", higherIsBetter: true, target: 0, subject: manyEntities(a), baseline: manyEntities(b), side }
    ]
    await compare("cluster (in process)", "local actor", pair("embedded cluster", targets.embedded.target, targets.local.target))
    await compare("cluster (2 runner processes, PostgreSQL)", "local actor", pair("2 runners", targets.fiberloop.target, targets.local.target))
    await compare("runner transport", "NodeSocketServer", [
      ...pair("fiberloop SocketServer", targets.fiberloop.target, targets.node.target).map((c) => ({ ...c, target: 0.9 }))
    ])
    for (const t of Object.values(targets)) await t.close()
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

await main()
