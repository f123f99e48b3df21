import { assert, describe, it } from "@effect/vitest"
import { CopasError, tuple } from "../../src/coro/Errors.ts"
import { bounded, errOf, loop, makeCopas, since } from "./support.ts"

const thrown = (f: () => unknown): CopasError => {
  try {
    f()
  } catch (e) {
    assert.instanceOf(e, CopasError)
    return e as CopasError
  }
  throw new Error("expected a throw")
}

describe("copas.lock", () => {
  it.live("get returns 0 when free, times out with the time waited, and release checks the owner", () =>
    bounded(async () => {
      const c = makeCopas()
      const log: Array<unknown> = []
      c.addthread(async () => {
        const lock = c.lock.new(undefined, true) // not re-entrant
        log.push(await lock.get())
        // Copas would deadlock until the timeout; fiberloop detects it
        log.push((await errOf(lock.get(1))).err)
        log.push(await lock.release())
        log.push((await errOf(lock.release())).err)
        log.push(await lock.get())
        log.push(lock.destroy())
        log.push((await errOf(lock.release())).err)
      })
      c.addthread(async () => {
        const lock = c.lock.new(0.3)
        c.addthread(async () => {
          await lock.get()
          await c.pause(0.5)
          await lock.release()
        })
        await c.pause(0.05) // the other thread holds it
        const start = performance.now()
        const e = await errOf(lock.get())
        log.push(`${e.err}:${e.waited! >= 0.29 && e.waited! < 0.5}:${since(start) > 0.29}`)
      })
      await loop(c)
      assert.deepStrictEqual(log, [
        0,
        "lock is not re-entrant",
        true,
        "cannot release a lock not owned",
        0,
        true,
        "destroyed",
        "timeout:true:true"
      ])
    }))

  it.live("waiters succeed in order, time out, or see destroyed (Copas's lock test, scaled)", () =>
    bounded(async () => {
      const c = makeCopas()
      const size = 150
      const counts = { success: 0, timeout: 0, destroyed: 0 }
      await loop(c, async () => {
        const lock = c.lock.new(10)
        assert.strictEqual(await lock.get(), 0)
        let left = size
        for (let i = 1; i <= size; i++) {
          c.addthread(async () => {
            const timeout = i > (size * 2) / 3 ? 12 : i > size / 3 ? 0.4 : 0.2
            const [waited, err] = await tuple(lock.get(timeout))
            if (waited !== undefined) {
              counts.success++
              if (i === size / 3) {
                await c.pause(0.6) // long enough for the second third to time out
                await lock.release()
                lock.destroy() // the last third sees "destroyed"
              } else {
                await lock.release()
              }
            } else if (err === "timeout") counts.timeout++
            else if (err === "destroyed") counts.destroyed++
            left--
          })
        }
        await lock.release()
        while (left > 0) await c.pause(0.05)
      })
      assert.deepStrictEqual(counts, { success: size / 3, timeout: size / 3, destroyed: size / 3 })
    }))

  it.live("a removed waiter does not take the lock from the waiters behind it", () =>
    bounded(async () => {
      const c = makeCopas()
      let result = ""
      await loop(c, async () => {
        const lock = c.lock.new(5)
        await lock.get()
        const cancelled = c.addthread(() => lock.get())
        c.addthread(async () => {
          const [ok, err] = await tuple(lock.get())
          result = ok !== undefined ? "got it" : err
          if (ok !== undefined) await lock.release()
        })
        await c.pause(0.1)
        c.removethread(cancelled)
        await lock.release()
        await c.pause(0.1)
      })
      assert.strictEqual(result, "got it")
    }))

  it.live("a thread waiting with a timeout keeps the loop alive", () =>
    bounded(async () => {
      const c = makeCopas()
      let err = ""
      c.addthread(async () => {
        const lock = c.lock.new()
        await lock.get()
        c.addthread(async () => void (err = (await errOf(lock.get(0.2))).err))
        await c.pauseforever() // holds the lock; parked, so only the waiter's timeout keeps the loop
      })
      const start = performance.now()
      await loop(c)
      assert.strictEqual(err, "timeout")
      assert.isTrue(since(start) >= 0.19)
    }))

  it.live("lock.new rejects a negative timeout", () =>
    bounded(async () => {
      const c = makeCopas()
      assert.strictEqual(thrown(() => c.lock.new(-1)).err, "timeout must be >= 0")
    }))
})

