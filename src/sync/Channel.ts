/**
 * Go-style channels: rendezvous, bounded or unbounded, with `select`.
 *
 * A `Channel<A>` carries values from senders to receivers in FIFO order. With
 * capacity `0` it is a rendezvous: `send` completes only when a receiver has
 * taken the value. With capacity `n` it buffers up to `n` values and `send`
 * waits while the buffer is full; `"unbounded"` never makes `send` wait.
 * Values are handed straight to a waiting receiver, and a receiver interrupted
 * after a value was handed to it puts the value back at the head, so
 * interruption never loses a value.
 *
 * `close` refuses further sends (they fail with `ChannelError` reason
 * `"Closed"`, the DESIGN's `ChannelClosed`), fails the senders still waiting,
 * and lets receivers drain what is buffered before they too see `"Closed"`.
 * `select` waits on several receive and send cases at once, with an optional
 * timeout or a non-blocking default; `toStream` is the Stream view.
 *
 * Only waiters allocate: a send into a buffer with room, or a receive from a
 * non-empty buffer, touches the buffer and nothing else.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as MutableList from "effect/MutableList"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import { BaseWaiter, first, timeoutMillis, WAITING, wake } from "./internal/wakeups.ts"

// =============================================================================
// Errors
// =============================================================================

/**
 * The one error of this module: the channel is closed (`reason: "Closed"`).
 *
 * **Example** (Receiving until closed)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<number>({ capacity: 1 })
 *   yield* ch.close
 *   return (yield* Effect.flip(ch.receive)).reason // => "Closed"
 * })
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ChannelError extends Data.TaggedError("ChannelError")<{
  readonly reason: "Closed"
}> {
  override get message(): string {
    return "channel closed"
  }
}

// =============================================================================
// Models
// =============================================================================

/**
 * A typed channel between fibers.
 *
 * **Example** (A rendezvous)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<string>({ capacity: 0 })
 *   yield* Effect.forkChild(ch.send("ping"))
 *   return yield* ch.receive // => "ping"
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Channel<in out A> {
  /** The buffer size: `0` for a rendezvous, `Infinity` when unbounded. */
  readonly capacity: number
  /** Sends a value, waiting for room (or, at capacity 0, for a receiver). */
  send(value: A): Effect.Effect<void, ChannelError>
  /** Receives the next value, waiting for one; fails once closed and drained. */
  readonly receive: Effect.Effect<A, ChannelError>
  /** Closes the channel; succeeds with `false` when it was already closed. */
  readonly close: Effect.Effect<boolean>
  /** Whether the channel is closed. */
  readonly isClosed: Effect.Effect<boolean>
  /** How many values are buffered. */
  readonly size: Effect.Effect<number>
}

/**
 * Options for {@link make}.
 *
 * **Example** (A buffered channel)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const options: Channel.ChannelOptions = { capacity: 64 }
 * const ch = Channel.makeUnsafe<string>(options)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ChannelOptions {
  /** `0` (rendezvous, the default), a buffer size, or `"unbounded"`. */
  readonly capacity?: number | "unbounded" | undefined
}

