// One way to reach a Docker daemon for deploy builds and the Docker runner: DOCKER_HOST (unix://,
// tcp://, ssh://, as the docker CLI reads it), else DOCKER_SOCKET, else the local socket.
import Docker from "dockerode";

export function dockerClient(env: NodeJS.ProcessEnv = process.env): Docker {
  // docker-modem parses DOCKER_HOST (and DOCKER_TLS_VERIFY / DOCKER_CERT_PATH) itself.
  if (env.DOCKER_HOST) return new Docker();
  return new Docker({ socketPath: env.DOCKER_SOCKET ?? "/var/run/docker.sock" });
}

/** Whether the daemon answers within `timeoutMs`; the reason when not. */
export async function dockerReachable(docker: Docker, timeoutMs = 3000): Promise<{ ok: true } | { ok: false; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([docker.ping(), timeout]);
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
