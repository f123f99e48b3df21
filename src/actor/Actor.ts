/**
 * Typed local actors: definitions, references and the operations on them.
 *
 * An actor is a name, a protocol and a behaviour. The protocol is an
 * effect/rpc `RpcGroup` of `Rpc.make(tag, { payload, success, error })`
 * messages, so every payload, reply and error is a Schema and the same
 * definition becomes an effect/cluster Entity unchanged:
 * `Entity.fromRpcGroup(actor.name, actor.protocol)`. The behaviour is an
 * Effect, run when the actor starts and again on every restart, that builds
 * the actor's state (a `Ref`, a `Map`) and returns one handler per message.
 *
 * A spawned actor is a bounded mailbox (an Effect `Queue`) and a fiber that
 * runs while it has messages (an idle actor holds no fiber): handlers run
 * one message at a time, in mailbox order, unless a handler
 * returns `Rpc.fork(effect)` to run concurrently with the next messages (the
 * effect/rpc opt-in). `spawn` is scoped: the actor stops when the scope
 * closes, and children spawned while it runs live in its scope, so stopping a
 * parent stops its children first, in reverse order of spawn.
 *
 * A handler's typed failure is the reply to that message; a defect (or the
 * behaviour failing to build) is a failure of the actor, which its supervision
 * strategy handles (see `Supervision`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Rpc from "effect/rpc/Rpc"
import type * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Cell from "./ActorCell.ts"
import * as Lifecycle from "./ActorLifecycle.ts"
import { ActorError } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"
import * as Supervision from "./Supervision.ts"

const TypeId = "~fiberloop/actor/Actor" as const

// =============================================================================
// Definitions
// =============================================================================

/**
 * An actor definition: a `name` (the effect/cluster entity type when it runs
 * clustered), a `protocol` (an effect/rpc `RpcGroup`) and a `behaviour` that
 * builds the handlers. `E` is how building can fail, `R` what the behaviour
 * and its handlers need (provided by the context `spawn` runs in).
 *
 * ```ts
 * const Counter: Actor.Actor<"Counter", RpcGroup.Rpcs<typeof CounterProtocol>> = Actor.make("Counter", { protocol, behaviour })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Actor<out Name extends string, in out Rpcs extends Rpc.Any, out E = never, out R = never> {
  readonly [TypeId]: typeof TypeId
  readonly name: Name
  readonly protocol: RpcGroup.RpcGroup<Rpcs>
  readonly behaviour: (context: ActorContext<Rpcs>) => Effect.Effect<Handlers<Rpcs, any>, E, R>
}

/**
 * Any actor definition.
 *
 * ```ts
 * const definitions: Array<Actor.Any> = [Counter, Room]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Any = Actor<string, any, any, any>

/**
 * The handler of one message: its decoded payload in, its success or typed
 * error out. Returning `Rpc.fork(effect)` lets the message run concurrently
 * with the following ones.
 *
 * ```ts
 * const get: Actor.Handler<typeof Get, never> = () => Effect.succeed(0)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Handler<Current extends Rpc.Any, R> = (
  payload: Rpc.Payload<Current>,
  /** effect/rpc's request metadata when served by RpcServer or effect/cluster; absent for local actors. */
  options: any
) => Rpc.WrapperOr<Effect.Effect<Rpc.Success<Current>, Rpc.Error<Current>, R>>

/**
 * One handler per message of a protocol, keyed by tag.
 *
 * ```ts
 * const handlers: Actor.Handlers<typeof Add | typeof Get> = { Add: () => Effect.void, Get: () => Effect.succeed(0) }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Handlers<Rpcs extends Rpc.Any, R = never> = {
  readonly [Current in Rpcs as Current["_tag"]]: Handler<Current, R>
}

/**
 * Defines an actor from a protocol and a behaviour. The behaviour receives
 * the actor's context (its own ref, timers to self, `stop`) and returns the
 * handlers; it runs again, with fresh state, on every restart. Return them
 * through the protocol's own `RpcGroup.of` (as with effect/rpc and
 * effect/cluster): it types each handler's payload from the protocol.
 *
 * **Example** (A counter)
 *
 * ```ts
 * import { Effect, Ref, Schema } from "effect"
 * import { Rpc, RpcGroup } from "effect/rpc"
 * import { Actor } from "fiberloop/actor"
 *
 * const Increment = Rpc.make("Increment", { payload: { by: Schema.Number } })
 * const Get = Rpc.make("Get", { success: Schema.Number })
 *
 * const CounterProtocol = RpcGroup.make(Increment, Get)
 *
 * const Counter = Actor.make("Counter", {
 *   protocol: CounterProtocol,
 *   behaviour: Effect.fnUntraced(function*() {
 *     const count = yield* Ref.make(0)
 *     return CounterProtocol.of({
 *       Increment: ({ by }) => Ref.update(count, (n) => n + by),
 *       Get: () => Ref.get(count)
 *     })
 *   })
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <
  const Name extends string,
  Rpcs extends Rpc.Any,
  H extends Handlers<Rpcs, any>,
  E = never,
  R = never
>(
  name: Name,
  options: {
    /** The messages, as an effect/rpc group. */
    readonly protocol: RpcGroup.RpcGroup<Rpcs>
    /** Builds the state and the handlers (`protocol.of({...})`); re-run on restart. */
    readonly behaviour: (context: ActorContext<Rpcs>) => Effect.Effect<H, E, R>
  }
): Actor<Name, Rpcs, E, R | HandlersServices<H>> => ({
  [TypeId]: TypeId,
  name,
  protocol: options.protocol,
  behaviour: options.behaviour
})