/**
 * A `select` case that receives from a channel.
 *
 * **Example** (Building a receive case)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const jobs = Channel.makeUnsafe<string>({ capacity: 8 })
 * const c: Channel.ReceiveCase<string> = Channel.onReceive(jobs)
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export interface ReceiveCase<A> {
  readonly _tag: "Receive"
  readonly channel: Channel<A>
}

/**
 * A `select` case that sends a value on a channel.
 *
 * **Example** (Building a send case)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const out = Channel.makeUnsafe<number>({ capacity: 8 })
 * const c: Channel.SendCase<number> = Channel.onSend(out, 1)
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export interface SendCase<A> {
  readonly _tag: "Send"
  readonly channel: Channel<A>
  readonly value: A
}

/**
 * Any `select` case.
 *
 * **Example** (Mixing receive and send cases)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const input = Channel.makeUnsafe<string>()
 * const output = Channel.makeUnsafe<number>()
 * const cases: ReadonlyArray<Channel.SelectCase> = [Channel.onReceive(input), Channel.onSend(output, 1)]
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export type SelectCase = ReceiveCase<any> | SendCase<any>

/**
 * What a `select` did: which case fired (by its index in the array) and, for a
 * receive, the value; `Closed` when the case's channel is closed (and, for a
 * receive, drained); `Timeout` or `Default` when no case was ready.
 *
 * **Example** (Matching on what a select did)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const describe = (r: Channel.SelectResult<string>): string => {
 *   switch (r._tag) {
 *     case "Received":
 *       return `got ${r.value} from case ${r.index}`
 *     case "Sent":
 *       return `sent on case ${r.index}`
 *     case "Closed":
 *       return `case ${r.index} is closed`
 *     case "Timeout":
 *     case "Default":
 *       return "nothing ready"
 *   }
 * }
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export type SelectResult<A> =
  | { readonly _tag: "Received"; readonly index: number; readonly value: A }
  | { readonly _tag: "Sent"; readonly index: number }
  | { readonly _tag: "Closed"; readonly index: number }
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "Default" }

/**
 * The values a list of cases can receive.
 *
 * **Example** (The value type of a select)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const a = Channel.makeUnsafe<number>()
 * const b = Channel.makeUnsafe<string>()
 * const cases = [Channel.onReceive(a), Channel.onReceive(b)] as const
 * type V = Channel.Received<typeof cases> // => number | string
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export type Received<Cases extends ReadonlyArray<SelectCase>> = Cases[number] extends infer C
  ? C extends ReceiveCase<infer A> ? A : never
  : never

/**
 * Options for {@link select}.
 *
 * **Example** (Polling without waiting)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const poll: Channel.SelectOptions = { default: true }
 * const patient: Channel.SelectOptions = { timeout: "5 seconds" }
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export interface SelectOptions {
  /** Give up after this long with a `Timeout` result. */
  readonly timeout?: Duration.Input | undefined
  /** When `true`, return `Default` at once if no case is ready. */
  readonly default?: boolean | undefined
}

// =============================================================================
// Implementation
// =============================================================================

const HANDED = 1
const DONE = 2

const EMPTY: unique symbol = Symbol("fiberloop/sync/Channel/empty")
const CLOSED: unique symbol = Symbol("fiberloop/sync/Channel/closed")

const exitVoid = Exit.void
const exitTrue = Exit.succeed(true)
const exitFalse = Exit.succeed(false)
const resultTimeout = Exit.succeed({ _tag: "Timeout" } as const)
const resultDefault = Exit.succeed({ _tag: "Default" } as const)

const closedError = () => Exit.fail(new ChannelError({ reason: "Closed" }))

// One suspended fiber: a plain send or receive (one entry) or a select (one
// entry per case, `select` set). It completes once, with the first entry to
// fire; the others are withdrawn from their channels at that moment.
class Waiter extends BaseWaiter<any, ChannelError> {
  // A value handed to this waiter and not yet consumed (for put-back).
  handed: Entry<any> | undefined = undefined
  handedValue: unknown = undefined
  // The registration of a plain send or receive; a select's are in `entries`.
  entry: Entry<any> | undefined = undefined
  readonly entries: Array<Entry<any>> | undefined
  readonly select: boolean
  constructor(fiber: Fiber.Fiber<unknown, unknown>, select: boolean) {
    super(fiber)
    this.select = select
    this.entries = select ? [] : undefined
  }
}

class Entry<A> {
  readonly waiter: Waiter
  readonly channel: ChannelImpl<A>
  readonly index: number
  readonly send: boolean
  readonly value: A
  constructor(waiter: Waiter, channel: ChannelImpl<A>, index: number, send: boolean, value: A) {
    this.waiter = waiter
    this.channel = channel
    this.index = index
    this.send = send
    this.value = value
  }
}

const unregister = (entry: Entry<any>): void => {
  if (entry.send) entry.channel.senders.delete(entry)
  else entry.channel.receivers.delete(entry)
}

const withdraw = (waiter: Waiter): void => {
  const entries = waiter.entries
  if (entries === undefined) return unregister(waiter.entry!)
  for (let i = 0; i < entries.length; i++) unregister(entries[i])
}

