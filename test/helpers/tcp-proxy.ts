// A real TCP proxy in front of a server, that can refuse connections for a while: what a worker sees
// when the API is down or unreachable, without stopping the server behind it.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  url: string;
  /** Closes every open connection and refuses new ones (ECONNREFUSED) until restore(). */
  refuse(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const open = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on("error", drop).on("close", drop);
        upstream.on("error", drop).on("close", drop);
        client.pipe(upstream).pipe(client);
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve(server));
    });
  let server: Server | null = await open(0);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const shut = async () => {
    const closing = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    refuse: shut,
    async restore() {
      server ??= await open(port);
    },
    close: shut,
  };
}