/**
 * The services a handlers object needs.
 *
 * ```ts
 * type R = Actor.HandlersServices<typeof handlers> // => never
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type HandlersServices<H> = {
  [K in keyof H]: H[K] extends (...args: any) => Rpc.WrapperOr<Effect.Effect<any, any, infer X>> ? X : never
}[keyof H]

/**
 * `true` for an actor definition.
 *
 * ```ts
 * Actor.isActor(Counter) // => true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isActor = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

// =============================================================================
// References
// =============================================================================

/**
 * The payload argument of a message: optional when the payload is `void`.
 *
 * ```ts
 * type Args = Actor.PayloadArgs<typeof Get> // => [payload?: void]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type PayloadArgs<Current extends Rpc.Any, Extra extends ReadonlyArray<unknown> = []> = [
  void
] extends [Rpc.Payload<Current>] ? [payload?: Rpc.Payload<Current>, ...Extra] :
  [payload: Rpc.Payload<Current>, ...Extra]

/**
 * Options of one ask.
 *
 * ```ts
 * counter.ask("Get", undefined, { timeout: "1 second" })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface AskOptions {
  /** Fail with `ActorError` reason `AskTimeout` when no reply comes in time. Default: wait for the reply. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * A typed reference to a running (or stopped) actor. Refs are values:
 * `Equal`/`Hash` by identity of the actor, so they serve as keys of a `Map`
 * or a `HashMap`.
 *
 * - `tell` enqueues a message and returns: it suspends while the mailbox is
 *   full (policy `"suspend"`), fails with `MailboxFull` (policy `"fail"`), or
 *   counts the message as dropped (policy `"drop"`). A message to a stopped
 *   actor goes to the dead letters.
 * - `ask` enqueues and waits for the handler's reply: its success, its typed
 *   error, or an `ActorError` (`AskTimeout`, `MailboxFull`, `ActorStopped`,
 *   `Crashed`). Asking a stopped actor fails at once; an actor that stops
 *   with the message still in its mailbox fails it: an ask never hangs on a
 *   dead actor.
 *
 * **Example** (Telling and asking)
 *
 * ```ts
 * yield* counter.tell("Increment", { by: 2 })
 * const n = yield* counter.ask("Get") // => 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ActorRef<in out Rpcs extends Rpc.Any> extends Equal.Equal {
  /** A process-unique number. */
  readonly id: number
  /** The definition's name. */
  readonly name: string
  /** The registered name, or `name#id`. */
  readonly path: string
  /** Sends a message without waiting for its handling. */
  readonly tell: <const Tag extends Rpcs["_tag"]>(
    tag: Tag,
    ...payload: PayloadArgs<Extract<Rpcs, { readonly _tag: Tag }>>
  ) => Effect.Effect<void, ActorError>
  /** Sends a message and waits for its reply. */
  readonly ask: <const Tag extends Rpcs["_tag"]>(
    tag: Tag,
    ...args: PayloadArgs<Extract<Rpcs, { readonly _tag: Tag }>, [options?: AskOptions]>
  ) => Effect.Effect<
    Rpc.Success<Extract<Rpcs, { readonly _tag: Tag }>>,
    Rpc.Error<Extract<Rpcs, { readonly _tag: Tag }>> | ActorError
  >
}