// Ends a waiter through one of its entries; `value` is the received value.
// A receiver's wake-up is deferred, so a producer keeps filling the buffer
// meanwhile (batching); a sender's is inline on a rendezvous channel, so a
// ping-pong costs no trip through the event loop, and deferred on a buffered
// one, so the consumer drains the buffer before the producer refills it.
const fire = (entry: Entry<any>, tag: "Received" | "Sent" | "Closed", value?: unknown): void => {
  const waiter = entry.waiter
  waiter.state = tag === "Received" ? HANDED : DONE
  withdraw(waiter)
  if (tag === "Received") {
    waiter.handed = entry
    waiter.handedValue = value
  }
  const defer = tag !== "Sent" || entry.channel.capacity > 0
  if (waiter.select) {
    wake(
      waiter,
      Exit.succeed(
        tag === "Received" ? { _tag: tag, index: entry.index, value } : { _tag: tag, index: entry.index }
      ),
      defer
    )
  } else if (tag === "Closed") {
    wake(waiter, closedError(), defer)
  } else {
    wake(waiter, tag === "Received" ? Exit.succeed(value) : exitVoid, defer)
  }
}



class ChannelImpl<A> implements Channel<A> {
  readonly buffer = MutableList.make<A>()
  readonly receivers = new Set<Entry<A>>()
  readonly senders = new Set<Entry<A>>()
  readonly capacity: number
  closed = false

  readonly receive: Effect.Effect<A, ChannelError>
  readonly close: Effect.Effect<boolean>
  readonly isClosed: Effect.Effect<boolean>
  readonly size: Effect.Effect<number>

  constructor(options?: ChannelOptions | undefined) {
    const capacity = options?.capacity ?? 0
    this.capacity = capacity === "unbounded" ? Infinity : capacity
    if (!(this.capacity >= 0)) throw new RangeError(`capacity must be >= 0, got ${capacity}`)
    this.receive = Effect.suspend(() => {
      if (this.buffer.length > 0 && this.senders.size === 0) {
        return Exit.succeed(MutableList.take(this.buffer) as A)
      }
      const value = this.pollReceive()
      if (value === EMPTY) return this.park(false, undefined)
      if (value === CLOSED) return closedError()
      return Exit.succeed(value)
    })
    this.close = Effect.suspend(() => this.closeUnsafe())
    this.isClosed = Effect.sync(() => this.closed)
    this.size = Effect.sync(() => this.buffer.length)
  }

  send(value: A): Effect.Effect<void, ChannelError> {
    return Effect.suspend(() => {
      if (this.buffer.length < this.capacity && this.receivers.size === 0 && !this.closed) {
        MutableList.append(this.buffer, value)
        return exitVoid
      }
      const sent = this.pollSend(value)
      if (sent === true) return exitVoid
      if (sent === CLOSED) return closedError()
      return this.park(true, value)
    })
  }

  // ---------------------------------------------------------------------------

  pollReceive(): A | typeof EMPTY | typeof CLOSED {
    if (this.buffer.length > 0) {
      const value = MutableList.take(this.buffer) as A
      if (this.senders.size > 0) this.admit()
      return value
    }
    if (this.senders.size > 0) {
      // Rendezvous: take the value straight from the longest-waiting sender.
      const entry = first(this.senders)
      fire(entry, "Sent")
      return entry.value
    }
    return this.closed ? CLOSED : EMPTY
  }

  pollSend(value: A): boolean | typeof CLOSED {
    if (this.closed) return CLOSED
    if (this.receivers.size > 0) {
      fire(first(this.receivers), "Received", value)
      return true
    }
    if (this.buffer.length < this.capacity) {
      MutableList.append(this.buffer, value)
      return true
    }
    return false
  }

  // Moves waiting senders' values into freed buffer slots.
  admit(): void {
    while (this.senders.size > 0 && this.buffer.length < this.capacity) {
      const entry = first(this.senders)
      MutableList.append(this.buffer, entry.value)
      fire(entry, "Sent")
    }
  }

  // A receiver was interrupted holding a value it had not consumed: give it
  // to the next receiver, or put it back at the head of the buffer.
  putBack(value: A): void {
    if (this.receivers.size > 0) fire(first(this.receivers), "Received", value)
    else MutableList.prepend(this.buffer, value)
  }

  park(send: boolean, value: A | undefined): Effect.Effect<any, ChannelError> {
    const waiter = new Waiter(Fiber.getCurrent()!, false)
    const entry = new Entry<A>(waiter, this, -1, send, value as A)
    waiter.entry = entry
    if (send) this.senders.add(entry)
    else this.receivers.add(entry)
    return awaitWaiter(waiter, Infinity)
  }

