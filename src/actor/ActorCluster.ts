/**
 * The same actor definitions on effect/cluster: virtual actors addressed by id, in one process or many.
 *
 * `layer(actor)` registers a local actor definition (`Actor.make`) as an effect/cluster `Entity` whose
 * type is the actor's name and whose protocol is the actor's `RpcGroup`; the behaviour and handlers run
 * unchanged. `client(actor)` gives, for an entity id, an `ActorRef` with the same `tell` / `ask` as a
 * local ref. The entity is virtual: it is built (the behaviour runs) when a message first reaches it,
 * passivated after `maxIdleTime` without messages (its scope closes: timers, children, state go), and
 * built again on the next message, on whichever runner owns its shard then.
 *
 * Where it runs is a layer of `ClusterLayer`: `layerEmbedded()` (one process, in memory, the default for
 * demos and tests), `layerRunner(...)` (runners over sockets with shard locks and persisted messages in
 * PostgreSQL) or `layerClient(...)` (a process that only sends).
 *
 * **What changes from local actors**
 *
 * - Every payload, reply and error is encoded (they are Schemas already); in one process too.
 * - State lives in the entity and is lost on passivation or when its shard moves; keep what must survive
 *   in a database.
 * - A message annotated `ClusterSchema.Persisted` is stored before it is delivered and delivered at least
 *   once, across a runner crash (handlers must be idempotent); other messages are volatile: they are
 *   re-sent to the new owner if their runner goes away, and never hang: every call is bounded by the
 *   client's `timeout` (default 30 seconds) and fails with a typed `ActorError` after it.
 * - Supervision trees are local: a defect in a handler fails that ask with `ActorError` `Crashed` and
 *   restarts the actor (its behaviour runs again, fresh state), like the local `"restart"` strategy.
 * - `ctx.stop` deactivates the actor: its state, timers and children go now, and the next message to the
 *   same id builds it again.
 *
 * Cluster errors are mapped to `ActorError`: `MailboxFull` (the entity's mailbox, or the runner's
 * `maxResidentEntities`, is full) -> `MailboxFull`; `EntityNotAssignedToRunner` (the cluster is shutting
 * down or has no runner for the shard), `PersistenceError` (the message could not be stored) and
 * `AlreadyProcessingMessage` -> `ActorStopped`, with the cluster error as `cause`; so is a call on a ref whose
 * cluster layer has shut down.
 *
 * @since 0.1.0
 */
import * as ClusterError from "effect/cluster/ClusterError"
import * as Entity from "effect/cluster/Entity"
import type * as Sharding from "effect/cluster/Sharding"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Hash from "effect/Hash"
import type * as Layer from "effect/Layer"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as Actor from "./Actor.ts"
import { ActorError } from "./ActorError.ts"

// =============================================================================
// Entities
// =============================================================================

const entities = new WeakMap<object, Entity.Any>()

/**
 * The effect/cluster `Entity` an actor definition runs as (one per definition, cached). Use it for
 * effect/cluster APIs that take an entity; `layer` and `client` use it for you.
 *
 * @example
 * const entity = ActorCluster.entity(Counter)
 * entity.type // => "Counter"
 *
 * @category constructors
 * @since 0.1.0
 */
export const entity = <Name extends string, Rpcs extends Rpc.Any>(
  actor: Actor.Actor<Name, Rpcs, any, any>
): Entity.Entity<Name, Rpc.AddError<Rpcs, typeof ActorError>> => {
  const cached = entities.get(actor)
  if (cached !== undefined) return cached as any
  const rpcs = Array.from(actor.protocol.requests.values() as Iterable<any>, (rpc): Rpc.Any =>
    rpc.setError(Schema.Union([rpc.errorSchema, ActorError])))
  const made: Entity.Any = Entity.fromRpcGroup(actor.name as string, RpcGroup.make(...rpcs).annotateMerge(actor.protocol.annotations))
  entities.set(actor, made)
  return made as any
}

/**
 * Options of `layer`.
 *
 * @example
 * const options: ActorCluster.LayerOptions = { maxIdleTime: "5 minutes", mailboxCapacity: 256 }
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions {
  /** Passivate an entity after this long without messages. Default: the sharding config's (1 minute). */
  readonly maxIdleTime?: Duration.Input | undefined
  /** Mailbox capacity per entity; a full mailbox fails senders with `MailboxFull`. Default 4096. */
  readonly mailboxCapacity?: number | "unbounded" | undefined
  /** Messages handled at once per entity. Default 1 (sequential, as a local actor). */
  readonly concurrency?: number | "unbounded" | undefined
}