/**
 * `true` for a ref to a local actor.
 *
 * ```ts
 * Actor.isActorRef(counter) // => true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isActorRef = (u: unknown): u is AnyRef => Cell.isCell(u)

/**
 * A Schema for a local ref inside a message (Akka's `replyTo`, a member that
 * joins a room). It checks the value is a ref; it does not serialize one, so
 * a protocol that must cross processes (effect/cluster) addresses actors by
 * name or entity id instead.
 *
 * **Example** (A message that carries who to answer)
 *
 * ```ts
 * const Join = Rpc.make("Join", { payload: { member: Actor.refSchema<typeof Deliver>() } })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const refSchema = <Rpcs extends Rpc.Any>(): Schema.declare<ActorRef<Rpcs>> =>
  Schema.declare((u: unknown): u is ActorRef<Rpcs> => Cell.isCell(u), { identifier: "ActorRef" })

/**
 * A ref whose protocol is not known statically (registry lookups, events).
 *
 * ```ts
 * const refs: Array<Actor.AnyRef> = [counter, room]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type AnyRef = ActorRef<any>

/**
 * How an actor ended: success for a normal stop (its scope closed, `stop`),
 * a failure with the cause that stopped it otherwise.
 *
 * ```ts
 * const exit: Actor.ActorExit = yield* Actor.watch(counter) // => Exit.void
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ActorExit = Exit.Exit<void, unknown>

// =============================================================================
// Inside an actor
// =============================================================================

/**
 * What a behaviour receives: the actor's own ref and its timers. Timers are
 * messages to self, scheduled on the Clock (so `TestClock` drives them) and
 * cancelled when the actor restarts or stops; interrupt the returned fiber to
 * cancel one sooner. Children: call `Actor.spawn` from the behaviour or a
 * handler; they live in this actor's scope.
 *
 * **Gotchas**
 *
 * A handler that asks its own actor waits for itself forever (the mailbox is
 * sequential); `tell` to self from a handler with a full `"suspend"` mailbox
 * also waits for itself. Use timers, or `Rpc.fork`.
 *
 * **Example** (A tick every second)
 *
 * ```ts
 * behaviour: Effect.fnUntraced(function*(ctx) {
 *   yield* ctx.every("1 second", "Tick")
 *   return { Tick: () => Effect.log("tick") }
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ActorContext<in out Rpcs extends Rpc.Any> {
  /** This actor's own ref. */
  readonly self: ActorRef<Rpcs>
  /** Tells `tag` to self once, after `delay`. */
  readonly after: <const Tag extends Rpcs["_tag"]>(
    delay: Duration.Input,
    tag: Tag,
    ...payload: PayloadArgs<Extract<Rpcs, { readonly _tag: Tag }>>
  ) => Effect.Effect<Fiber.Fiber<void>>
  /** Tells `tag` to self every `interval` (first after one interval), until the actor restarts or stops. */
  readonly every: <const Tag extends Rpcs["_tag"]>(
    interval: Duration.Input,
    tag: Tag,
    ...payload: PayloadArgs<Extract<Rpcs, { readonly _tag: Tag }>>
  ) => Effect.Effect<Fiber.Fiber<void>>
  /** Stops this actor normally (the current handler is interrupted). */
  readonly stop: Effect.Effect<void>
}

// =============================================================================
// Spawning
// =============================================================================

/**
 * What happens to a message that finds the mailbox full.
 *
 * ```ts
 * const policy: Actor.Policy = "drop"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Policy = "suspend" | "fail" | "drop"

/**
 * Options of `Actor.spawn`.
 *
 * ```ts
 * const options: Actor.SpawnOptions = { name: "counter", capacity: 64, whenFull: "fail" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SpawnOptions {
  /** Register under this name in the system (`NameTaken` if a live actor has it). Default: unregistered. */
  readonly name?: string | undefined
  /** Mailbox capacity, or `"unbounded"` (only when asked for). Default: 1024. */
  readonly capacity?: number | "unbounded" | undefined
  /** When the mailbox is full: suspend the sender, fail with `MailboxFull`, or drop and count. Default: `"suspend"`. */
  readonly whenFull?: Policy | undefined
  /** This actor's strategy for its own failures. Default: `Supervision.restart()`. */
  readonly supervision?: Supervision.Strategy | undefined
  /** How a restart of one of this actor's children spreads to the others. Default: `"one-for-one"`. */
  readonly children?: Supervision.Group | undefined
}

