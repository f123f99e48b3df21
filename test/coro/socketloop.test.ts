import { assert, describe, it } from "@effect/vitest"
import { CopasError } from "../../src/coro/Errors.ts"
import type { Thread } from "../../src/coro/Thread.ts"
import type { TcpSocket } from "../../src/coro/Socket.ts"
import { bounded, makeSocketloop } from "./support.ts"

describe("socketloop", () => {
  it.live("newthread runs the thread at once, until its first blocking call", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      const log: Array<string> = []
      log.push("before")
      loop.newthread(function*(arg: string) {
        log.push(`gen ${arg}`)
        yield loop.copas.pause(0.01)
        log.push("gen resumed")
      }, "x")
      loop.newthread(async (arg: string) => {
        log.push(`async ${arg}`)
        await loop.copas.pause(0.01)
        log.push("async resumed")
      }, "y")
      log.push("after")
      assert.deepStrictEqual(log, ["before", "gen x", "async y", "after"])
      await loop.copas.loop()
      assert.deepStrictEqual(log.slice(4).sort(), ["async resumed", "gen resumed"])
    }))

  it.live("resume continues a suspended generator synchronously, with its argument as suspend's result", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      const log: Array<unknown> = []
      let me: Thread | undefined
      const waiter = loop.newthread(function*() {
        me = loop.current()
        const got: unknown = yield loop.suspend()
        log.push(`got ${got}`)
        const again: unknown = yield loop.suspend()
        log.push(`again ${again}`)
      })
      assert.strictEqual(me, waiter)
      assert.isUndefined(loop.current())
      log.push("suspended")
      loop.resume(waiter, 42)
      log.push("resumed")
      loop.resume(waiter, "b")
      assert.deepStrictEqual(log, ["suspended", "got 42", "resumed", "again b"])
      assert.strictEqual(waiter.state, "done")
    }))

  it.live("symmetric coroutines: two generator threads hand control to each other", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      const log: Array<string> = []
      let pong: Thread | undefined = undefined
      const ping = loop.newthread(function*() {
        for (let i = 0; i < 3; i++) {
          log.push(`ping ${i}`)
          const reply: unknown = yield loop.suspend()
          log.push(`ping got ${reply}`)
        }
      })
      pong = loop.newthread(function*() {
        for (let i = 0; i < 3; i++) {
          log.push(`pong ${i}`)
          loop.resume(ping, `p${i}`)
        }
      })
      assert.deepStrictEqual(log, [
        "ping 0",
        "pong 0",
        "ping got p0",
        "ping 1",
        "pong 1",
        "ping got p1",
        "ping 2",
        "pong 2",
        "ping got p2"
      ])
      assert.strictEqual(pong.state, "done")
    }))

  it.live("an async thread resumes with the argument in the next microtask", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      let got: unknown
      const t = loop.newthread(async () => {
        got = await loop.suspend()
      })
      loop.resume(t, "value")
      assert.isUndefined(got)
      await Promise.resolve()
      await Promise.resolve()
      await new Promise((r) => setImmediate(r))
      assert.strictEqual(got, "value")
    }))

  it.live("resuming a thread that is not suspended throws", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      const t = loop.newthread(() => loop.copas.pause(0.01))
      assert.throws(() => loop.resume(t, 1), CopasError)
      await loop.copas.loop()
      assert.throws(() => loop.resume(t, 1), CopasError)
    }))

  it.live("newserver, connect, start and stop; step finds nothing pending without sockets", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      assert.isUndefined(await loop.step(0))
      const server = await loop.newserver("127.0.0.1", 0, async (skt: TcpSocket) => {
        for (;;) await skt.send(`${await skt.receive()}\n`)
      })
      const replies: Array<string> = []
      loop.newthread(async () => {
        const skt = await loop.connect("127.0.0.1", server.address.port)
        for (const word of ["a", "b"]) {
          await skt.send(`${word}\n`)
          replies.push(await skt.receive())
        }
        skt.close()
        loop.stop()
      })
      await loop.start()
      assert.deepStrictEqual(replies, ["a", "b"])
      loop.copas.removeserver(server)
      await loop.copas.loop()
      assert.isUndefined(await loop.step(0))
    }))

  it.live("a connect failure rejects", () =>
    bounded(async () => {
      const loop = makeSocketloop()
      let err = ""
      loop.newthread(async () => {
        try {
          await loop.connect("127.0.0.1", 1)
        } catch (e) {
          err = (e as CopasError).err
        }
      })
      await loop.copas.loop()
      assert.strictEqual(err, "connection refused")
    }))
})
