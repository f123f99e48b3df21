import { defineConfig } from "vitest/config"

/** The outside-peers suite: real clients and servers from Debian's packages (see .ci/run). */
export default defineConfig({
  test: {
    include: ["test/peers/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
