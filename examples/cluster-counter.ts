/**
 * Counters as virtual actors on effect/cluster: the same `Actor.make` definition in one process or on
 * runners spread over processes with PostgreSQL.
 *
 * One process, nothing else running (in-memory sharding):
 *
 *   npx node examples/cluster-counter.ts
 *
 * Two runners and a client on a PostgreSQL (a throwaway one, as the tests do: see README):
 *
 *   npx node test/cluster/postgres.ts            # prints postgres://postgres@127.0.0.1:PORT/fiberloop
 *   export DATABASE_URL=postgres://postgres@127.0.0.1:PORT/fiberloop
 *   npx node examples/cluster-runners.ts 2       # or, in two terminals: npx node examples/cluster-counter.ts runner
 *   npx node examples/cluster-counter.ts client  # which runner answered for each counter
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import { Actor, ActorCluster, ClusterLayer } from "../src/actor/index.ts"

const CounterProtocol = RpcGroup.make(
  Rpc.make("Increment", { payload: { by: Schema.Number }, success: Schema.Number }),
  Rpc.make("Where", { success: Schema.String })
)

// the definition a local `Actor.spawn` would take, unchanged
const Counter = Actor.make("Counter", {
  protocol: CounterProtocol,
  behaviour: Effect.fnUntraced(function*() {
    const count = yield* Ref.make(0)
    return CounterProtocol.of({
      Increment: ({ by }) => Ref.updateAndGet(count, (n) => n + by),
      Where: () => Effect.succeed(`pid ${process.pid}`)
    })
  })
})

const sharding: ClusterLayer.ShardingOptions = { shardLockExpiration: "10 seconds", entityMessagePollInterval: "1 second" }

const talk = Effect.gen(function*() {
  const counters = yield* ActorCluster.client(Counter, { timeout: "10 seconds" })
  for (const id of ["alice", "bob", "carol", "dave"]) {
    const n = yield* counters(id).ask("Increment", { by: 1 })
    yield* Effect.log(`${id}: ${n} (on ${yield* counters(id).ask("Where")})`)
  }
})

const Sql = Layer.unwrap(Effect.sync(() => {
  const url = process.env.DATABASE_URL
  if (url === undefined) throw new Error("set DATABASE_URL (see the header of this file)")
  return PgClient.layer({ url: Redacted.make(url) })
}))

const runner = Effect.gen(function*() {
  const config = yield* ShardingConfig.ShardingConfig
  const address = Option.getOrThrow(config.runnerAddress)
  yield* Effect.log(`runner pid ${process.pid} on ${address.host}:${address.port}`)
  return yield* Effect.never
}).pipe(
  Effect.provide(ActorCluster.layer(Counter).pipe(
    Layer.provideMerge(ClusterLayer.layerRunner({ port: Number(process.argv[3] ?? 0), sharding })),
    Layer.provide(Sql)
  ))
)

const client = talk.pipe(Effect.provide(ClusterLayer.layerClient({ sharding }).pipe(Layer.provide(Sql))))

const embedded = talk.pipe(
  Effect.andThen(talk),
  Effect.provide(ActorCluster.layer(Counter).pipe(Layer.provideMerge(ClusterLayer.layerEmbedded())))
)

const mode = process.argv[2] ?? "embedded"
const main: Effect.Effect<void, unknown> = mode === "runner" ? runner : mode === "client" ? client : embedded
NodeRuntime.runMain(main)
