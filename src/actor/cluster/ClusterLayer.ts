/**
 * Where actors run when they run on effect/cluster: one process, a runner of several, or a client.
 *
 * Every layer here provides effect/cluster's `Sharding` (plus `Runners` and `MessageStorage`), built from
 * effect/cluster's own parts, nothing home-made:
 * - `layerEmbedded`: the whole cluster in this process (in-memory sharding, runner registry and message
 *   storage). No database, no socket: the default for demos and unit tests.
 * - `layerRunner`: one runner of a cluster spread over processes. Runners talk over sockets (effect/rpc's
 *   socket protocol) and keep shard locks, the runner registry and persisted messages in PostgreSQL
 *   through effect/cluster's `SqlRunnerStorage` / `SqlMessageStorage`. The runner port is served by
 *   fiberloop's `SocketServer` view (limits and drain apply) or by `NodeSocketServer`.
 * - `layerClient`: a process that only sends (no shards), against the same database.
 *
 * The runner and client layers need a `SqlClient`: provide `PgClient.layer({ url })` from `@effect/sql-pg`
 * (a dependency of the application, not of fiberloop), as effect/cluster's own layers do.
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import * as NodeDns from "@effect/platform-node/NodeDns"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as MessageStorage from "effect/cluster/MessageStorage"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import * as RunnerHealth from "effect/cluster/RunnerHealth"
import * as Runners from "effect/cluster/Runners"
import * as RunnerStorage from "effect/cluster/RunnerStorage"
import * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as SocketRunner from "effect/cluster/SocketRunner"
import * as SqlMessageStorage from "effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "effect/cluster/SqlRunnerStorage"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RpcClient from "effect/rpc/RpcClient"
import * as RpcSerialization from "effect/rpc/RpcSerialization"
import * as Socket from "effect/socket/Socket"
import * as EffectSocketServer from "effect/socket/SocketServer"
import type * as SqlClient from "effect/sql/SqlClient"
import * as SocketServer from "../../net/SocketServer.ts"
import * as Tcp from "../../net/Tcp.ts"

/**
 * Sharding settings: effect/cluster's `ShardingConfig` fields (lock expiration, poll intervals, shards per
 * group, ...). Runner addresses are set by the layers, not here.
 *
 * @example
 * const sharding: ClusterLayer.ShardingOptions = { shardsPerGroup: 300, shardLockExpiration: "10 seconds" }
 *
 * @category models
 * @since 0.1.0
 */
export type ShardingOptions = Partial<
  Omit<ShardingConfig.ShardingConfig["Service"], "runnerAddress" | "runnerListenAddress">
>

/**
 * The services every cluster layer provides.
 *
 * @example
 * const sharding = yield* Sharding.Sharding // provided by every ClusterLayer layer
 *
 * @category models
 * @since 0.1.0
 */
export type Services = Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage

/**
 * The whole cluster in this process: in-memory sharding, runner registry and message storage.
 *
 * Messages are still encoded and decoded on every send (`simulateRemoteSerialization`, on by default),
 * so a message that would not cross a process boundary fails here too. Persisted messages are kept in
 * memory: they survive an entity's passivation, not the process.
 *
 * @example
 * const program = Effect.gen(function*() {
 *   const counter = yield* ActorCluster.client(Counter)
 *   yield* counter("a").ask(Counter.Increment, { by: 2 }) // => 2
 * })
 * program.pipe(Effect.provide(ActorCluster.layer(Counter).pipe(Layer.provideMerge(ClusterLayer.layerEmbedded()))))
 *
 * @category layers
 * @since 0.1.0
 */
export const layerEmbedded = (options?: {
  readonly sharding?: ShardingOptions | undefined
}): Layer.Layer<Services> =>
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer({ ...options?.sharding, runnerListenAddress: Option.none() }))
  )

/**
 * Options of `layerRunner`.
 *
 * @example
 * const options: ClusterLayer.RunnerOptions = { port: 0, transport: "fiberloop", server: { maxConnections: 1024 } }
 *
 * @category models
 * @since 0.1.0
 */
export interface RunnerOptions {
  /** Address to listen on. Default `"127.0.0.1"`. */
  readonly host?: string | undefined
  /** Port to listen on; `0` picks a free one (the bound port is what other runners are told). */
  readonly port: number
  /** Host other runners dial to reach this one. Default: `host`. */
  readonly advertisedHost?: string | undefined
  /**
   * Who serves the runner port: `"fiberloop"` (default) is fiberloop's `SocketServer` view of `Tcp.serve`
   * (maxConnections, timeouts and drain apply); `"node"` is `NodeSocketServer` from @effect/platform-node.
   */
  readonly transport?: "fiberloop" | "node" | undefined
  /** Options for the fiberloop transport (maxConnections, idleTimeout, drainTimeout, ...). */
  readonly server?: Omit<SocketServer.Options, "host" | "port"> | undefined
  /** Wire format between runners. Default `"binary"` (effect/rpc's schema binary). */
  readonly serialization?: "binary" | "ndjson" | undefined
  readonly sharding?: ShardingOptions | undefined
}