/**
 * Starts an actor in the current `Scope` and returns its ref; the actor stops
 * when the scope closes. Called from inside an actor (its behaviour or a
 * handler), the new actor is that actor's child: it lives in the parent's
 * scope and the parent supervises it. The behaviour runs in the actor's own
 * fiber, after `spawn` returns; a behaviour that fails is an actor failure.
 *
 * **Example** (A registered counter with a small, failing mailbox)
 *
 * ```ts
 * const counter = yield* Actor.spawn(Counter, { name: "counter", capacity: 64, whenFull: "fail" })
 * yield* counter.tell("Increment", { by: 1 })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const spawn = <Name extends string, Rpcs extends Rpc.Any, E, R>(
  actor: Actor<Name, Rpcs, E, R>,
  options?: SpawnOptions | undefined
): Effect.Effect<ActorRef<Rpcs>, ActorError, Scope.Scope | ActorSystem | Exclude<R, Scope.Scope>> =>
  Effect.withFiber((fiber) => {
    const context = fiber.context as Context.Context<ActorSystem | Scope.Scope>
    return Cell.spawn(
      Context.get(context, ActorSystem).runtime,
      actor as unknown as Any,
      options,
      options?.supervision ?? Supervision.defaultStrategy,
      context,
      Context.get(context, Scope.Scope),
      fiber.getRef(Lifecycle.Parent)
    ) as Effect.Effect<any, ActorError>
  })

const cellOf = (ref: AnyRef): Cell.Cell => {
  if (Cell.isCell(ref)) return ref
  throw new TypeError(`not a local actor ref: ${String(ref)}`)
}

/**
 * Stops an actor now (its children first, in reverse order of spawn); queued
 * messages go to the dead letters and their asks fail with `ActorStopped`.
 * Stopping a stopped actor does nothing. An actor may stop itself or its
 * parent from a handler (the stop runs in a fiber of its own, and the caller
 * is interrupted if the stop reaches it).
 *
 * ```ts
 * yield* Actor.stop(counter)
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const stop = (ref: AnyRef): Effect.Effect<void> => Lifecycle.stopDetached(cellOf(ref))

/**
 * Waits until an actor stops and returns how it ended (Akka DeathWatch,
 * Erlang monitor): success for a normal stop, the failure's cause otherwise.
 * On a stopped actor it returns at once.
 *
 * ```ts
 * const exit = yield* Actor.watch(counter) // => Exit.void after a normal stop
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const watch = (ref: AnyRef): Effect.Effect<ActorExit> => Cell.watch(cellOf(ref))

/**
 * Links two actors (Erlang link): when either fails (a failure its
 * supervisor handles, whatever it decides), the other fails too, with an
 * `ActorError` of reason `Linked` as the defect its own supervisor sees. A
 * normal stop does not propagate. Fails with `ActorStopped` if either has
 * stopped.
 *
 * ```ts
 * yield* Actor.link(session, socketWriter)
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const link = (a: AnyRef, b: AnyRef): Effect.Effect<void, ActorError> => Cell.link(cellOf(a), cellOf(b))

/**
 * Removes a link made by `link`.
 *
 * ```ts
 * yield* Actor.unlink(session, socketWriter)
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const unlink = (a: AnyRef, b: AnyRef): Effect.Effect<void> => Cell.unlink(cellOf(a), cellOf(b))

/**
 * The live actor registered under `name` with this definition, typed by it.
 * `None` when no actor has the name, or when it runs another definition.
 *
 * ```ts
 * const counter = yield* Actor.lookup(Counter, "counter") // => Option.some(ref)
 * ```
 *
 * @category registry
 * @since 0.1.0
 */
export const lookup = <Name extends string, Rpcs extends Rpc.Any, E, R>(
  actor: Actor<Name, Rpcs, E, R>,
  name: string
): Effect.Effect<Option.Option<ActorRef<Rpcs>>, never, ActorSystem> =>
  Effect.map(ActorSystem, (system) => {
    const cell = system.runtime.names.get(name)
    return cell !== undefined && cell.actor === (actor as unknown as Any) ? Option.some(cell as any) : Option.none()
  })

/**
 * What one actor has done so far.
 *
 * ```ts
 * const { processed }: Actor.Stats = yield* Actor.stats(counter) // => processed: 3
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  readonly status: "running" | "stopping" | "stopped"
  /** Messages waiting. */
  readonly mailboxSize: number
  /** Messages handled (including failed ones). */
  readonly processed: number
  /** Total time in handlers, in milliseconds. */
  readonly processingMillis: number
  /** Failures seen by its supervisor (defects, failed behaviours, linked failures). */
  readonly failures: number
  /** Restarts by its supervisor. */
  readonly restarts: number
  /** Its messages sent to the dead letters (after it stopped, or dropped by its full mailbox). */
  readonly deadLetters: number
}

/**
 * The counters of one actor (the per-actor view; `ActorSystem` aggregates
 * them into Effect Metrics per definition name).
 *
 * ```ts
 * const { processed, mailboxSize } = yield* Actor.stats(counter)
 * ```
 *
 * @category inspection
 * @since 0.1.0
 */
export const stats = (ref: AnyRef): Effect.Effect<Stats> =>
  Effect.sync(() => {
    const cell = cellOf(ref)
    return {
      status: Cell.status(cell),
      mailboxSize: Cell.mailboxSize(cell),
      processed: cell.processed,
      processingMillis: cell.processingMillis,
      failures: cell.failures,
      restarts: cell.restarts,
      deadLetters: cell.deadLetters
    }
  })
