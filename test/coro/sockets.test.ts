import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import * as NodeDns from "@effect/platform-node/NodeDns"
import * as Layer from "effect/Layer"
import * as Copas from "../../src/coro/copas.ts"
import type { Server } from "../../src/coro/copas.ts"
import * as Tcp from "../../src/net/Tcp.ts"
import * as Udp from "../../src/net/Udp.ts"
import { CopasError, tuple } from "../../src/coro/Errors.ts"
import type { TcpSocket, UdpSocket } from "../../src/coro/Socket.ts"
import { Certs, CertsLive } from "../net/certs.ts"
import { freePort, spawnProcess, TcpLive } from "../net/support.ts"
import { bounded, errOf, loop, makeCopas, since } from "./support.ts"

const certsRuntime = ManagedRuntime.make(CertsLive)
afterAll(() => certsRuntime.dispose())
const certs = () => certsRuntime.runPromise(Effect.service(Certs))

/** A raw Node client that sends `data`, then returns everything it receives until the server closes. */
const rawExchange = (port: number, data: string, end = true) =>
  new Promise<string>((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => {
      socket.write(data)
      if (end) socket.end()
    })
    let got = ""
    socket.on("data", (chunk) => (got += chunk.toString()))
    socket.on("close", () => resolve(got))
    socket.on("error", reject)
  })