describe("copas.semaphore", () => {
  it.live("take and give, FIFO with head-of-line blocking, too many, timeouts, destroy", () =>
    bounded(async () => {
      const c = makeCopas()
      const log: Array<unknown> = []
      await loop(c, async () => {
        const sema = c.semaphore.new(10, 5, 1)
        assert.strictEqual(sema.get_count(), 5)
        assert.isTrue(await sema.take(2))
        assert.strictEqual(sema.get_count(), 3)
        assert.strictEqual((await errOf(sema.take(11))).err, "too many")
        assert.strictEqual((await errOf(sema.take(4, 0))).err, "timeout")
        // a big request at the head blocks a small one behind it
        c.addthread(async () => {
          await sema.take(5)
          log.push("big")
        })
        c.addthread(async () => {
          await sema.take(1)
          log.push("small")
        })
        await c.pause(0.05)
        assert.deepStrictEqual(log, [])
        assert.strictEqual(sema.get_wait(), 6 - 3)
        assert.isTrue(sema.give(3))
        await c.pause(0.05)
        assert.deepStrictEqual(log, ["big", "small"])
        // giving beyond max caps the count and says so
        assert.strictEqual(thrown(() => sema.give(20)).err, "too many")
        assert.strictEqual(sema.get_count(), 10)
        const start = performance.now()
        await sema.take(10)
        const e = await errOf(sema.take(1, 0.2))
        assert.strictEqual(e.err, "timeout")
        assert.isTrue(since(start) >= 0.19)
        c.addthread(async () => void log.push((await errOf(sema.take(1))).err))
        await c.pause(0.05)
        assert.isTrue(sema.destroy())
        await c.pause(0.05)
        assert.strictEqual(thrown(() => sema.give()).err, "destroyed")
        assert.strictEqual(thrown(() => sema.get_count()).err, "destroyed")
      })
      assert.deepStrictEqual(log, ["big", "small", "destroyed"])
    }))

  it.live("semaphore.new validates its arguments", () =>
    bounded(async () => {
      const c = makeCopas()
      assert.strictEqual(thrown(() => c.semaphore.new(0)).err, "max must be >= 1")
      assert.strictEqual(thrown(() => c.semaphore.new(1, 0, -1)).err, "timeout must be >= 0")
    }))
})

describe("copas.queue", () => {
  it.live("push and pop, undefined items, pop timeouts, stop, destroy", () =>
    bounded(async () => {
      const c = makeCopas()
      await loop(c, async () => {
        const q = c.queue.new({ name: "q" })
        assert.strictEqual(q.name, "q")
        assert.isTrue(q.push(1))
        assert.isTrue(q.push(undefined))
        assert.strictEqual(q.get_size(), 2)
        assert.strictEqual(await q.pop(), 1)
        assert.strictEqual(await q.pop(), undefined)
        assert.strictEqual((await errOf(q.pop(0))).err, "timeout")
        const start = performance.now()
        assert.strictEqual((await errOf(q.pop(0.1))).err, "timeout")
        assert.isTrue(since(start) >= 0.09)
        c.addthread(async () => q.push("late"))
        assert.strictEqual(await q.pop(), "late")
        q.push("x")
        assert.isTrue(q.stop())
        assert.strictEqual(thrown(() => q.push("y")).err, "stopping")
        assert.strictEqual(await q.pop(), "x")
        // stopped and empty: the queue destroyed itself
        assert.strictEqual((await errOf(q.pop())).err, "destroyed")
        const q2 = c.queue.new()
        assert.isTrue(q2.name.startsWith("copas_queue_"))
        c.addthread(async () => void (await errOf(q2.pop(Infinity))))
        await c.pause()
        assert.isTrue(q2.destroy())
        assert.strictEqual(thrown(() => q2.get_size()).err, "destroyed")
        assert.strictEqual(thrown(() => q2.push(1)).err, "destroyed")
      })
    }))

  it.live("workers handle every item; finish waits for the last one; a failing item goes to the error handler", () =>
    bounded(async () => {
      const c = makeCopas()
      const handled: Array<number> = []
      const errors: Array<string> = []
      let workerName = ""
      await loop(c, async () => {
        const q = c.queue.new({ name: "jobs" })
        const worker = q.add_worker(async (n: number) => {
          c.seterrorhandler((e) => void errors.push((e as Error).message))
          await c.pause(0.01)
          if (n === 3) throw new Error("three")
          handled.push(n)
        })
        workerName = worker.name
        for (let i = 1; i <= 5; i++) q.push(i)
        assert.isTrue(await q.finish(5))
        assert.strictEqual(thrown(() => q.push(6)).err, "destroyed")
      })
      assert.deepStrictEqual(handled, [1, 2, 4, 5])
      assert.deepStrictEqual(errors, ["three"])
      assert.strictEqual(workerName, "jobs:worker_1")
    }))

  it.live("finish times out and destroys, unless asked not to", () =>
    bounded(async () => {
      const c = makeCopas()
      await loop(c, async () => {
        const q = c.queue.new()
        q.add_worker(() => c.pause(0.5))
        q.push(1)
        q.push(2)
        assert.strictEqual((await errOf(q.finish(0.1, true))).err, "timeout")
        assert.strictEqual(q.get_size() >= 0, true)
        assert.strictEqual((await errOf(q.finish(0.1))).err, "timeout")
        assert.strictEqual(thrown(() => q.get_size()).err, "destroyed")
      })
    }))

  it.live("an idle worker does not keep the loop alive", () =>
    bounded(async () => {
      const c = makeCopas()
      const start = performance.now()
      await loop(c, () => {
        const q = c.queue.new()
        q.add_worker(() => undefined)
      })
      assert.isTrue(since(start) < 1)
    }))
})

