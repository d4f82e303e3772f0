import { defineConfig } from "ratchet/sdk";

export default defineConfig({ dirs: ["trigger"] });