/**
 * Registers an actor definition as an entity of the cluster in context: this process hosts the entities
 * of the shards it owns. Provide a `ClusterLayer` layer (and whatever the behaviour needs).
 *
 * @example
 * const Counters = ActorCluster.layer(Counter, { maxIdleTime: "5 minutes" })
 * const App = Counters.pipe(Layer.provideMerge(ClusterLayer.layerEmbedded()))
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <Name extends string, Rpcs extends Rpc.Any, E, R>(
  actor: Actor.Actor<Name, Rpcs, E, R>,
  options?: LayerOptions
): Layer.Layer<never, never, Sharding.Sharding | Exclude<R, Scope.Scope | Entity.CurrentAddress>> =>
  (entity(actor) as unknown as Entity.Any).toLayer(build(actor as unknown as Actor.Any) as any, {
    maxIdleTime: options?.maxIdleTime,
    mailboxCapacity: options?.mailboxCapacity,
    concurrency: options?.concurrency,
    disableFatalDefects: true
  }) as any

/** An instance: the handlers of one run of the behaviour and the scope its timers and children live in. */
interface Instance {
  readonly handlers: Record<string, (payload: unknown) => Rpc.WrapperOr<Effect.Effect<unknown, unknown, unknown>>>
  readonly scope: Scope.Closeable
  stopping: boolean
}

/** Builds the handlers of one entity: runs the behaviour, restarts it after a defect, rebuilds after stop. */
const build = (actor: Actor.Any) =>
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const entityScope = yield* Scope.Scope
    const refs = yield* client(actor)
    const self = refs(address.entityId)
    const path = self.path
    let current: Instance | undefined

    const start = Effect.gen(function*() {
      const scope = yield* Scope.fork(entityScope)
      const instance: Instance = { handlers: {}, scope, stopping: false }
      const timer = (effect: Effect.Effect<void, ActorError>) =>
        effect.pipe(Effect.ignore, Effect.forkIn(scope, { startImmediately: true }))
      const context: Actor.ActorContext<any> = {
        self,
        after: (delay, tag, ...payload) => timer(Effect.andThen(Effect.sleep(delay), self.tell(tag, ...payload))),
        every: (interval, tag, ...payload) =>
          timer(Effect.forever(Effect.andThen(Effect.sleep(interval), self.tell(tag, ...payload)))),
        stop: Effect.sync(() => {
          instance.stopping = true
        })
      }
      const handlers = yield* actor.behaviour(context).pipe(
        Scope.provide(scope),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
      Object.assign(instance.handlers, handlers)
      current = instance
      return instance
    })

    const retire = (instance: Instance, exit: Exit.Exit<unknown, unknown>) =>
      Effect.suspend(() => {
        if (current === instance) current = undefined
        return Scope.close(instance.scope, exit)
      })

    const crashed = (cause: unknown) => new ActorError({ reason: "Crashed", actor: path, cause })

    /** After the handler: a defect restarts the actor and fails the ask `Crashed`; `stop` retires it. */
    const supervise = (instance: Instance, effect: Effect.Effect<unknown, unknown, unknown>) =>
      effect.pipe(
        Effect.catchCause((cause) =>
          Cause.hasDies(cause) && !Cause.hasInterrupts(cause)
            ? Effect.logWarning(`actor ${path} crashed, restarting`, cause).pipe(
              Effect.andThen(retire(instance, Exit.failCause(cause))),
              Effect.andThen(Effect.ignore(start)),
              Effect.andThen(Effect.fail(crashed(Cause.squash(cause))))
            )
            : Effect.failCause(cause)
        ),
        Effect.ensuring(Effect.suspend(() => instance.stopping ? retire(instance, Exit.void) : Effect.void))
      )

    const handle = (tag: string, payload: unknown): Rpc.WrapperOr<Effect.Effect<unknown, unknown, unknown>> => {
      const run = (instance: Instance) => {
        const result = instance.handlers[tag]!(payload)
        return Rpc.wrapMap(result, (effect) => supervise(instance, effect))
      }
      if (current !== undefined) return run(current)
      return start.pipe(
        Effect.mapError((error) => crashed(error)),
        Effect.flatMap((instance) => {
          const result = run(instance)
          return Rpc.isWrapper(result) ? result.value : result
        })
      )
    }

    yield* Effect.ignore(start)
    const handlers: Record<string, (request: Entity.Request<any>) => unknown> = {}
    for (const tag of actor.protocol.requests.keys()) {
      handlers[tag] = (request) => handle(tag, request.payload)
    }
    yield* Scope.addFinalizer(entityScope, Effect.suspend(() => current ? retire(current, Exit.void) : Effect.void))
    return handlers
  })

