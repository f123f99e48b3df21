/**
 * A TLS echo server: every line a client sends comes back, encrypted.
 *
 *   npx node examples/tls-echo.ts [--port 7443] [--key key.pem --cert cert.pem] [--once]
 *
 * Without `--key`/`--cert` it makes a throwaway self-signed certificate for
 * `localhost`/127.0.0.1 with the `openssl` CLI, in a temporary directory
 * removed on exit. Talk to it with
 *
 *   openssl s_client -connect 127.0.0.1:<port> -CAfile <cert> -quiet
 *
 * With `--once` it makes one verified client round trip to itself, prints the
 * answer, and exits.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Loop, Tcp } from "../src/index.ts"

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    key: { type: "string" },
    cert: { type: "string" },
    once: { type: "boolean", default: false }
  }
})

/** A self-signed certificate for localhost, in a directory removed with the scope. */
const selfSigned = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "fiberloop-tls-echo-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  yield* Effect.callback<void, Error>((resume) => {
    execFile("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"
    ], { timeout: 10_000 }, (error) => resume(error ? Effect.fail(error) : Effect.void))
  })
  return { keyFile: join(dir, "key.pem"), certFile: join(dir, "cert.pem") }
})

/** Echoes lines; hoisted: one generator function for every connection. */
const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
})

const program = Effect.gen(function*() {
  const { certFile, keyFile } = args.key !== undefined && args.cert !== undefined
    ? { keyFile: args.key, certFile: args.cert }
    : yield* selfSigned
  const server = yield* Tcp.serve({
    host: "127.0.0.1",
    port: Number(args.port ?? (args.once ? 0 : 7443)),
    maxConnections: 10_000,
    idle: "5 minutes",
    drainTimeout: "1 second",
    tls: { key: { file: keyFile }, cert: { file: certFile } },
    handler: echo
  })
  const port = server.address.port
  yield* Effect.log(
    `TLS echo on 127.0.0.1:${port}; try: openssl s_client -connect 127.0.0.1:${port} -CAfile ${certFile} -quiet`
  )
  if (!args.once) return yield* Effect.never

  // one round trip to ourselves, verifying the certificate like any client would
  const answer = yield* Effect.scoped(Effect.gen(function*() {
    const conn = yield* Tcp.connect({
      host: "127.0.0.1",
      port,
      timeout: "5 seconds",
      tls: { ca: Redacted.make(readFileSync(certFile, "utf8")), servername: "localhost" },
      handshakeTimeout: "5 seconds"
    })
    yield* conn.send("hello over TLS\n")
    const line = yield* conn.receive("*l")
    const tls = conn.tls!
    return `${line} (${tls.protocol}, ${tls.cipher}, certificate for ${tls.peerCertificate?.subject})`
  }))
  yield* Effect.log(`echoed: ${answer}`)
})

Loop.run(Effect.scoped(program))

