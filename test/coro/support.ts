/**
 * Test helpers for the coroutine facade: a Copas instance per test on one
 * shared set of live services, and a bounded way to run promise code as a test.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Copas from "../../src/coro/copas.ts"
import { CopasError } from "../../src/coro/Errors.ts"
import * as Runtime from "../../src/coro/Runtime.ts"
import type { Body } from "../../src/coro/Thread.ts"
import * as Socketloop from "../../src/coro/socketloop.ts"

const services = Runtime.makeDefault().context

const failures = new WeakMap<Copas.Copas, Array<unknown>>()

/**
 * A fresh Copas instance (its own scheduler) on the live network services,
 * whose default error handler records failures for `loop` to rethrow.
 */
export const makeCopas = (): Copas.Copas => {
  const c = Copas.make(Runtime.make(services))
  const seen: Array<unknown> = []
  failures.set(c, seen)
  c.seterrorhandler((e) => void seen.push(e), true)
  return c
}

/** Runs `c.loop(init)` and rethrows the first error a thread reported to the default handler. */
export const loop = async (c: Copas.Copas, init?: Body): Promise<void> => {
  await c.loop(init)
  const seen = failures.get(c) ?? []
  if (seen.length > 0) throw seen[0]
}

/** A fresh socketloop over a fresh Copas instance. */
export const makeSocketloop = (): Socketloop.Socketloop => Socketloop.make(makeCopas())

/** Runs promise code as a live test, failing it after `seconds`. */
export const bounded = (body: () => Promise<void>, seconds = 15) =>
  Effect.tryPromise(body).pipe(Effect.timeout(`${seconds} seconds`))

/** Seconds elapsed since `start` (a `performance.now()` reading). */
export const since = (start: number): number => (performance.now() - start) / 1000

/** The `CopasError` a call rejects with (fails the test if it resolves or rejects with anything else). */
export const errOf = async (p: Promise<unknown>): Promise<CopasError> => {
  try {
    await p
  } catch (e) {
    assert.instanceOf(e, CopasError)
    return e as CopasError
  }
  throw new Error("expected a rejection")
}
