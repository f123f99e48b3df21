import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { CopasError } from "../../src/coro/Errors.ts"
import type { Thread } from "../../src/coro/Thread.ts"
import { bounded, loop, makeCopas, since } from "./support.ts"

describe("copas loop", () => {
  it.live("addthread defers the body to the next step, in order, with its arguments", () =>
    bounded(async () => {
      const c = makeCopas()
      const log: Array<string> = []
      c.addthread(async (x: string) => void log.push(`a${x}`), "1")
      c.addthread(function*(x: string) {
        log.push(`b${x}`)
      }, "2")
      log.push("added")
      assert.deepStrictEqual(log, ["added"])
      await loop(c)
      assert.deepStrictEqual(log, ["added", "a1", "b2"])
    }))

  it.live("loop runs init as copas_initializer, sets running, and can run again", () =>
    bounded(async () => {
      const c = makeCopas()
      let name: string | undefined
      let running = false
      await loop(c, async () => {
        name = c.getthreadname()
        running = c.running
      })
      assert.strictEqual(name, "copas_initializer")
      assert.isTrue(running)
      assert.isFalse(c.running)
      let again = 0
      for (let i = 0; i < 3; i++) await loop(c, () => void again++)
      assert.strictEqual(again, 3)
    }))

  it.live("two pausing threads alternate strictly", () =>
    bounded(async () => {
      const c = makeCopas()
      const log: Array<string> = []
      for (const name of ["a", "b"]) {
        c.addthread(async () => {
          for (let i = 0; i < 50; i++) {
            log.push(name)
            await c.pause()
          }
        })
      }
      await loop(c)
      assert.strictEqual(log.length, 100)
      for (let i = 0; i < 100; i++) assert.strictEqual(log[i], i % 2 === 0 ? "a" : "b")
    }))

  it.live("pause is accurate and returns the seconds slept (zero is success)", () =>
    bounded(async () => {
      const c = makeCopas()
      const slept: Array<number> = []
      c.addthread(async () => {
        slept.push(await c.pause())
        slept.push(await c.pause(0))
        slept.push(await c.pause(-1))
        const start = performance.now()
        const s = await c.pause(0.2)
        slept.push(s, since(start))
      })
      await loop(c)
      assert.strictEqual(slept.length, 5)
      for (const s of slept.slice(0, 3)) assert.isTrue(s >= 0 && s < 0.1, String(s))
      assert.isTrue(slept[3]! >= 0.199 && slept[3]! < 0.25, `pause(0.2) returned ${slept[3]}`)
      assert.isTrue(slept[4]! >= 0.199 && slept[4]! < 0.25, `pause(0.2) took ${slept[4]}`)
    }))

  it.live("sleepers wake in order of their wake time", () =>
    bounded(async () => {
      const c = makeCopas()
      const order: Array<number> = []
      for (const d of [0.15, 0.05, 0.1]) c.addthread(async () => order.push(await c.pause(d) > 0 ? d : -1))
      await loop(c)
      assert.deepStrictEqual(order, [0.05, 0.1, 0.15])
    }))

  it.live("wakeup ends a pause early and releases pauseforever", () =>
    bounded(async () => {
      const c = makeCopas()
      let slept = -1
      let parked = -1
      const sleeper = c.addthread(async () => void (slept = await c.pause(10)))
      const parker = c.addthread(async () => void (parked = await c.pauseforever()))
      c.addthread(async () => {
        await c.pause(0.1)
        c.wakeup(sleeper)
        c.wakeup(parker)
        c.wakeup(c.current()!) // not paused: no-op
      })
      const start = performance.now()
      await loop(c)
      assert.isTrue(since(start) < 1, "loop waited for the sleeper")
      assert.isTrue(slept >= 0.09 && slept < 1, `pause returned ${slept}`)
      assert.isTrue(parked >= 0.09 && parked < 1, `pauseforever returned ${parked}`)
    }))

  it.live("removethread drops a sleeper at once: it never continues and stops holding the loop", () =>
    bounded(async () => {
      const c = makeCopas()
      let continued = false
      const sleeper = c.addthread(async () => {
        await c.pause(10)
        continued = true
      })
      c.addthread(async () => {
        await c.pause(0.05)
        c.removethread(sleeper)
        c.removethread(sleeper) // again: no-op
      })
      const start = performance.now()
      await loop(c)
      assert.isTrue(since(start) < 1)
      assert.isFalse(continued)
      assert.strictEqual(sleeper.state, "done")
    }))

  it.live("a thread removed before it starts never runs", () =>
    bounded(async () => {
      const c = makeCopas()
      let ran = false
      const t = c.addthread(() => void (ran = true))
      c.removethread(t)
      await loop(c)
      assert.isFalse(ran)
    }))

  it.live("errors go to the thread's handler, then the default one, and never stop the loop", () =>
    bounded(async () => {
      const c = makeCopas()
      const seen: Array<string> = []
      const previous = c.geterrorhandler()
      c.seterrorhandler((e, t) => void seen.push(`default:${(e as Error).message}:${t.name}`), true)
      try {
        c.addnamedthread("own", async () => {
          c.seterrorhandler((e, t) => void seen.push(`own:${(e as Error).message}:${t.name}`))
          await c.pause()
          throw new Error("boom")
        })
        c.addnamedthread("plain", async () => {
          await c.pause()
          throw new Error("bang")
        })
        c.addnamedthread("cleared", () => {
          c.seterrorhandler(() => void seen.push("never"))
          c.seterrorhandler()
          throw new Error("pow")
        })
        c.addnamedthread("gen", function*() {
          yield c.pause()
          throw new Error("gen")
        })
        c.addnamedthread("bad handler", () => {
          c.seterrorhandler(() => {
            throw new Error("handler failed")
          })
          throw new Error("first")
        })
        let after = false
        c.addthread(async () => {
          await c.pause(0.05)
          after = true
        })
        await loop(c)
        assert.isTrue(after)
        assert.sameMembers(seen, [
          "own:boom:own",
          "default:bang:plain",
          "default:pow:cleared",
          "default:gen:gen"
        ])
      } finally {
        c.seterrorhandler(previous, true)
      }
    }))

  it.live("gettraceback names the thread and the socket", () =>
    bounded(async () => {
      const c = makeCopas()
      let text = ""
      c.addnamedthread("worker", () => void (text = c.gettraceback(new Error("oops"), undefined, { name: "sock" })))
      await loop(c)
      assert.isTrue(text.startsWith("oops (coroutine: worker, socket: sock)"), text)
    }))

  it.live("a raw generator yield fails the thread with Copas's message", () =>
    bounded(async () => {
      const c = makeCopas()
      let message = ""
      c.seterrorhandler((e) => void (message = (e as Error).message), true)
      try {
        c.addthread(function*() {
          yield 42
        })
        await loop(c)
      } finally {
        c.seterrorhandler((e, t, s) => void process.stderr.write(c.gettraceback(e, t, s)), true)
      }
      assert.strictEqual(message, "coroutine.yield was called without a resume first, user-code cannot yield to Copas")
    }))

  it.live("threads parked without a timeout do not keep the loop alive; exit releases waitforexit", () =>
    bounded(async () => {
      const c = makeCopas()
      const log: Array<string> = []
      c.addthread(async () => {
        await c.pauseforever()
        log.push("never")
      })
      c.addthread(async () => {
        await c.waitforexit()
        log.push(`released:${c.exiting()}`)
        // work scheduled after the exit completes before the loop returns
        await c.pause(0.05)
        log.push("after exit")
      })
      await loop(c)
      assert.deepStrictEqual(log, ["released:true", "after exit"])
      // each loop resets the exit state
      let exitingAtStart = true
      await loop(c, () => void (exitingAtStart = c.exiting()))
      assert.isFalse(exitingAtStart)
    }))

  it.live("exit from a thread releases waiters while other work goes on", () =>
    bounded(async () => {
      const c = makeCopas()
      const log: Array<string> = []
      c.addthread(async () => {
        await c.waitforexit()
        log.push("waiter")
      })
      c.addthread(async () => {
        await c.pause(0.05)
        c.exit()
        c.exit() // idempotent
        log.push("exited")
        await c.pause(0.05)
        log.push("still running")
      })
      await loop(c)
      assert.deepStrictEqual(log, ["exited", "waiter", "still running"])
    }))

  it.live("a parked thread with an armed copas.timeout keeps the loop alive until the callback wakes it", () =>
    bounded(async () => {
      const c = makeCopas()
      let woken = -1
      c.addthread(async () => {
        c.timeout(0.1, (t) => c.wakeup(t))
        woken = await c.pauseforever()
      })
      await loop(c)
      assert.isTrue(woken >= 0.09 && woken < 1, String(woken))
    }))

  it.live("copas.timeout is replaced by the next call, cancelled by 0, and rejects negative delays", () =>
    bounded(async () => {
      const c = makeCopas()
      const fired: Array<string> = []
      let negative: unknown
      c.addthread(async () => {
        c.timeout(0.05, () => fired.push("first"))
        c.timeout(0.1, () => fired.push("second"))
        await c.pause(0.2)
        c.timeout(0.05, () => fired.push("cancelled"))
        c.timeout(0)
        try {
          c.timeout(-1, () => {})
        } catch (e) {
          negative = e
        }
        await c.pause(0.1)
      })
      await loop(c)
      assert.deepStrictEqual(fired, ["second"])
      assert.instanceOf(negative, CopasError)
    }))

  it.live("errors in copas.timeout callbacks go to the default handler as copas_core_timer", () =>
    bounded(async () => {
      const c = makeCopas()
      let seen = ""
      c.seterrorhandler((e, t) => void (seen = `${(e as Error).message}:${t.name}`), true)
      try {
        c.addthread(async () => {
          c.timeout(0.05, () => {
            throw new Error("late")
          })
          await c.pause(0.1)
        })
        await loop(c)
      } finally {
        c.seterrorhandler((e, t, s) => void process.stderr.write(c.gettraceback(e, t, s)), true)
      }
      assert.strictEqual(seen, "late:copas_core_timer")
    }))

  it.live("cancelall drops sleepers and ends the loop; the next loop is normal", () =>
    bounded(async () => {
      const c = makeCopas()
      let continued = false
      c.addthread(async () => {
        await c.pause(10)
        continued = true
      })
      c.addthread(async () => {
        await c.pause(0.05)
        c.cancelall()
      })
      const start = performance.now()
      await loop(c)
      assert.isTrue(since(start) < 1)
      assert.isFalse(continued)
      let ran = false
      await loop(c, async () => {
        await c.pause(0.01)
        ran = true
      })
      assert.isTrue(ran)
    }))

  it.live("step waits for the next sleeper, bounded by its timeout, and reports no socket events", () =>
    bounded(async () => {
      const c = makeCopas()
      let done = false
      c.addthread(async () => {
        await c.pause(0.1)
        done = true
      })
      assert.isFalse(await c.step(0)) // starts the thread: it sleeps
      assert.isFalse(done)
      const start = performance.now()
      assert.isFalse(await c.step(1))
      assert.isTrue(done)
      assert.isTrue(since(start) >= 0.09 && since(start) < 0.5)
      const idle = performance.now()
      assert.isFalse(await c.step(0.05))
      assert.isTrue(since(idle) >= 0.04)
      assert.isTrue(c.finished())
    }))

  it.live("status counts threads by state", () =>
    bounded(async () => {
      const c = makeCopas()
      let seen: ReturnType<typeof c.status> | undefined
      c.addthread(() => c.pause(1))
      c.addthread(() => c.pauseforever())
      c.addthread(async () => {
        await c.pause(0.05)
        seen = c.status()
        c.cancelall()
      })
      await loop(c)
      assert.isDefined(seen)
      assert.strictEqual(seen!.timer, 1)
      assert.strictEqual(seen!.inactive, 1)
      assert.isTrue(seen!.running)
    }))

  it.live("thread names can be set and read", () =>
    bounded(async () => {
      const c = makeCopas()
      let names: Array<string | undefined> = []
      const t: Thread = c.addthread(() => {
        c.setthreadname("renamed")
        names = [c.getthreadname(), c.getthreadname(t)]
      })
      await loop(c)
      assert.deepStrictEqual(names, ["renamed", "renamed"])
    }))
})

