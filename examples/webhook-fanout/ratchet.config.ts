import { defineConfig } from "ratchet/sdk";

export default defineConfig({
  dirs: ["trigger"],
  // Tasks without their own policy retry three times with Trigger.dev's backoff.
  retries: { default: { maxAttempts: 3, minTimeoutInMs: 1000, factor: 2 } },
  maxDuration: 60,
});
