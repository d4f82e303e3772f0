// Ratchet's own folder: the checkout, or the installed package. Compiled code runs from dist/, one
// level deeper than the TypeScript sources, while sql/ and views/ stay at the top.
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const serverDir = dirname(fileURLToPath(import.meta.url));
const parent = dirname(serverDir);

export const packageRoot = basename(parent) === "dist" ? dirname(parent) : parent;