describe("copas bridges", () => {
  it.live("fromEffect runs an Effect in the thread's fiber; failures reject with the typed error", () =>
    bounded(async () => {
      const c = makeCopas()
      const results: Array<unknown> = []
      c.addthread(async () => {
        results.push(await c.fromEffect(Effect.succeed(41).pipe(Effect.map((n) => n + 1))))
        try {
          await c.fromEffect(Effect.fail({ _tag: "Nope" as const }))
        } catch (e) {
          results.push((e as { _tag: string })._tag)
        }
      })
      c.addthread(function*() {
        results.push(yield Effect.sleep(10).pipe(Effect.as("from a generator")))
      })
      await loop(c)
      assert.sameMembers(results, [42, "Nope", "from a generator"])
    }))

  it.live("coroutines run by toEffect without a loop can wait on a lock", () =>
    Effect.gen(function*() {
      const c = makeCopas()
      const lock = c.lock.new()
      const holder = yield* Effect.forkChild(c.toEffect(async () => {
        await lock.get()
        await c.fromEffect(Effect.sleep(50))
        await lock.release()
      }))
      yield* Effect.sleep(10)
      const waited = yield* c.toEffect<number>(() => lock.get())
      assert.isTrue(waited > 0)
      yield* Fiber.join(holder)
    }).pipe(Effect.timeout("10 seconds")))

  it.live("toEffect runs a coroutine as an Effect, with Copas calls inside", () =>
    Effect.gen(function*() {
      const c = makeCopas()
      const lock = c.lock.new()
      const value = yield* c.toEffect<number>(async (x: number) => {
        // the coroutine runs in this Effect's fiber: the lock is owned by it
        assert.strictEqual(await lock.get(), 0)
        await lock.release()
        return x * 2
      }, 21)
      assert.strictEqual(value, 42)
      const failure = yield* Effect.flip(c.toEffect(function*() {
        yield Effect.void
        throw new Error("inside")
      }))
      assert.strictEqual((failure as Error).message, "inside")
    }).pipe(Effect.timeout("10 seconds")))
})