// =============================================================================
// References
// =============================================================================

/**
 * A reference to an actor of the cluster by entity id: an `ActorRef` (same `tell`, `ask`, errors),
 * equal to any other ref to the same definition name and entity id.
 *
 * @example
 * const alice = counters("alice") // from ActorCluster.client(Counter)
 * alice.entityId // => "alice"
 * alice.path // => "Counter/alice"
 *
 * @category models
 * @since 0.1.0
 */
export interface EntityRef<Rpcs extends Rpc.Any> extends Actor.ActorRef<Rpcs> {
  readonly entityId: string
}

let nextRefId = 0

const mapClusterError = (path: string) => (error: unknown): unknown => {
  if (ClusterError.MailboxFull.is(error)) return new ActorError({ reason: "MailboxFull", actor: path, cause: error })
  if (
    ClusterError.EntityNotAssignedToRunner.is(error) || ClusterError.AlreadyProcessingMessage.is(error) ||
    error instanceof ClusterError.PersistenceError
  ) {
    return new ActorError({ reason: "ActorStopped", actor: path, cause: error })
  }
  return error
}

class EntityRefImpl implements EntityRef<any> {
  readonly id = ++nextRefId
  readonly name: string
  readonly entityId: string
  readonly path: string
  readonly tell: EntityRef<any>["tell"]
  readonly ask: EntityRef<any>["ask"]
  constructor(name: string, entityId: string, rpc: Record<string, any>, timeout: Duration.Input) {
    this.name = name
    this.entityId = entityId
    const path = this.path = `${name}/${entityId}`
    const mapError = mapClusterError(path)
    const undelivered = Effect.fail(
      new ActorError({ reason: "ActorStopped", actor: path, cause: `not delivered within ${Duration.format(Duration.fromInputUnsafe(timeout))}` })
    )
    // a call whose client was shut down (its cluster layer closed) is interrupted without the caller being
    // interrupted: a stopped actor, for the caller (an interrupted caller stays interrupted)
    const stopped = Effect.catchCause((cause: Cause.Cause<unknown>) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.fail(new ActorError({ reason: "ActorStopped", actor: path, cause: "the cluster client has shut down" }))
        : Effect.failCause(cause)
    )
    this.tell = ((tag: string, payload?: unknown) =>
      Effect.mapError(rpc[tag](payload, { discard: true }) as Effect.Effect<void, unknown>, mapError).pipe(
        stopped,
        Effect.timeoutOrElse({ duration: timeout, orElse: () => undelivered })
      )) as any
    this.ask = ((tag: string, payload?: unknown, options?: Actor.AskOptions) =>
      Effect.mapError(rpc[tag](payload) as Effect.Effect<unknown, unknown>, mapError).pipe(
        stopped,
        Effect.timeoutOrElse({
          duration: options?.timeout ?? timeout,
          orElse: () => Effect.fail(new ActorError({ reason: "AskTimeout", actor: path }))
        })
      )) as any
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof EntityRefImpl && that.name === this.name && that.entityId === this.entityId
  }
  [Hash.symbol](): number {
    return Hash.string(this.path)
  }
}

/**
 * Options of `client`.
 *
 * @example
 * const counters = yield* ActorCluster.client(Counter, { timeout: "5 seconds" })
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientOptions {
  /**
   * Bound on every call, so none hangs while no runner can take the message: an `ask` without its own
   * `timeout` fails with `AskTimeout` after it, a volatile `tell` not delivered by then fails with
   * `ActorStopped`. A persisted `tell` returns once stored. Default 30 seconds.
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Refs to the actors of a definition by entity id, through the cluster in context. The actor need not
 * be registered in this process: messages go to whichever runner owns the id's shard.
 *
 * @example
 * const counters = yield* ActorCluster.client(Counter)
 * yield* counters("user-42").tell("Increment", { by: 1 })
 * yield* counters("user-42").ask("Get", undefined, { timeout: "1 second" }) // => 1
 *
 * @category constructors
 * @since 0.1.0
 */
export const client = <Name extends string, Rpcs extends Rpc.Any>(
  actor: Actor.Actor<Name, Rpcs, any, any>,
  options?: ClientOptions
): Effect.Effect<(entityId: string) => EntityRef<Rpcs>, never, Sharding.Sharding> =>
  Effect.map(
    (entity(actor) as unknown as Entity.Any).client,
    (make) => (entityId: string): EntityRef<Rpcs> =>
      new EntityRefImpl(actor.name, entityId, make(entityId) as any, options?.timeout ?? "30 seconds") as any
  )
