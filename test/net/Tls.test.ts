import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { X509Certificate } from "node:crypto"
import { readFileSync } from "node:fs"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import type * as Connection from "../../src/net/Connection.ts"
import type { ConnectionError, TlsError } from "../../src/net/Errors.ts"
import * as Tcp from "../../src/net/Tcp.ts"
import * as Tls from "../../src/net/Tls.ts"
import { Certs, CertsLive } from "./certs.ts"
import { freePort, rawClient, rawWrite, readToEnd, spawnProcess, TcpLive } from "./support.ts"

// The certificates are made once for the file and removed after it.
const certsRuntime = ManagedRuntime.make(CertsLive)
afterAll(() => certsRuntime.dispose())
const Env = Layer.mergeAll(TcpLive, Layer.effectContext(certsRuntime.contextEffect))

/** Bounds a test and gives it the live TCP service and the certificates. */
const live = <A, E>(effect: Effect.Effect<A, E, Tcp.Tcp | Certs | Scope.Scope>) =>
  effect.pipe(Effect.timeout("20 seconds"), Effect.provide(Env)) as Effect.Effect<A, unknown, Scope.Scope>

/** Waits (bounded in count, and by the test's timeout) until `check` holds. */
const eventually = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 5000 && !check(); i++) yield* Effect.sleep(2)
  })

const fingerprint = (pem: Tls.Pem): string =>
  new X509Certificate(Redacted.value(pem as Redacted.Redacted<string>)).fingerprint256

const flipTls = <A>(effect: Effect.Effect<A, ConnectionError, any>) =>
  Effect.flatMap(Effect.flip(effect), (error) => {
    assert.strictEqual(error._tag, "TlsError", String(error))
    return Effect.succeed(error as TlsError)
  })

/** The typed error in a reported cause. */
const errorOf = (cause: Cause.Cause<unknown>) => {
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" ? (error.value as { _tag?: string; reason?: string; code?: string }) : undefined
}

// =============================================================================
// OpenSSL peers
// =============================================================================

/**
 * `openssl s_server` on a free loopback port, ready once it printed ACCEPT;
 * killed with the scope. Retried (bounded) if another process took the port.
 */
const sServer = (args: ReadonlyArray<string>) => Effect.retry(sServerOnce(args), { times: 3 })

const sServerOnce = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const proc = yield* spawnProcess("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, ...args])
    const ready = Effect.gen(function*() {
      for (let i = 0; i < 100; i++) if ((yield* proc.line) === "ACCEPT") return
    })
    const died = Effect.flatMap(proc.exited, (code) =>
      Effect.fail(new Error(`s_server exited with ${code}: ${proc.stderr()}`)))
    yield* Effect.raceFirst(ready, died)
    return { port, proc }
  })

/** `openssl s_client -quiet` (application data only on stdout); killed with the scope. */
const sClient = (port: number, args: ReadonlyArray<string>) =>
  spawnProcess("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-quiet", ...args])

/** Connects our TLS client, retrying (bounded) while the peer does not listen yet. */
const connectTls = (port: number, tls: Tls.ClientOptions | Tls.ClientContext, host = "127.0.0.1") =>
  Tcp.connect({ host, port, tls }).pipe(
    Effect.retry({
      schedule: Schedule.spaced("20 millis"),
      times: 25,
      while: (error) => error._tag === "ConnectionRefused"
    })
  )

const lineEcho = (conn: Connection.Connection) =>
  Effect.forever(Effect.flatMap(conn.receive(), (line) => conn.send(`${line}\n`)), { disableYield: true })