/**
 * How runners and clients dial a runner: effect/rpc's socket protocol over a `NodeSocket`, as
 * NodeClusterSocket's `layerClientProtocol`, plus `noDelay` (without it, Nagle's algorithm holds small
 * requests back while an earlier one is unacknowledged).
 */
const layerClientProtocol: Layer.Layer<Runners.RpcClientProtocol, never, RpcSerialization.RpcSerialization> = Layer
  .effect(Runners.RpcClientProtocol)(Effect.gen(function*() {
    const serialization = yield* RpcSerialization.RpcSerialization
    return {
      codecFor: serialization.codecFor,
      make: Effect.fnUntraced(function*(address) {
        const socket = yield* NodeSocket.makeNet({
          openTimeout: 1000,
          timeout: 5500,
          host: address.host,
          port: address.port,
          noDelay: true
        })
        return yield* RpcClient.makeProtocolSocket().pipe(
          Effect.provideService(Socket.Socket, socket),
          Effect.provideService(RpcSerialization.RpcSerialization, serialization)
        )
      }, Effect.orDie)
    }
  }))

const layerSerialization = (serialization: "binary" | "ndjson" | undefined) =>
  serialization === "ndjson" ? RpcSerialization.layerNdjson : RpcSerialization.layerSchemaBinary()

const layerSocketServer = (options: RunnerOptions): Layer.Layer<
  EffectSocketServer.SocketServer,
  EffectSocketServer.SocketServerError
> => {
  const host = options.host ?? "127.0.0.1"
  return options.transport === "node"
    ? NodeSocketServer.layer({ host, port: options.port })
    : SocketServer.layer({ ...options.server, host, port: options.port }).pipe(
      Layer.provide(Tcp.layer),
      Layer.provide(NodeDns.layer)
    )
}

/** The sharding config, advertising the port the socket server actually bound. */
const layerRunnerConfig = (options: RunnerOptions) =>
  Layer.effect(ShardingConfig.ShardingConfig)(Effect.gen(function*() {
    const server = yield* EffectSocketServer.SocketServer
    const port = server.address._tag === "UnixPathAddress" ? options.port : server.address.port
    const address = RunnerAddress.RunnerAddress.make({ host: options.advertisedHost ?? options.host ?? "127.0.0.1", port })
    return {
      ...ShardingConfig.defaults,
      ...options.sharding,
      runnerAddress: Option.some(address),
      runnerListenAddress: Option.none()
    }
  }))

/**
 * One runner of a cluster spread over processes, with PostgreSQL for shard locks and persisted messages.
 *
 * Runners find each other in the database (each registers the address it advertises), split the shards
 * between them, and hold each shard with a lock in PostgreSQL; when a runner dies its locks expire after
 * `sharding.shardLockExpiration` and the survivors take its shards. A runner whose scope closes (SIGTERM
 * under `NodeRuntime.runMain`) stops its entities and releases its locks first, so its shards move at once.
 * The layer also provides the `ShardingConfig` it runs with: its `runnerAddress` has the bound port.
 *
 * @example
 * const runner = ActorCluster.layer(Counter).pipe(
 *   Layer.provide(ClusterLayer.layerRunner({ port: 0 })),
 *   Layer.provide(PgClient.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/app") }))
 * )
 * NodeRuntime.runMain(Layer.launch(runner))
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRunner = (options: RunnerOptions): Layer.Layer<
  Services | ShardingConfig.ShardingConfig,
  EffectSocketServer.SocketServerError,
  SqlClient.SqlClient
> => {
  const serialization = layerSerialization(options.serialization)
  const socketServer = layerSocketServer(options)
  const config = layerRunnerConfig(options).pipe(Layer.provideMerge(socketServer))
  const clientProtocol = layerClientProtocol.pipe(Layer.provide(serialization))
  const health = RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(clientProtocol))
  return SocketRunner.layer.pipe(
    Layer.provide([clientProtocol, health, serialization]),
    Layer.provideMerge(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provide(Layer.orDie(SqlRunnerStorage.layer)),
    Layer.provideMerge(config)
  )
}

/**
 * A process that only sends to a cluster's entities: it hosts no shards and opens no port.
 *
 * @example
 * const program = Effect.gen(function*() {
 *   const counter = yield* ActorCluster.client(Counter)
 *   yield* counter("a").tell(Counter.Increment, { by: 1 })
 * })
 * program.pipe(
 *   Effect.provide(ClusterLayer.layerClient()),
 *   Effect.provide(PgClient.layer({ url: Redacted.make(process.env.DATABASE_URL!) }))
 * )
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (options?: {
  readonly serialization?: "binary" | "ndjson" | undefined
  readonly sharding?: ShardingOptions | undefined
}): Layer.Layer<Services, never, SqlClient.SqlClient> => {
  const serialization = layerSerialization(options?.serialization)
  return SocketRunner.layerClientOnly.pipe(
    Layer.provide(layerClientProtocol.pipe(Layer.provide(serialization))),
    Layer.provideMerge(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provide(Layer.orDie(SqlRunnerStorage.layer)),
    Layer.provide(ShardingConfig.layer({
      ...options?.sharding,
      runnerAddress: Option.none(),
      runnerListenAddress: Option.none()
    }))
  )
}
