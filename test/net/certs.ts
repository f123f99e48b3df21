/**
 * Test certificates, made with the `openssl` CLI into a temporary directory
 * that is removed when the scope (or layer) closes: a CA, a server
 * certificate for `localhost`/127.0.0.1 signed by it, a second one (for
 * reloads), one for `other.test` (SNI), an expired one, a self-signed one and
 * a client certificate. EC P-256 keys, so generating them takes milliseconds;
 * one more server certificate has an RSA key (for RSA cipher suites).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Tls from "../../src/net/Tls.ts"

/** A key and certificate, as PEM options and as files for the `openssl` CLI. */
export interface KeyPair {
  readonly key: Tls.Pem
  readonly cert: Tls.Pem
  readonly keyFile: string
  readonly certFile: string
}

/** Every certificate the TLS tests use. */
export class Certs extends Context.Service<Certs, {
  readonly dir: string
  /** The test CA's certificate. */
  readonly ca: Tls.Pem
  readonly caFile: string
  /** `localhost` and `127.0.0.1`, signed by the CA. */
  readonly server: KeyPair
  /** Also `localhost` and `127.0.0.1`, signed by the CA, with another key. */
  readonly second: KeyPair
  /** `other.test` and `*.wild.test`, signed by the CA. */
  readonly other: KeyPair
  /** `localhost`, signed by the CA, valid only in January 2020. */
  readonly expired: KeyPair
  /** `localhost`, signed by itself. */
  readonly selfSigned: KeyPair
  /** A client certificate (`CN=client`), signed by the CA. */
  readonly client: KeyPair
  /** `localhost` and `127.0.0.1` with an RSA 2048 key, signed by the CA (for `ECDHE-RSA-*` and `AES128-SHA256`). */
  readonly rsa: KeyPair
}>()("fiberloop/test/Certs") {}

const openssl = (cwd: string, args: ReadonlyArray<string>) =>
  Effect.callback<void, Error>((resume) => {
    execFile("openssl", args, { cwd, timeout: 10_000 }, (error, _stdout, stderr) =>
      resume(error ? Effect.fail(new Error(`openssl ${args[0]}: ${stderr || error.message}`)) : Effect.void))
  })

const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
const rsa = ["-newkey", "rsa:2048", "-nodes"]

const caConfig = `[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
`

const make = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "fiberloop-certs-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const pair = (name: string): KeyPair => ({
    key: Redacted.make(readFileSync(join(dir, `${name}.key`), "utf8")),
    cert: Redacted.make(readFileSync(join(dir, `${name}.crt`), "utf8")),
    keyFile: join(dir, `${name}.key`),
    certFile: join(dir, `${name}.crt`)
  })
  writeFileSync(join(dir, "ca.cnf"), caConfig)
  writeFileSync(join(dir, "index.txt"), "")
  writeFileSync(join(dir, "serial"), "1000\n")
  writeFileSync(join(dir, "localhost.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
  writeFileSync(join(dir, "other.ext"), "subjectAltName=DNS:other.test,DNS:*.wild.test\nextendedKeyUsage=serverAuth\n")
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n")

  yield* openssl(dir, [
    "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fiberloop test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  const signed = (name: string, cn: string, ext: string, serial: number, key = ec) =>
    Effect.andThen(
      openssl(dir, ["req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]),
      openssl(dir, [
        "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", String(serial),
        "-days", "2", "-extfile", ext, "-out", `${name}.crt`
      ])
    )
  yield* Effect.all([
    signed("server", "localhost", "localhost.ext", 1),
    signed("second", "localhost", "localhost.ext", 2),
    signed("other", "other.test", "other.ext", 3),
    signed("client", "client", "client.ext", 4),
    signed("rsa", "localhost", "localhost.ext", 5, rsa),
    openssl(dir, [
      "req", "-x509", ...ec, "-keyout", "selfsigned.key", "-out", "selfsigned.crt", "-days", "2", "-subj",
      "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"
    ]),
    // `x509 -req` cannot date a certificate in the past; the `ca` command can
    Effect.andThen(
      openssl(dir, ["req", ...ec, "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=localhost"]),
      openssl(dir, [
        "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "expired.csr",
        "-out", "expired.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
        "-extfile", "localhost.ext", "-notext"
      ])
    )
  ], { concurrency: "unbounded" })

  return Certs.of({
    dir,
    ca: Redacted.make(readFileSync(join(dir, "ca.crt"), "utf8")),
    caFile: join(dir, "ca.crt"),
    server: pair("server"),
    second: pair("second"),
    other: pair("other"),
    expired: pair("expired"),
    selfSigned: pair("selfsigned"),
    client: pair("client"),
    rsa: pair("rsa")
  })
})

/** The certificates, made once for the layer's lifetime. */
export const CertsLive: Layer.Layer<Certs, Error> = Layer.effect(Certs, make)
