/**
 * The coroutine facade's one error, and the Lua-style tuple view of results.
 *
 * Copas returns `nil, err, partial` where JavaScript can only return one
 * value. The facade's convention: a call that succeeds resolves (or returns)
 * Copas's first value (`pause` → seconds slept, `lock.get` → seconds waited,
 * `send` → index of the last byte sent, `connect` → 1); a call with several
 * success values resolves with an array (`receivefrom` → `[data, ip, port]`).
 * A call that fails rejects (or throws) a `CopasError`: `err` is Copas's
 * error string (`"timeout"`, `"closed"`, `"destroyed"`, `"too many"`, …),
 * `partial` the data received before the failure, `waited` the seconds
 * waited, `lastIndex` the last byte sent, and `cause` fiberloop's typed
 * error, for code that wants `_tag`s. `tuple` turns either into Lua's
 * `[value, err, partial]` for straight ports.
 *
 * @since 0.1.0
 */
import { withoutStack } from "../net/Errors.ts"

/**
 * A failed facade call, carrying Copas's error string in `err` (also the
 * `message`).
 *
 * **Example** (Telling a timeout from a closed socket)
 *
 * ```ts
 * try {
 *   await skt.receive("*l")
 * } catch (e) {
 *   if (e instanceof CopasError && e.err === "timeout") console.log("partial:", e.partial)
 * }
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class CopasError extends Error {
  override readonly name = "CopasError"
  /** Copas's error string: `"timeout"`, `"closed"`, `"destroyed"`, `"too many"`, … */
  readonly err: string
  /** Data received before the failure (receive calls). */
  readonly partial: string | undefined
  /** Seconds waited before the failure (lock, semaphore). */
  readonly waited: number | undefined
  /** Index (1-based) of the last byte sent before the failure (send). */
  readonly lastIndex: number | undefined

  constructor(
    err: string,
    extra?: {
      readonly partial?: string | undefined
      readonly waited?: number | undefined
      readonly lastIndex?: number | undefined
      readonly cause?: unknown
    }
  ) {
    super(err, extra?.cause === undefined ? undefined : { cause: extra.cause })
    this.err = err
    this.partial = extra?.partial
    this.waited = extra?.waited
    this.lastIndex = extra?.lastIndex
  }
}

/**
 * Builds a `CopasError` without capturing a stack trace: the expected
 * conditions (end of stream, timeouts) are too frequent to pay for one.
 *
 * **Example** (Failing like Copas)
 *
 * ```ts
 * throw copasError("timeout", { waited: 1.05 })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const copasError = (err: string, extra?: ConstructorParameters<typeof CopasError>[1]): CopasError =>
  withoutStack(() => new CopasError(err, extra))

const tlsReason = (e: { readonly reason?: string; readonly detail?: string; readonly code?: string }): string =>
  e.reason === "Timeout" ? "timeout" : `TLS/SSL handshake failed: ${e.detail ?? e.code ?? e.reason}`

/**
 * Copas's error string for any failure: fiberloop's typed errors map to the
 * LuaSocket/Copas strings, a `CopasError` keeps its own, anything else gives
 * its message.
 *
 * **Example** (Recovering the string from an Effect failure)
 *
 * ```ts
 * errorString(new ConnectionTimeout({ phase: "read" })) // => "timeout"
 * ```
 *
 * @category conversions
 * @since 0.1.0
 */
export const errorString = (error: unknown): string => {
  if (error instanceof CopasError) return error.err
  const e = error as {
    readonly _tag?: string
    readonly reason?: string
    readonly message?: string
    readonly detail?: string
    readonly code?: string
  }
  switch (e?._tag) {
    case "ConnectionTimeout":
      return "timeout"
    case "ConnectionClosed":
    case "SocketClosed":
    case "ConnectionReset":
      return "closed"
    case "ConnectionRefused":
      return "connection refused"
    case "DnsError":
      return "host not found"
    case "AddressInUse":
      return "address already in use"
    case "LineTooLong":
      return "line too long"
    case "StreamTooLong":
      return "stream too long"
    case "FrameTooLong":
      return "frame too long"
    case "HttpRequestError":
      return (error as { readonly err: string }).err
    case "TlsError":
      return tlsReason(e)
    case "LockError":
      return e.reason === "Timeout"
        ? "timeout"
        : e.reason === "Destroyed"
        ? "destroyed"
        : e.reason === "NotOwner"
        ? "cannot release a lock not owned"
        : "lock is not re-entrant"
    case "SemaphoreError":
      return e.reason === "Timeout" ? "timeout" : e.reason === "Destroyed" ? "destroyed" : "too many"
    case "QueueError":
      return e.reason === "Timeout" ? "timeout" : "destroyed"
  }
  if (error instanceof Error) return error.message
  return String(error)
}

/**
 * Wraps any failure as a `CopasError` (kept as is when it already is one),
 * with fiberloop's error as `cause`.
 *
 * **Example** (Mapping an Effect's failure)
 *
 * ```ts
 * Effect.mapError(conn.receive("*l"), (e) => toCopasError(e))
 * ```
 *
 * @category conversions
 * @since 0.1.0
 */
export const toCopasError = (
  error: unknown,
  extra?: { readonly partial?: string | undefined; readonly waited?: number | undefined }
): CopasError => error instanceof CopasError ? error : copasError(errorString(error), { ...extra, cause: error })

/**
 * Lua's multiple returns: `[value, undefined, undefined]` on success,
 * `[undefined, err, partial]` on failure, where the third value is the
 * partial data, else the last index sent, else the seconds waited.
 * Accepts a promise (blocking calls) or a function (non-blocking calls that
 * throw). Errors that are not `CopasError`s give their `errorString`.
 *
 * **Example** (A straight port of `local data, err, partial = skt:receive("*a")`)
 *
 * ```ts
 * const [data, err, partial] = await tuple(skt.receive("*a"))
 * const body = data ?? partial
 * ```
 *
 * @category conversions
 * @since 0.1.0
 */
export const tuple: {
  <A>(call: Promise<A>): Promise<Tuple<A>>
  <A>(call: () => A): Tuple<A>
} = (<A>(call: Promise<A> | (() => A)): Promise<Tuple<A>> | Tuple<A> => {
  if (typeof call === "function") {
    try {
      return [call(), undefined, undefined]
    } catch (error) {
      return failed(error)
    }
  }
  return call.then((value): Tuple<A> => [value, undefined, undefined], failed)
}) as any

/**
 * What `tuple` gives: Lua's `value, err, extra`.
 *
 * **Example** (Branching on it)
 *
 * ```ts
 * const [value, err]: Tuple<string> = await tuple(skt.receive())
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Tuple<A> =
  | readonly [value: A, err: undefined, extra: undefined]
  | readonly [value: undefined, err: string, extra: string | number | undefined]

const failed = (error: unknown): Tuple<never> => {
  const e = toCopasError(error)
  return [undefined, e.err, e.partial ?? e.lastIndex ?? e.waited]
}
