// Packet paths as the SDK names them ("trigger/packet_…/payload.json", "run_…-1/output.json"):
// letters, digits and - _ . /, no empty or dot-dot segments. Checked on every packet route.
import { z } from "zod";

export const packetCapBytes = 32 * 1024 * 1024;

export const packetPathSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9_\-./]+$/, "packet paths use letters, digits and - _ . /")
  .refine((path) => path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== ".."), "no empty, . or .. segments");

/** The origin the client reached us at: presigned URLs point back at it. */
export function requestOrigin(request: { protocol: string; host: string }): string {
  return `${request.protocol}://${request.host}`;
}