/** A TLS line echo server that hands out what each handshake negotiated and collects reported failures. */
const tlsServer = (
  tls: Tls.ServerOptions | Tls.ServerContext,
  options?: { readonly handshakeTimeout?: Duration.Input }
) =>
  Effect.gen(function*() {
    const infos = yield* Queue.unbounded<Tls.Info>()
    const failures = yield* Queue.unbounded<Cause.Cause<unknown>>()
    let handled = 0
    const server = yield* Tcp.serve({
      host: "127.0.0.1",
      port: 0,
      drainTimeout: 0,
      tls,
      ...(options?.handshakeTimeout !== undefined && { handshakeTimeout: options.handshakeTimeout }),
      onError: (cause) => Queue.offer(failures, cause).pipe(Effect.asVoid),
      handler: (conn) => {
        handled++
        return Queue.offer(infos, conn.tls!).pipe(Effect.andThen(lineEcho(conn)))
      }
    })
    return { server, port: server.address.port, infos, failures, handled: () => handled }
  })

describe("Tls", () => {
  // ===========================================================================
  describe("client, against openssl s_server", () => {
    it.live("verifies the server and talks through TLS", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* sServer(["-cert", certs.server.certFile, "-key", certs.server.keyFile, "-rev"])
        const conn = yield* connectTls(port, { ca: certs.ca })
        yield* conn.send("hello\n")
        assert.strictEqual(yield* conn.receive(), "olleh")
        const info = conn.tls!
        assert.strictEqual(info.protocol, "TLSv1.3")
        assert.isTrue(info.authorized)
        assert.isString(info.cipher)
        assert.strictEqual(info.peerCertificate?.subject, "localhost")
        assert.strictEqual(info.peerCertificate?.issuer, "fiberloop test CA")
        assert.include(info.peerCertificate?.subjectAltNames ?? [], "IP Address:127.0.0.1")
        assert.strictEqual(info.peerCertificate?.fingerprint256, fingerprint(certs.server.cert))
        assert.isTrue(info.peerCertificate!.validTo.getTime() > Date.now())
      })))

    it.live("rejects a self-signed certificate by default", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* sServer(["-cert", certs.selfSigned.certFile, "-key", certs.selfSigned.keyFile])
        const error = yield* flipTls(connectTls(port, {}))
        assert.strictEqual(error.reason, "CertificateVerify")
        assert.strictEqual(error.code, "DEPTH_ZERO_SELF_SIGNED_CERT")
        assert.strictEqual(error.port, port)
      })))

    it.live("rejects a certificate for another host name", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* sServer(["-cert", certs.other.certFile, "-key", certs.other.keyFile])
        const byAddress = yield* flipTls(connectTls(port, { ca: certs.ca }))
        assert.strictEqual(byAddress.reason, "CertificateVerify")
        assert.strictEqual(byAddress.code, "ERR_TLS_CERT_ALTNAME_INVALID")
        const byName = yield* flipTls(connectTls(port, { ca: certs.ca, servername: "localhost" }))
        assert.strictEqual(byName.code, "ERR_TLS_CERT_ALTNAME_INVALID")
        assert.strictEqual(byName.servername, "localhost")
      })))

    it.live("rejects an expired certificate", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* sServer(["-cert", certs.expired.certFile, "-key", certs.expired.keyFile])
        const error = yield* flipTls(connectTls(port, { ca: certs.ca }))
        assert.strictEqual(error.reason, "CertificateVerify")
        assert.strictEqual(error.code, "CERT_HAS_EXPIRED")
      })))

    it.live("accepts an unverified server only when told to, and warns once", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const warnings: Array<string> = []
        const recorder = Logger.make((options) => {
          if (options.logLevel === "Warn") warnings.push(String(options.message))
        })
        const { port } = yield* sServer(["-cert", certs.selfSigned.certFile, "-key", certs.selfSigned.keyFile])
        const insecure = { rejectUnauthorized: false }
        const conn = yield* connectTls(port, insecure).pipe(Effect.provide(Logger.layer([recorder])))
        assert.isFalse(conn.tls!.authorized)
        assert.strictEqual(conn.tls!.authorizationError, "DEPTH_ZERO_SELF_SIGNED_CERT")
        yield* conn.close
        const { port: port2 } = yield* sServer(["-cert", certs.selfSigned.certFile, "-key", certs.selfSigned.keyFile])
        yield* connectTls(port2, { rejectUnauthorized: false }).pipe(Effect.provide(Logger.layer([recorder])))
        assert.strictEqual(warnings.filter((w) => w.includes("rejectUnauthorized: false")).length, 1)
      })))

    it.live("sends SNI", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* sServer([
          "-cert", certs.server.certFile, "-key", certs.server.keyFile,
          "-servername", "other.test", "-cert2", certs.other.certFile, "-key2", certs.other.keyFile, "-rev"
        ])
        const conn = yield* connectTls(port, { ca: certs.ca, servername: "other.test" })
        assert.strictEqual(conn.tls!.peerCertificate?.subject, "other.test")
        assert.strictEqual(conn.tls!.servername, "other.test")
        yield* conn.send("sni\n")
        assert.strictEqual(yield* conn.receive(), "ins")
        // s_server serves one connection at a time
        yield* conn.close
        const plain = yield* connectTls(port, { ca: certs.ca })
        assert.strictEqual(plain.tls!.peerCertificate?.subject, "localhost")
      })))

    it.live("negotiates ALPN", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* sServer([
          "-cert", certs.server.certFile, "-key", certs.server.keyFile, "-alpn", "h2,http/1.1", "-rev"
        ])
        const conn = yield* connectTls(port, { ca: certs.ca, alpn: ["http/1.1"] })
        assert.strictEqual(conn.tls!.alpn, "http/1.1")
        yield* conn.send("alpn\n")
        assert.strictEqual(yield* conn.receive(), "npla")
      })))

    it.live("times out a server that never answers the ClientHello", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const silent = yield* Effect.acquireRelease(
          Effect.callback<Net.Server>((resume) => {
            const server = Net.createServer((socket) => socket.on("error", () => {}))
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.sync(() => server.close())
        )
        const port = (silent.address() as Net.AddressInfo).port
        // the handshake reads its timeout from the upgrade options, next to `client` (not inside it)
        const socket = yield* rawClient(port)
        const error = yield* flipTls(
          Tls.handshake(socket, { client: { ca: certs.ca, servername: "localhost" }, handshakeTimeout: "200 millis" })
        )
        assert.strictEqual(error.reason, "Timeout")
        assert.strictEqual(error.timeoutMillis, 200)
        assert.isTrue(socket.destroyed)
        // Tcp.connect takes it at the top level, next to `tls`, and passes it to the handshake
        const connected = yield* flipTls(
          Tcp.connect({ host: "127.0.0.1", port, tls: { ca: certs.ca }, handshakeTimeout: "150 millis" })
        )
        assert.strictEqual(connected.reason, "Timeout")
        assert.strictEqual(connected.timeoutMillis, 150)
      })))
  })

  // ===========================================================================
  describe("server, against openssl s_client", () => {
    it.live("serves TLS to openssl s_client", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { infos, port } = yield* tlsServer({ key: certs.server.key, cert: certs.server.cert })
        const client = yield* sClient(port, [
          "-CAfile", certs.caFile, "-verify_return_error", "-servername", "localhost"
        ])
        client.stdin.write("ping\n")
        assert.strictEqual(yield* client.line, "ping")
        const info = yield* Queue.take(infos)
        assert.strictEqual(info.protocol, "TLSv1.3")
        assert.strictEqual(info.servername, "localhost")
        assert.isUndefined(info.peerCertificate)
      })))

    it.live("prefers its own cipher order: a client listing a suite without forward secrecy first gets ECDHE", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { infos, port } = yield* tlsServer({ key: certs.rsa.key, cert: certs.rsa.cert })
        const client = yield* sClient(port, [
          "-CAfile", certs.caFile, "-verify_return_error", "-servername", "localhost",
          "-tls1_2", "-cipher", "AES128-SHA256:ECDHE-RSA-AES128-SHA256"
        ])
        client.stdin.write("ping\n")
        assert.strictEqual(yield* client.line, "ping")
        const info = yield* Queue.take(infos)
        assert.strictEqual(info.protocol, "TLSv1.2")
        assert.strictEqual(info.cipher, "ECDHE-RSA-AES128-SHA256")
      })))

    it.live("follows the client's cipher order with honorCipherOrder: false, and takes a cipher list", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const clientOrder = yield* tlsServer({ key: certs.rsa.key, cert: certs.rsa.cert, honorCipherOrder: false })
        const first = yield* sClient(clientOrder.port, [
          "-CAfile", certs.caFile, "-servername", "localhost", "-tls1_2", "-cipher",
          "AES128-SHA256:ECDHE-RSA-AES128-SHA256"
        ])
        first.stdin.write("ping\n")
        assert.strictEqual(yield* first.line, "ping")
        assert.strictEqual((yield* Queue.take(clientOrder.infos)).cipher, "AES128-SHA256")
        // the server's list decides which suites exist at all
        const restricted = yield* tlsServer({
          key: certs.rsa.key,
          cert: certs.rsa.cert,
          ciphers: "ECDHE-RSA-AES256-GCM-SHA384"
        })
        const second = yield* sClient(restricted.port, [
          "-CAfile", certs.caFile, "-servername", "localhost", "-tls1_2"
        ])
        second.stdin.write("ping\n")
        assert.strictEqual(yield* second.line, "ping")
        assert.strictEqual((yield* Queue.take(restricted.infos)).cipher, "ECDHE-RSA-AES256-GCM-SHA384")
      })))

    it.live("picks the certificate by SNI", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { infos, port } = yield* tlsServer({
          key: certs.server.key,
          cert: certs.server.cert,
          sni: { "OTHER.test": certs.other, "*.wild.test": certs.other }
        })
        for (const name of ["other.test", "a.wild.test", "localhost"]) {
          const client = yield* sClient(port, [
            "-CAfile", certs.caFile, "-verify_return_error", "-servername", name, "-verify_hostname", name
          ])
          client.stdin.write(`to ${name}\n`)
          assert.strictEqual(yield* client.line, `to ${name}`)
          assert.strictEqual((yield* Queue.take(infos)).servername, name)
        }
        // and our own client sees which certificate came back
        const conn = yield* connectTls(port, { ca: certs.ca, servername: "a.wild.test" })
        assert.strictEqual(conn.tls!.peerCertificate?.subject, "other.test")
        const plain = yield* connectTls(port, { ca: certs.ca })
        assert.strictEqual(plain.tls!.peerCertificate?.subject, "localhost")
      })))

    it.live("negotiates ALPN", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { infos, port } = yield* tlsServer({
          key: certs.server.key,
          cert: certs.server.cert,
          alpn: ["h2", "http/1.1"]
        })
        for (const [offer, agreed] of [["http/1.1", "http/1.1"], ["http/1.1,h2", "h2"]] as const) {
          const client = yield* sClient(port, ["-CAfile", certs.caFile, "-verify_return_error", "-alpn", offer])
          client.stdin.write("alpn\n")
          assert.strictEqual(yield* client.line, "alpn")
          assert.strictEqual((yield* Queue.take(infos)).alpn, agreed)
        }
      })))

    it.live("reports garbage instead of a ClientHello as a typed error and keeps serving", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { failures, handled, port, server } = yield* tlsServer({ key: certs.server.key, cert: certs.server.cert })
        const http = yield* rawClient(port)
        yield* rawWrite(http, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert.strictEqual(yield* readToEnd(http), "")
        const first = errorOf(yield* Queue.take(failures))
        assert.strictEqual(first?._tag, "TlsError")
        assert.strictEqual(first?.reason, "Protocol")
        assert.strictEqual(first?.code, "ERR_SSL_HTTP_REQUEST")
        const noise = yield* rawClient(port)
        yield* rawWrite(noise, Buffer.alloc(64, 0x01))
        yield* readToEnd(noise)
        const second = errorOf(yield* Queue.take(failures))
        assert.strictEqual(second?.reason, "Protocol")
        assert.strictEqual(second?.code, "ERR_SSL_WRONG_VERSION_NUMBER")
        // still serving
        const client = yield* sClient(port, ["-CAfile", certs.caFile, "-verify_return_error"])
        client.stdin.write("alive\n")
        assert.strictEqual(yield* client.line, "alive")
        assert.strictEqual(handled(), 1)
        assert.strictEqual(server.stats().failed, 2)
      })))

    it.live("reports a corrupt record after the handshake as a TLS protocol error", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { failures, port } = yield* tlsServer({ key: certs.server.key, cert: certs.server.cert })
        // a TLS client over a TCP socket we can also write to directly, under its TLS layer
        const tcp = yield* rawClient(port)
        const tls = NodeTls.connect({ socket: tcp, ca: readFileSync(certs.caFile), servername: "localhost" })
        tls.on("error", () => {})
        yield* Effect.callback<void>((resume) => void tls.once("secureConnect", () => resume(Effect.void)))
        tls.write("before\n")
        assert.strictEqual(
          yield* Effect.callback<string>((resume) => void tls.once("data", (d) => resume(Effect.succeed(String(d))))),
          "before\n"
        )
        // an application-data record whose ciphertext is noise: it cannot authenticate
        tcp.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 0x5a)]))
        const error = errorOf(yield* Queue.take(failures))
        assert.strictEqual(error?._tag, "TlsError")
        assert.strictEqual(error?.reason, "Protocol")
        assert.match(error?.code ?? "", /^ERR_SSL_/)
      })))

    it.live("times out a client that sends nothing, without calling the handler", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { failures, handled, port, server } = yield* tlsServer(
          { key: certs.server.key, cert: certs.server.cert },
          { handshakeTimeout: "200 millis" }
        )
        const silent = yield* rawClient(port)
        assert.strictEqual(yield* readToEnd(silent), "")
        const error = errorOf(yield* Queue.take(failures))
        assert.strictEqual(error?._tag, "TlsError")
        assert.strictEqual(error?.reason, "Timeout")
        assert.strictEqual(handled(), 0)
        yield* eventually(() => server.stats().active === 0)
        assert.strictEqual(server.stats().active, 0)
      })))

    it.live("reports a client that refuses our certificate", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { failures, handled, port } = yield* tlsServer({
          key: certs.selfSigned.key,
          cert: certs.selfSigned.cert
        })
        const client = yield* sClient(port, ["-CAfile", certs.caFile, "-verify_return_error"])
        assert.notStrictEqual(yield* client.exited, 0)
        const error = errorOf(yield* Queue.take(failures))
        assert.strictEqual(error?._tag, "TlsError")
        assert.strictEqual(error?.reason, "CertificateVerify")
        assert.match(error?.code ?? "", /^ERR_SSL_.*(UNKNOWN_CA|BAD_CERTIFICATE)/)
        assert.strictEqual(handled(), 0)
      })))

    it.live("interrupts pending handshakes when the server closes", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const scope = yield* Scope.make()
        const { handled, port, server } = yield* tlsServer({ key: certs.server.key, cert: certs.server.cert }).pipe(
          Scope.provide(scope)
        )
        const silent = yield* rawClient(port)
        yield* eventually(() => server.stats().active === 1)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(yield* readToEnd(silent), "")
        assert.strictEqual(server.stats().active, 0)
        assert.strictEqual(handled(), 0)
      })))

    it.live("does not report a peer that hangs up before the handshake", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { handled, port, server } = yield* tlsServer({ key: certs.server.key, cert: certs.server.cert })
        const peer = yield* rawClient(port)
        peer.end()
        yield* readToEnd(peer)
        yield* eventually(() => server.stats().accepted === 1 && server.stats().active === 0)
        assert.strictEqual(server.stats().failed, 0)
        assert.strictEqual(handled(), 0)
      })))

    it.live("verifies client certificates when asked to", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { failures, infos, port } = yield* tlsServer({
          key: certs.server.key,
          cert: certs.server.cert,
          ca: certs.ca,
          requestCert: true
        })
        const conn = yield* connectTls(port, { ca: certs.ca, key: certs.client.key, cert: certs.client.cert })
        yield* conn.send("mutual\n")
        assert.strictEqual(yield* conn.receive(), "mutual")
        const info = yield* Queue.take(infos)
        assert.isTrue(info.authorized)
        assert.strictEqual(info.peerCertificate?.subject, "client")
        // without a certificate: TLS 1.3 clients finish first, then the server refuses
        const anonymous = yield* Effect.exit(
          Effect.flatMap(connectTls(port, { ca: certs.ca }), (conn) => conn.receive())
        )
        assert.strictEqual(anonymous._tag, "Failure")
        const error = errorOf(yield* Queue.take(failures))
        assert.strictEqual(error?._tag, "TlsError")
        assert.strictEqual(error?.reason, "CertificateVerify")
      })))
  })

  // ===========================================================================
  describe("STARTTLS", () => {
    /** A plain line protocol: greeting, `STARTTLS` → `OK`, then TLS. */
    const startTlsServer = (tls: Tls.ServerOptions, greeting: string, ok: string) =>
      Effect.gen(function*() {
        const results = yield* Deferred.make<Array<string>>()
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          drainTimeout: 0,
          handler: (conn) =>
            Effect.gen(function*() {
              yield* conn.send(greeting)
              assert.strictEqual(yield* conn.receive(), "STARTTLS")
              assert.isUndefined(conn.tls)
              yield* conn.send(ok)
              yield* conn.upgradeTls({ server: tls })
              const got = [conn.tls!.protocol]
              got.push(yield* conn.receive("*l"))
              got.push(yield* conn.receive(5))
              got.push(yield* conn.receive({ until: "END" }))
              got.push((yield* conn.receivePartial()).toString())
              yield* conn.send("ack\n")
              got.push(yield* conn.receive("*a"))
              yield* Deferred.succeed(results, got)
            })
        })
        return { port: server.address.port, results: Deferred.await(results) }
      })

    it.live("upgrades both sides of a plain line protocol, keeping every read pattern", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port, results } = yield* startTlsServer(certs.server, "HELLO\n", "OK\n")
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port })
        assert.strictEqual(yield* conn.receive(), "HELLO")
        yield* conn.send("STARTTLS\n")
        assert.strictEqual(yield* conn.receive(), "OK")
        yield* conn.upgradeTls({ client: { ca: certs.ca } })
        assert.strictEqual(conn.tls!.peerCertificate?.subject, "localhost")
        yield* conn.send("line one\r\n12345abcENDxyz")
        assert.strictEqual(yield* conn.receive(), "ack")
        yield* conn.send("the rest")
        yield* conn.shutdown
        assert.deepStrictEqual(yield* results, ["TLSv1.3", "line one", "12345", "abc", "xyz", "the rest"])
      })))

    it.live("keeps a ClientHello that arrived together with the STARTTLS line", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const upgraded = yield* Deferred.make<string>()
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          drainTimeout: 0,
          handler: (conn) =>
            Effect.gen(function*() {
              assert.strictEqual(yield* conn.receive(), "STARTTLS")
              // the ClientHello is in our read buffer before the upgrade starts
              yield* eventually(() => conn.bytesRead > "STARTTLS\n".length)
              yield* conn.upgradeTls({ server: certs.server })
              yield* Deferred.succeed(upgraded, yield* conn.receive())
            })
        })
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port })
        yield* conn.send("STARTTLS\n")
        yield* conn.upgradeTls({ client: { ca: certs.ca } })
        yield* conn.send("after\n")
        assert.strictEqual(yield* Deferred.await(upgraded), "after")
      })))

    it.live("upgrades our server for openssl s_client -starttls", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        // sieve's STARTTLS (RFC 5804): capabilities, `STARTTLS` → `OK`, then TLS
        const greeting = "\"IMPLEMENTATION\" \"fiberloop\"\r\n\"STARTTLS\"\r\nOK\r\n"
        const { port, results } = yield* startTlsServer(certs.server, greeting, "OK\r\n")
        const client = yield* sClient(port, [
          "-starttls", "sieve", "-CAfile", certs.caFile, "-verify_return_error", "-no_ign_eof"
        ])
        client.stdin.write("line one\n12345abcENDxyz")
        // s_client echoes the server's `OK` to STARTTLS on stdout
        let line = yield* client.line
        for (let i = 0; i < 3 && line !== "ack"; i++) line = yield* client.line
        assert.strictEqual(line, "ack")
        client.stdin.end("the rest")
        const got = yield* results
        assert.deepStrictEqual(got, ["TLSv1.3", "line one", "12345", "abc", "xyz", "the rest"])
      })))

    it.live("upgrades our client against openssl s_server behind a plain STARTTLS front", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const backend = yield* sServer(["-cert", certs.server.certFile, "-key", certs.server.keyFile, "-rev"])
        // the plain part of the protocol, then every byte goes to s_server
        const front = yield* Effect.acquireRelease(
          Effect.callback<Net.Server>((resume) => {
            const server = Net.createServer((socket) => {
              socket.on("error", () => {})
              let head = Buffer.alloc(0)
              const onData = (chunk: Buffer) => {
                head = Buffer.concat([head, chunk])
                const end = head.indexOf("\n")
                if (end < 0) return
                socket.off("data", onData)
                socket.write(head.subarray(0, end).toString() === "STARTTLS" ? "OK\n" : "NO\n")
                const upstream = Net.connect(backend.port, "127.0.0.1")
                upstream.on("error", () => socket.destroy())
                upstream.write(head.subarray(end + 1))
                socket.pipe(upstream).pipe(socket)
              }
              socket.on("data", onData)
            })
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.sync(() => server.close())
        )
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port: (front.address() as Net.AddressInfo).port })
        yield* conn.send("STARTTLS\n")
        assert.strictEqual(yield* conn.receive(), "OK")
        yield* conn.upgradeTls({ client: { ca: certs.ca, servername: "localhost" } })
        yield* conn.send("over tls\n")
        assert.strictEqual(yield* conn.receive(), "slt revo")
        assert.strictEqual(conn.tls!.peerCertificate?.subject, "localhost")
      })))

    it.live("a failed upgrade fails the connection with the TLS error", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port } = yield* startTlsServer(certs.selfSigned, "HELLO\n", "OK\n")
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port })
        assert.strictEqual(yield* conn.receive(), "HELLO")
        yield* conn.send("STARTTLS\n")
        assert.strictEqual(yield* conn.receive(), "OK")
        const error = yield* flipTls(conn.upgradeTls({ client: { ca: certs.ca } }))
        assert.strictEqual(error.reason, "CertificateVerify")
        const after = yield* Effect.flip(conn.receive())
        assert.strictEqual(after._tag, "TlsError")
        assert.strictEqual(yield* Effect.flip(conn.send("x")), after)
      })))
  })

  // ===========================================================================
  describe("reload", () => {
    it.live("new handshakes use reloaded credentials; established connections keep theirs", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const { port, server } = yield* tlsServer({ key: certs.server.key, cert: certs.server.cert })
        const before = yield* connectTls(port, { ca: certs.ca })
        assert.strictEqual(before.tls!.peerCertificate?.fingerprint256, fingerprint(certs.server.cert))
        yield* server.tls!.reload({ key: { file: certs.second.keyFile }, cert: { file: certs.second.certFile } })
        const after = yield* connectTls(port, { ca: certs.ca })
        assert.strictEqual(after.tls!.peerCertificate?.fingerprint256, fingerprint(certs.second.cert))
        yield* before.send("still here\n")
        assert.strictEqual(yield* before.receive(), "still here")
        // credentials that do not load are refused, and the current ones stay
        const bad = yield* Effect.flip(
          server.tls!.reload({ key: { file: "/nonexistent.key" }, cert: certs.server.cert })
        )
        assert.strictEqual(bad.reason, "Configuration")
        assert.strictEqual(bad.code, "ENOENT")
        const mismatched = yield* Effect.flip(server.tls!.reload({ key: certs.other.key, cert: certs.server.cert }))
        assert.strictEqual(mismatched.reason, "Configuration")
        const last = yield* connectTls(port, { ca: certs.ca })
        assert.strictEqual(last.tls!.peerCertificate?.fingerprint256, fingerprint(certs.second.cert))
      })))

    it.live("a missing file is named in the message, with its role and the errno once", () =>
      live(Effect.gen(function*() {
        const certs = yield* Certs
        const ca = yield* Effect.flip(Tls.makeClientContext({ ca: [certs.ca, { file: "/nonexistent/ca.pem" }] }))
        assert.strictEqual(ca.reason, "Configuration")
        assert.strictEqual(ca.code, "ENOENT")
        assert.strictEqual(ca.message, "cannot read TLS CA file /nonexistent/ca.pem: no such file or directory (ENOENT)")
        const key = yield* Effect.flip(Tls.makeServerContext({ key: { file: "/nonexistent/k.pem" }, cert: certs.server.cert }))
        assert.strictEqual(key.message, "cannot read TLS key file /nonexistent/k.pem: no such file or directory (ENOENT)")
        const cert = yield* Effect.flip(Tls.makeServerContext({
          key: certs.server.key,
          cert: certs.server.cert,
          sni: { "other.test": { key: certs.other.key, cert: { file: certs.dir } } }
        }))
        assert.strictEqual(
          cert.message,
          `cannot read TLS certificate file ${certs.dir}: illegal operation on a directory (EISDIR)`
        )
      })))

    it.live("serve fails with a typed error on credentials that do not load", () =>
      live(Effect.gen(function*() {
        const error = yield* Effect.flip(Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          tls: { key: Tls.pem("not a key"), cert: Tls.pem("not a certificate") },
          handler: () => Effect.void
        }))
        assert.strictEqual(error._tag, "TlsError")
        assert.strictEqual(error._tag === "TlsError" && error.reason, "Configuration")
      })))
  })

  // ===========================================================================
  describe("fromNodeError", () => {
    const classify = (code: string) => Tls.fromNodeError(Object.assign(new Error(code), { code })).reason

    it("classifies Node's TLS errors", () => {
      assert.strictEqual(classify("DEPTH_ZERO_SELF_SIGNED_CERT"), "CertificateVerify")
      assert.strictEqual(classify("CERT_HAS_EXPIRED"), "CertificateVerify")
      assert.strictEqual(classify("ERR_TLS_CERT_ALTNAME_INVALID"), "CertificateVerify")
      assert.strictEqual(classify("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "CertificateVerify")
      assert.strictEqual(classify("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"), "CertificateVerify")
      assert.strictEqual(classify("ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"), "CertificateVerify")
      assert.strictEqual(classify("ERR_SSL_WRONG_VERSION_NUMBER"), "Protocol")
      assert.strictEqual(classify("ERR_SSL_HTTP_REQUEST"), "Protocol")
      assert.strictEqual(classify("ERR_SSL_UNSUPPORTED_PROTOCOL"), "Protocol")
      assert.strictEqual(classify("ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"), "Protocol")
      assert.strictEqual(classify("ERR_TLS_HANDSHAKE_TIMEOUT"), "Timeout")
      assert.strictEqual(classify("ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE"), "Handshake")
      assert.strictEqual(classify("ECONNRESET"), "Handshake")
    })

    it("keeps the code, the peer and a readable message", () => {
      const error = Tls.fromNodeError(
        Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
        { host: "127.0.0.1", port: 443, servername: "example.com" }
      )
      assert.strictEqual(error._tag, "TlsError")
      assert.strictEqual(error.servername, "example.com")
      assert.strictEqual(
        error.message,
        "TLS certificate verification failed (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate) (127.0.0.1:443)"
      )
    })
  })
})