describe("copas TCP sockets", () => {
  it.live("a server handler reads lines, counts and everything; its socket closes when it ends", () =>
    bounded(async () => {
      const c = makeCopas()
      const seen: Array<string> = []
      let names: Array<string> = []
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        names = [c.getthreadname()!, skt.name]
        seen.push(await skt.receive()) // default "*l", CR dropped
        seen.push(await skt.receive("*l", "pre:"))
        seen.push(await skt.receive(3))
        seen.push(await skt.receive(5, "ab")) // the prefix counts toward n
        seen.push(await skt.receive("*a"))
        await skt.send("bye\n")
      }, undefined, "srv") as Server
      let reply = ""
      c.addthread(async () => {
        reply = await rawExchange(server.address.port, "one\r\ntwo\nxyz12345the rest")
        c.removeserver(server)
      })
      await loop(c)
      assert.deepStrictEqual(seen, ["one", "pre:two", "xyz", "ab123", "45the rest"])
      assert.strictEqual(reply, "bye\n")
      assert.deepStrictEqual(names, ["srv:handler_1", "srv:client_1"])
    }))

  it.live("a client thread connects, sends a slice, and reads the echo; the peer hanging up is 'closed' with the partial", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        for (;;) await skt.send(`${await skt.receive()}\n`)
      }) as Server
      const log: Array<unknown> = []
      c.addthread(async () => {
        const skt = c.tcp()
        assert.strictEqual(await skt.connect("127.0.0.1", server.address.port), 1)
        log.push((await errOf(skt.connect("127.0.0.1", server.address.port))).err)
        log.push(await skt.send("xxhello\nyy", 3, 8)) // bytes 3..8: "hello\n"
        log.push(await skt.receive())
        skt.close()
        log.push((await errOf(skt.receive())).err)
        const other = c.tcp()
        await other.connect("127.0.0.1", server.address.port)
        await other.send("no newline")
        c.removeserver(server)
        log.push(skt.close())
        other.close()
      })
      await loop(c)
      assert.deepStrictEqual(log, ["already connected", 8, "hello", "closed", 1])
    }))

  it.live("a receive that times out rejects with 'timeout' and the partial data; timeout 0 means none", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        await skt.send("abc")
        await c.pause(0.4)
        await skt.send("def\n")
        await skt.receive() // until the client closes
      }) as Server
      const log: Array<unknown> = []
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        skt.settimeout(0.1)
        assert.deepStrictEqual(skt.gettimeouts(), [0.1, 0.1, 0.1])
        const start = performance.now()
        const e = await errOf(skt.receive())
        log.push(e.err, e.partial, since(start) >= 0.09 && since(start) < 0.35)
        // the partial data was consumed: pass it back as the prefix
        skt.settimeouts(undefined, undefined, -1)
        assert.deepStrictEqual(skt.gettimeouts(), [0.1, 0.1, undefined])
        log.push(await skt.receive("*l", e.partial))
        assert.throws(() => skt.settimeout("x" as any))
        skt.close()
        c.removeserver(server)
      })
      await loop(c)
      assert.deepStrictEqual(log, ["timeout", "abc", true, "abcdef"])
    }))

  it.live("receivepartial returns as soon as some bytes arrive", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        await skt.send("12")
        await c.pause(0.1)
        await skt.send("345678")
        await skt.receive()
      }) as Server
      const log: Array<unknown> = []
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        const [data, err, partial] = await tuple(skt.receivepartial(5))
        log.push(data, err, partial)
        log.push(await skt.receivepartial(5, partial as string))
        skt.close()
        c.removeserver(server)
      })
      await loop(c)
      assert.deepStrictEqual(log, [undefined, "timeout", "12", "12345"])
    }))

  it.live("close wakes a reader blocked on the same socket at once", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        await skt.receive()
      }) as Server
      let err = ""
      let waited = 0
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        c.addthread(async () => {
          await c.pause(0.1)
          skt.close()
        })
        const start = performance.now()
        err = (await errOf(skt.receive())).err
        waited = since(start)
        c.removeserver(server)
      })
      await loop(c)
      assert.strictEqual(err, "closed")
      assert.isTrue(waited < 0.5, String(waited))
    }))

  it.live("cancelall closes a socket with a blocked reader, and the loop returns", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        await skt.receive()
      }) as Server
      let err = ""
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        err = (await errOf(skt.receive())).err
      })
      c.addthread(async () => {
        await c.pause(0.1)
        c.cancelall()
      })
      await loop(c)
      assert.strictEqual(err, "closed")
    }))

  it.live("connect failures reject with Copas's strings", () =>
    bounded(async () => {
      const c = makeCopas()
      const port = await Effect.runPromise(freePort)
      const log: Array<string> = []
      c.addthread(async () => {
        log.push((await errOf(c.tcp().connect("127.0.0.1", port))).err)
        log.push((await errOf(c.tcp().connect("no-such-host.invalid", port))).err)
      })
      await loop(c)
      assert.deepStrictEqual(log, ["connection refused", "host not found"])
    }))

  it.live("a large transfer does not starve a pausing thread", () =>
    bounded(async () => {
      const c = makeCopas()
      const chunk = Buffer.alloc(1024 * 1024, "A")
      const total = 32 * chunk.length
      let received = 0
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        // small reads: most find their data already buffered, so only the fairness yields let others run
        while (received < total) received += (await skt.receive(Math.min(4096, total - received))).length
        c.removeserver(server)
      }) as Server
      let done = false
      const lateness: Array<number> = []
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        for (let i = 0; i < 32; i++) await skt.send(chunk)
        assert.strictEqual(await skt.send("xxabcxx", 3, 5), 5)
        skt.close()
      })
      c.addthread(async () => {
        while (received < total) lateness.push((await c.pause(0.01)) - 0.01)
        done = true
      })
      await loop(c)
      assert.isTrue(done)
      assert.strictEqual(received, total)
      assert.isTrue(lateness.length >= 2, `the ticker ran ${lateness.length} times`)
      assert.isTrue(Math.max(...lateness) < 0.5, `a tick was ${Math.max(...lateness)} s late`)
    }))

  it.live("removeserver with keepOpen stops serving; the server can be added again", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.bind("127.0.0.1", 0)
      await c.addserver(server, async (skt: TcpSocket) => skt.send("first\n"))
      assert.isTrue(c.removeserver(server, true) === true)
      await c.addserver(server, async (skt: TcpSocket) => skt.send("second\n"))
      let reply = ""
      c.addthread(async () => {
        reply = await rawExchange(server.address.port, "")
        assert.strictEqual(c.removeserver(server), 1)
      })
      await loop(c)
      assert.strictEqual(reply, "second\n")
    }))

  it.live("shutdown stops every server and exits; a running handler finishes first", () =>
    bounded(async () => {
      const c = makeCopas()
      let finished = false
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        await skt.receive()
        c.shutdown()
        await c.pause(0.05)
        finished = true
      })
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        await skt.send("go\n")
        await tuple(skt.receive())
        skt.close()
      })
      await loop(c)
      assert.isTrue(finished)
      assert.isTrue(c.exiting())
    }))

  it.live("a python3 client talks to a Copas echo server", () =>
    Effect.gen(function*() {
      const c = makeCopas()
      const server = (yield* Effect.promise(() =>
        c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
          for (;;) await skt.send(`${(await skt.receive()).toUpperCase()}\n`)
        })
      )) as Server
      const loopDone = c.loop()
      const py = yield* spawnProcess("python3", [
        "-c",
        [
          "import socket,sys",
          `s=socket.create_connection(('127.0.0.1',${server.address.port}))`,
          "f=s.makefile('rw')",
          "for w in ['one','two']:",
          "  f.write(w+'\\n'); f.flush(); print(f.readline().strip(), flush=True)",
          "s.close()"
        ].join("\n")
      ])
      assert.strictEqual(yield* py.line, "ONE")
      assert.strictEqual(yield* py.line, "TWO")
      assert.strictEqual(yield* py.exited, 0)
      c.removeserver(server)
      yield* Effect.promise(() => loopDone)
    }).pipe(Effect.scoped, Effect.timeout("15 seconds")))
})