describe("copas.timer", () => {
  it.live("a one-shot timer fires once, is disarmed before its callback and can re-arm itself", () =>
    bounded(async () => {
      const c = makeCopas()
      const fired: Array<number> = []
      let notArmed = ""
      let rearmed = false
      await loop(c, () => {
        const start = performance.now()
        c.timer.new({
          delay: 0.1,
          params: "p",
          callback: (t, params) => {
            assert.strictEqual(params, "p")
            fired.push(since(start))
            notArmed = thrown(() => t.cancel()).err
            if (!rearmed) {
              rearmed = true
              t.arm(0.05)
            }
          }
        })
      })
      assert.strictEqual(fired.length, 2)
      assert.isTrue(fired[0]! >= 0.09 && fired[0]! < 0.3, String(fired[0]))
      assert.isTrue(fired[1]! >= 0.14, String(fired[1]))
      assert.strictEqual(notArmed, "not armed")
    }))

  it.live("a recurring timer keeps the loop alive, survives callback errors, and stops when cancelled", () =>
    bounded(async () => {
      const c = makeCopas()
      let runs = 0
      const errors: Array<string> = []
      let names: Array<string> = []
      await loop(c, () => {
        const t = c.timer.new({
          delay: 0.02,
          recurring: true,
          name: "ticker",
          errorhandler: (e, thread) => void errors.push(`${(e as Error).message}:${thread.name}`),
          callback: async (timer) => {
            runs++
            names = [c.getthreadname()!]
            if (runs === 2) throw new Error("tick failed")
            if (runs === 4) timer.cancel()
          }
        })
        assert.strictEqual(thrown(() => t.arm()).err, "already armed")
      })
      assert.strictEqual(runs, 4)
      assert.deepStrictEqual(errors, ["tick failed:ticker"])
      assert.deepStrictEqual(names, ["ticker"])
    }))

  it.live("timer.new validates its options", () =>
    bounded(async () => {
      const c = makeCopas()
      assert.strictEqual(thrown(() => c.timer.new({ delay: -1, callback: () => {} })).err, "delay must be a number >= 0")
      assert.strictEqual(
        thrown(() => c.timer.new({ delay: 1, callback: undefined as any })).err,
        "callback must be a function"
      )
    }))
})

describe("copas.future", () => {
  it.live("get and calling give pcall-style results, many times and from many threads", () =>
    bounded(async () => {
      const c = makeCopas()
      const seen: Array<unknown> = []
      await loop(c, async () => {
        const ok = c.future.addthread(async (x: number) => {
          await c.pause(0.05)
          return x * 2
        }, 21)
        const bad = c.future.addnamedthread("bad", function*() {
          yield c.pause(0.01)
          throw new Error("failed")
        })
        assert.deepStrictEqual(ok.try(), [c.future.PENDING])
        c.addthread(async () => void seen.push(await ok.get()))
        seen.push(await ok())
        seen.push(await ok.get())
        assert.deepStrictEqual(ok.try(), [c.future.SUCCESS, 42])
        const [success, error] = await bad.get()
        seen.push([success, (error as Error).message])
        assert.strictEqual(bad.try()[0], c.future.ERROR)
        assert.isFalse(ok.cancel())
      })
      assert.deepStrictEqual(seen, [[true, 42], [true, 42], [true, 42], [false, "failed"]])
    }))

  it.live("cancel stops a pending future; its waiters get cancelled", () =>
    bounded(async () => {
      const c = makeCopas()
      let continued = false
      let result: unknown
      await loop(c, async () => {
        const f = c.future.addthread(async () => {
          await c.pause(10)
          continued = true
        })
        c.addthread(async () => void (result = await f.get()))
        await c.pause(0.05)
        assert.isTrue(f.cancel())
        assert.isFalse(f.cancel())
        await c.pause(0.01)
      })
      assert.isFalse(continued)
      assert.deepStrictEqual(result, [false, "cancelled"])
    }))
})
