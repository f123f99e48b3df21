import { assert, describe, it } from "@effect/vitest"
import * as Errors from "../../src/net/Errors.ts"

const nodeError = (code: string, syscall = "connect") =>
  Object.assign(new Error(`${syscall} ${code}`), { code, errno: -1, syscall, address: "127.0.0.1", port: 9 })

describe("Errors", () => {
  it.each([
    ["ECONNREFUSED", "ConnectionRefused"],
    ["ECONNRESET", "ConnectionReset"],
    ["EPIPE", "ConnectionReset"],
    ["ECONNABORTED", "ConnectionReset"],
    ["ERR_STREAM_PREMATURE_CLOSE", "ConnectionReset"],
    ["ETIMEDOUT", "ConnectionTimeout"],
    ["EADDRINUSE", "AddressInUse"],
    ["EADDRNOTAVAIL", "AddressInUse"],
    ["EACCES", "AddressInUse"],
    ["ENOTFOUND", "DnsError"],
    ["ENODATA", "DnsError"],
    ["EAI_NONAME", "DnsError"],
    ["EAI_AGAIN", "DnsError"],
    ["ESERVFAIL", "DnsError"],
    ["ETIMEOUT", "DnsError"],
    ["EREFUSED", "DnsError"],
    ["EBADNAME", "DnsError"],
    ["ERR_STREAM_DESTROYED", "SocketClosed"],
    ["ERR_STREAM_WRITE_AFTER_END", "SocketClosed"],
    ["ERR_SOCKET_CLOSED", "SocketClosed"],
    ["EBADF", "SocketClosed"],
    ["EHOSTUNREACH", "SocketError"],
    ["ENETUNREACH", "SocketError"]
  ])("classifies %s as %s", (code, tag) => {
    const error = Errors.fromNodeError(nodeError(code))
    assert.strictEqual(error._tag, tag)
    assert.strictEqual(error.code, code)
    assert.strictEqual(error.syscall, "connect")
    assert.strictEqual(error.host, "127.0.0.1")
    assert.strictEqual(error.port, 9)
  })

  it("maps DNS codes to Effect's DnsError reasons", () => {
    const reasons = ["ENOTFOUND", "EAI_AGAIN", "ESERVFAIL", "ETIMEOUT", "EREFUSED", "EBADNAME"].map((code) =>
      (Errors.fromNodeError(nodeError(code, "getaddrinfo")) as Errors.DnsError).reason
    )
    assert.deepStrictEqual(reasons, ["NotFound", "Temporary", "ServerFailure", "Timeout", "Refused", "BadName"])
  })

  it("takes host, port and timeout phase from the context", () => {
    const error = Errors.fromNodeError(nodeError("ETIMEDOUT"), { host: "example", port: 80, phase: "write" })
    assert.strictEqual(error._tag, "ConnectionTimeout")
    assert.strictEqual((error as Errors.ConnectionTimeout).phase, "write")
    assert.strictEqual(error.host, "example")
    assert.strictEqual(error.port, 80)
    assert.include(error.message, "write timeout")
  })

  it("classifies values that are not errors as SocketError", () => {
    assert.strictEqual(Errors.fromNodeError("boom")._tag, "SocketError")
    assert.strictEqual(Errors.fromNodeError(undefined)._tag, "SocketError")
  })

  it("says an address is in use, with the host and port", () => {
    const bind = (code: string, host: string, port: number) =>
      Errors.fromNodeError(nodeError(code, "bind"), { host, port }).message
    assert.strictEqual(bind("EADDRINUSE", "127.0.0.1", 8080), "address 127.0.0.1:8080 already in use (EADDRINUSE)")
    assert.strictEqual(bind("EADDRINUSE", "::1", 53), "address [::1]:53 already in use (EADDRINUSE)")
    assert.strictEqual(
      bind("EADDRNOTAVAIL", "10.9.9.9", 80),
      "address 10.9.9.9:80 not available on this host (EADDRNOTAVAIL)"
    )
    assert.strictEqual(bind("EACCES", "0.0.0.0", 80), "no permission to bind 0.0.0.0:80 (EACCES)")
  })

  it("does not repeat a code the detail already starts with", () => {
    const error = new Errors.TlsError({
      reason: "Handshake",
      code: "ECONNRESET",
      detail: "ECONNRESET: socket hang up",
      host: "127.0.0.1",
      port: 443
    })
    assert.strictEqual(error.message, "TLS handshake failed (ECONNRESET: socket hang up) (127.0.0.1:443)")
  })

  it("builds end of stream without a stack trace, with its partial data", () => {
    const closed = Errors.withoutStack(() => new Errors.ConnectionClosed({ partial: Buffer.from("half a li") }))
    assert.strictEqual(closed.partialText, "half a li")
    assert.notInclude(closed.stack ?? "", "at ")
    assert.include(closed.message, "9 unread bytes")
  })

  it("restores the stack trace limit even when the constructor throws", () => {
    const before = Error.stackTraceLimit
    assert.throws(() =>
      Errors.withoutStack(() => {
        throw new Error("x")
      })
    )
    assert.strictEqual(Error.stackTraceLimit, before)
  })

  it("says how much *a had buffered when it passed maxAll", () => {
    const error = new Errors.StreamTooLong({ maxAll: 1024, buffered: 1500, host: "127.0.0.1", port: 9 })
    assert.strictEqual(
      error.message,
      "more than 1024 bytes before end of stream (1500 bytes buffered, unread) (127.0.0.1:9)"
    )
  })

  it("says how long a frame was and the decoder's limit when it passed maxFrameLength", () => {
    const error = new Errors.FrameTooLong({ maxFrameLength: 1028, length: 1048580, host: "127.0.0.1", port: 9 })
    assert.strictEqual(error.message, "frame of 1048580 bytes or more, over the limit of 1028 (127.0.0.1:9)")
  })
})