describe("copas bridges over the network", () => {
  it.live("an Effect Tcp.serve handler runs the old coroutine handler through toEffect and wrap", () =>
    Effect.gen(function*() {
      const copas = yield* Copas.makeEffect
      const legacy = async (skt: TcpSocket) => {
        for (;;) await skt.send(`${(await skt.receive()).toUpperCase()}\n`)
      }
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: (conn) => copas.toEffect(legacy, copas.wrap(conn))
      })
      const reply = yield* Effect.promise(() => rawExchange(server.address.port, "abc\n"))
      assert.strictEqual(reply, "ABC\n")
    }).pipe(Effect.provide(TcpLive.pipe(Layer.provideMerge(Udp.layer), Layer.provideMerge(NodeDns.layer))), Effect.timeout("15 seconds")))
})

describe("copas UDP sockets", () => {
  it.live("a UDP server handler echoes datagrams; receivefrom times out; close is a no-op on its socket", () =>
    bounded(async () => {
      const c = makeCopas()
      const server = await c.udp("127.0.0.1", 0)
      const port = server.getsockname()[1]
      let closed: unknown
      await c.addserver(server, async (skt: UdpSocket) => {
        for (;;) {
          const [data, ip, from] = await skt.receivefrom()
          if (data === "quit") break
          await skt.sendto(data.toUpperCase(), ip, from)
        }
        closed = skt.close()
      }, undefined, "udp")
      const log: Array<unknown> = []
      c.addthread(async () => {
        const client = await c.udp("127.0.0.1", 0)
        client.settimeout(1)
        await client.sendto("ping", "127.0.0.1", port)
        const [data, ip, from] = await client.receivefrom()
        log.push(data, ip, from === port)
        await client.setpeername("127.0.0.1", port)
        await client.send("pong")
        log.push(await client.receive())
        client.settimeout(0.1)
        log.push((await errOf(client.receive())).err)
        await client.send("quit")
        client.close()
      })
      await loop(c)
      assert.deepStrictEqual(log, ["PING", "127.0.0.1", true, "PONG", "timeout"])
      assert.isTrue(closed === true)
      // the server's socket is still open after the handler's close: it still receives
      const probe = Dgram.createSocket("udp4")
      await new Promise<void>((resolve, reject) => probe.send("x", port, "127.0.0.1", (e) => (e ? reject(e) : resolve())))
      probe.close()
      server.keepOpen = false
      assert.isTrue(server.close())
    }))
})