  closeUnsafe(): Exit.Exit<boolean> {
    if (this.closed) return exitFalse
    this.closed = true
    while (this.senders.size > 0) fire(first(this.senders), "Closed")
    while (this.receivers.size > 0) fire(first(this.receivers), "Closed")
    return exitTrue
  }

  // Takes every buffered value (and, at capacity 0, one waiting sender's).
  drainUnsafe(): Array<A> {
    if (this.buffer.length > 0) {
      const values = MutableList.takeAll(this.buffer)
      if (this.senders.size > 0) this.admit()
      return values
    }
    if (this.senders.size > 0) {
      const entry = first(this.senders)
      fire(entry, "Sent")
      return [entry.value]
    }
    return []
  }
}

const expire = (waiter: Waiter): void => {
  if (waiter.state !== WAITING) return
  waiter.state = DONE
  withdraw(waiter)
  Deferred.doneUnsafe(waiter.deferred, resultTimeout)
}

const settle = (waiter: Waiter) => (exit: Exit.Exit<unknown, unknown>): undefined => {
  waiter.timer?.interruptUnsafe()
  if (exit._tag === "Success") return undefined
  if (waiter.state === WAITING) {
    waiter.state = DONE
    withdraw(waiter)
  } else if (waiter.state === HANDED) {
    waiter.state = DONE
    const entry = waiter.handed!
    waiter.handed = undefined
    entry.channel.putBack(waiter.handedValue)
  }
  return undefined
}

