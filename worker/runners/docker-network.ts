// The network of the Docker runner's containers. By default they join `ratchet-tasks`, a bridge
// network created as internal: Docker gives it no route off the host, so a container reaches no
// other host and no address on the internet. What it can reach is the host itself, at the
// network's gateway address; the runner listens there with a relay to the server's API and gives the
// container that address as its RATCHET_API_URL (the server may well listen on loopback only). A
// runner that is itself a container (Compose's `runner` service) joins the network and listens on
// its own address in it instead.
// RATCHET_DOCKER_NETWORK names another network to allow more (`bridge`: the internet; `host`: the
// host's own network, as before), and RATCHET_DOCKER_API_URL the API's URL as seen from it (a server
// container on the same network: `http://ratchet:3030`). See docs/worker.md#network.
import { existsSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { hostname } from "node:os";
import type Docker from "dockerode";

export const restrictedNetworkName = "ratchet-tasks";
const networkLabel = "dev.ratchet.network";

export interface TaskNetwork {
  name: string;
  /** The API's URL inside the containers; null keeps the runner's own. */
  apiUrl: string | null;
}

const loopback = (host: string) => host === "localhost" || host === "[::1]" || /^127\./.test(host);

/** The restricted network, created on first use (internal: no route off the host). */
async function ensureRestrictedNetwork(docker: Docker): Promise<Docker.NetworkInspectInfo> {
  const existing = await docker.getNetwork(restrictedNetworkName).inspect().catch(() => null);
  if (existing) return existing as Docker.NetworkInspectInfo;
  await docker
    .createNetwork({ Name: restrictedNetworkName, Driver: "bridge", Internal: true, CheckDuplicate: true, Labels: { [networkLabel]: "tasks" } })
    // Another runner on this host created it first.
    .catch(() => {});
  return (await docker.getNetwork(restrictedNetworkName).inspect()) as Docker.NetworkInspectInfo;
}

const relays = new Map<string, Promise<string>>();

/**
 * A TCP relay from `listenHost` to the API's host and port; returns its address. The port is random
 * unless fixed (RATCHET_DOCKER_RELAY_PORT), which a container restored from a checkpoint after the
 * runner restarted needs, since its RATCHET_API_URL names the port.
 */
function relay(listenHost: string, target: URL, listenPort: number): Promise<string> {
  const key = `${listenHost}>${target.host}`;
  let started = relays.get(key);
  if (!started) {
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    const host = target.hostname.replace(/^\[|\]$/g, "");
    const server: Server = createServer((inbound) => {
      const outbound = createConnection({ host, port });
      inbound.pipe(outbound).pipe(inbound);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on("error", close);
      outbound.on("error", close);
    });
    started = new Promise<string>((resolve, reject) => {
      server.once("error", (error) =>
        reject(new Error(`The runner cannot listen on ${listenHost} for the containers (${error.message}): is the Docker host this machine? Otherwise set RATCHET_DOCKER_API_URL to the API's URL as the containers see it.`)),
      );
      server.listen(listenPort, listenHost, () => {
        server.unref();
        const address = server.address();
        resolve(`${listenHost}:${typeof address === "object" && address ? address.port : 0}`);
      });
    });
    relays.set(key, started);
  }
  return started;
}

/**
 * Where the relay listens: the network's gateway (this host), or, when the runner runs in a
 * container of the same daemon, its own address on the network, which it joins for that.
 */
async function relayHost(docker: Docker, info: Docker.NetworkInspectInfo): Promise<string> {
  const self = existsSync("/.dockerenv") ? await docker.getContainer(hostname()).inspect().catch(() => null) : null;
  if (self) {
    let address = self.NetworkSettings.Networks[info.Name]?.IPAddress;
    if (!address) {
      await docker.getNetwork(info.Name).connect({ Container: self.Id });
      address = (await docker.getContainer(self.Id).inspect()).NetworkSettings.Networks[info.Name]?.IPAddress;
    }
    if (address) return address;
  }
  const gateway = info.IPAM?.Config?.find((config) => config.Gateway && !config.Gateway.includes(":"))?.Gateway;
  if (!gateway) throw new Error(`The Docker network ${info.Name} has no IPv4 gateway for the API relay: set RATCHET_DOCKER_API_URL.`);
  return gateway;
}

export async function taskNetwork(docker: Docker, env: NodeJS.ProcessEnv): Promise<TaskNetwork> {
  const name = env.RATCHET_DOCKER_NETWORK || restrictedNetworkName;
  if (name === "host") return { name, apiUrl: null };
  const info = name === restrictedNetworkName ? await ensureRestrictedNetwork(docker) : ((await docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo);
  if (env.RATCHET_DOCKER_API_URL) return { name, apiUrl: env.RATCHET_DOCKER_API_URL };
  const apiUrl = env.RATCHET_API_URL ?? env.TRIGGER_API_URL;
  if (!apiUrl) return { name, apiUrl: null };
  const target = new URL(apiUrl);
  // A server by a public name on a network with a route out is reachable as it is.
  if (!info.Internal && !loopback(target.hostname)) return { name, apiUrl: null };
  if (target.protocol === "https:") {
    throw new Error(`Containers on ${name} cannot reach ${apiUrl} by its name (https needs the name for TLS): set RATCHET_DOCKER_API_URL to the API's URL as the containers see it.`);
  }
  const port = Number(env.RATCHET_DOCKER_RELAY_PORT || 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`RATCHET_DOCKER_RELAY_PORT must be a port number, not "${env.RATCHET_DOCKER_RELAY_PORT}"`);
  const address = await relay(await relayHost(docker, info), target, port);
  return { name, apiUrl: `http://${address}${target.pathname.replace(/\/$/, "")}` };
}

/** Points the container's RATCHET_API_URL / TRIGGER_API_URL at the address reachable from its network. */
export function withApiUrl(env: string[], apiUrl: string | null): string[] {
  if (!apiUrl) return env;
  return env.map((entry) => (/^(RATCHET|TRIGGER)_API_URL=/.test(entry) ? `${entry.slice(0, entry.indexOf("=") + 1)}${apiUrl}` : entry));
}