describe("copas TLS", () => {
  it.live("copas.handler does the server handshake; a wrapped client connects with LuaSec-style params", () =>
    bounded(async () => {
      const k = await certs()
      const c = makeCopas()
      const failures: Array<string> = []
      c.seterrorhandler((e, t) => void failures.push(`${t.name}: ${(e as CopasError).err}`), true)
      const sparams = { mode: "server" as const, key: k.server.keyFile, certificate: k.server.certFile }
      const server = await c.addserver(
        { host: "127.0.0.1", port: 0 },
        c.handler(async (skt: TcpSocket) => {
          for (;;) await skt.send(`${await skt.receive()}!\n`)
        }, sparams)
      ) as Server
      const log: Array<unknown> = []
      c.addthread(async () => {
        const skt = c.tcp({ mode: "client", cafile: k.caFile, verify: "peer" })
        await skt.connect("localhost", server.address.port)
        log.push(skt.tls?.protocol?.startsWith("TLS"))
        await skt.send("hi\n")
        log.push(await skt.receive())
        skt.close()
        // an untrusted server: the handshake failure rejects with Copas's message
        const bad = c.tcp({ mode: "client" })
        log.push((await errOf(bad.connect("localhost", server.address.port))).err.startsWith("TLS/SSL handshake failed"))
        bad.close()
        c.removeserver(server)
      })
      await loop(c)
      assert.deepStrictEqual(log, [true, "hi!", true])
      // the server side of the refused handshake failed in its handler thread, reported as in Copas
      assert.strictEqual(failures.length, 1)
      assert.match(failures[0]!, /^server: \d+:handler_2: TLS\/SSL handshake failed/)
    }))

  it.live("openssl s_client talks to a Copas TLS server", () =>
    Effect.gen(function*() {
      const k = yield* Effect.promise(certs)
      const c = makeCopas()
      const server = (yield* Effect.promise(() =>
        c.addserver(
          { host: "127.0.0.1", port: 0 },
          c.handler(async (skt: TcpSocket) => {
            for (;;) await skt.send(`echo:${await skt.receive()}\n`)
          }, { mode: "server", key: k.server.keyFile, certificate: k.server.certFile })
        )
      )) as Server
      const loopDone = c.loop()
      const ssl = yield* spawnProcess("openssl", [
        "s_client", "-quiet", "-connect", `127.0.0.1:${server.address.port}`, "-CAfile", k.caFile,
        "-verify_return_error", "-servername", "localhost"
      ])
      ssl.stdin.write("hello\n")
      assert.strictEqual(yield* ssl.line, "echo:hello")
      ssl.child.kill("SIGTERM") // -quiet ignores the end of stdin: hang up by stopping it
      c.removeserver(server)
      yield* Effect.promise(() => loopDone)
    }).pipe(Effect.scoped, Effect.timeout("15 seconds")))

  it.live("dohandshake upgrades a plain connection (STARTTLS) on both sides", () =>
    bounded(async () => {
      const k = await certs()
      const c = makeCopas()
      const server = await c.addserver({ host: "127.0.0.1", port: 0 }, async (skt: TcpSocket) => {
        assert.strictEqual(await skt.receive(), "STARTTLS")
        await skt.send("GO\n")
        await skt.dohandshake({ mode: "server", key: k.server.keyFile, certificate: k.server.certFile })
        await skt.send(`secure:${await skt.receive()}\n`)
      }) as Server
      let reply = ""
      c.addthread(async () => {
        const skt = c.tcp()
        await skt.connect("127.0.0.1", server.address.port)
        await skt.send("STARTTLS\n")
        await skt.receive()
        await skt.dohandshake({ mode: "client", cafile: k.caFile, servername: "localhost" })
        await skt.send("x\n")
        reply = await skt.receive()
        skt.close()
        c.removeserver(server)
      })
      await loop(c)
      assert.strictEqual(reply, "secure:x")
    }))
})
