/**
 * Helpers for the outside-peers suite.
 */
import { execFileSync } from "node:child_process"

/** Fails (never skips) when a peer tool is missing: .ci/run installs them. */
export const requireTool = (tool: string): void => {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`])
  } catch {
    throw new Error(`${tool} is not installed: run .ci/run, or apt-get install netcat-openbsd socat`)
  }
}