const awaitWaiter = (waiter: Waiter, timeout: number): Effect.Effect<any, ChannelError> => {
  if (Number.isFinite(timeout)) {
    waiter.timer = Effect.runForkWith(waiter.fiber.context)(
      Effect.flatMap(Effect.sleep(timeout), () => Effect.sync(() => expire(waiter)))
    )
  }
  return Effect.onExitPrimitive(Deferred.await(waiter.deferred), settle(waiter))
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * Creates a channel synchronously, for use outside `Effect`.
 *
 * **Example** (A module-level unbounded channel)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const events = Channel.makeUnsafe<string>({ capacity: "unbounded" })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = <A>(options?: ChannelOptions | undefined): Channel<A> => new ChannelImpl<A>(options)

/**
 * Creates a channel: rendezvous by default, bounded with `capacity: n`, or
 * `capacity: "unbounded"`.
 *
 * **Example** (A bounded channel)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<number>({ capacity: 2 })
 *   yield* ch.send(1)
 *   yield* ch.send(2)
 *   return yield* ch.size // => 2
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A>(options?: ChannelOptions | undefined): Effect.Effect<Channel<A>> =>
  Effect.sync(() => new ChannelImpl<A>(options))

// =============================================================================
// Sending and receiving
// =============================================================================

/**
 * Sends a value; see {@link Channel.send}.
 *
 * **Example** (Sending into a buffer)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<number>({ capacity: 1 })
 *   yield* Channel.send(ch, 42)
 *   return yield* Channel.receive(ch) // => 42
 * })
 * ```
 *
 * @category sending
 * @since 0.1.0
 */
export const send = <A>(self: Channel<A>, value: A): Effect.Effect<void, ChannelError> => self.send(value)

/**
 * Receives a value; see {@link Channel.receive}.
 *
 * **Example** (Receiving from a producer)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<string>()
 *   yield* Effect.forkChild(Channel.send(ch, "hi"))
 *   return yield* Channel.receive(ch) // => "hi"
 * })
 * ```
 *
 * @category receiving
 * @since 0.1.0
 */
export const receive = <A>(self: Channel<A>): Effect.Effect<A, ChannelError> => self.receive

/**
 * Closes a channel: later sends fail, waiting senders fail, receivers drain the
 * buffer and then fail, all with reason `"Closed"`.
 *
 * **Example** (Draining after close)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<number>({ capacity: 2 })
 *   yield* ch.send(1)
 *   yield* Channel.close(ch)
 *   return yield* ch.receive // => 1
 * })
 * ```
 *
 * @category closing
 * @since 0.1.0
 */
export const close = <A>(self: Channel<A>): Effect.Effect<boolean> => self.close

// =============================================================================
// Select
// =============================================================================

/**
 * A `select` case receiving from `channel`.
 *
 * **Example** (A receive case)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const jobs = Channel.makeUnsafe<string>({ capacity: 8 })
 * const c = Channel.onReceive(jobs)
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export const onReceive = <A>(channel: Channel<A>): ReceiveCase<A> => ({ _tag: "Receive", channel })

/**
 * A `select` case sending `value` on `channel`.
 *
 * **Example** (A send case)
 *
 * ```ts
 * import { Channel } from "fiberloop/sync"
 *
 * const results = Channel.makeUnsafe<number>({ capacity: 8 })
 * const c = Channel.onSend(results, 42)
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export const onSend = <A>(channel: Channel<A>, value: A): SendCase<A> => ({ _tag: "Send", channel, value })

/**
 * Waits until one of the cases can proceed, performs it and reports which.
 *
 * **Details**
 *
 * Cases are tried in array order, so when several are ready the first wins.
 * A case whose channel is closed is ready and yields `Closed`. With `default:
 * true` the select never waits; with `timeout` it gives up with `Timeout`. Only
 * one case ever fires: the others are withdrawn in the same step.
 *
 * **Example** (Receiving from whichever channel has a value)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const a = yield* Channel.make<number>({ capacity: 1 })
 *   const b = yield* Channel.make<string>({ capacity: 1 })
 *   yield* b.send("hello")
 *   const r = yield* Channel.select([Channel.onReceive(a), Channel.onReceive(b)], { timeout: "1 second" })
 *   return r // => { _tag: "Received", index: 1, value: "hello" }
 * })
 * ```
 *
 * @category select
 * @since 0.1.0
 */
export const select = <const Cases extends ReadonlyArray<SelectCase>>(
  cases: Cases,
  options?: SelectOptions | undefined
): Effect.Effect<SelectResult<Received<Cases>>> =>
  Effect.suspend((): Effect.Effect<SelectResult<Received<Cases>>> => {
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]
      const channel = c.channel as ChannelImpl<any>
      if (c._tag === "Receive") {
        const value = channel.pollReceive()
        if (value === CLOSED) return Exit.succeed({ _tag: "Closed", index: i })
        if (value !== EMPTY) return Exit.succeed({ _tag: "Received", index: i, value })
      } else {
        const sent = channel.pollSend(c.value)
        if (sent === CLOSED) return Exit.succeed({ _tag: "Closed", index: i })
        if (sent) return Exit.succeed({ _tag: "Sent", index: i })
      }
    }
    if (options?.default === true) return resultDefault
    const timeout = timeoutMillis(options?.timeout)
    if (timeout <= 0) return resultTimeout
    const waiter = new Waiter(Fiber.getCurrent()!, true)
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]
      const channel = c.channel as ChannelImpl<any>
      const send = c._tag === "Send"
      const entry = new Entry(waiter, channel, i, send, send ? c.value : undefined)
      waiter.entries!.push(entry)
      if (send) channel.senders.add(entry)
      else channel.receivers.add(entry)
    }
    return awaitWaiter(waiter, timeout) as Effect.Effect<SelectResult<Received<Cases>>>
  })

// =============================================================================
// Conversions
// =============================================================================

/**
 * A stream of the values received from the channel, ending when it is closed
 * and drained. Buffered values are pulled in chunks.
 *
 * **Example** (Collecting a closed channel)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 * import { Channel } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const ch = yield* Channel.make<number>({ capacity: 3 })
 *   yield* ch.send(1)
 *   yield* ch.send(2)
 *   yield* ch.close
 *   return yield* Stream.runCollect(Channel.toStream(ch)) // => [1, 2]
 * })
 * ```
 *
 * @category conversions
 * @since 0.1.0
 */
export const toStream = <A>(self: Channel<A>): Stream.Stream<A> => {
  const channel = self as ChannelImpl<A>
  const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>> = Effect.suspend(() => {
    const values = channel.drainUnsafe()
    if (Arr.isArrayNonEmpty(values)) return Exit.succeed(values)
    if (channel.closed) return Cause.done()
    return Effect.matchEffect(channel.receive, {
      onFailure: () => Cause.done(),
      onSuccess: (value) => Exit.succeed(Arr.of(value))
    })
  })
  return Stream.fromPull(Effect.succeed(pull))
}
