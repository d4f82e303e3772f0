// Where to send the browser after signing in: only a path of this site. `next` comes from the query
// string, so anyone can write it; a check on its first characters misses what browsers read as
// another host (`/\evil.com`, `/<tab>/evil.com`, `/.//evil.com`). It is parsed as browsers parse it.

const base = "http://dashboard.invalid";

/** The path, query and fragment `next` names on this site, or "/" when it names anything else. */
export function safeNext(next: string | undefined): string {
  if (!next) return "/";
  let url: URL;
  try {
    url = new URL(next, base);
  } catch {
    return "/";
  }
  if (url.origin !== base) return "/";
  // A path that starts with two slashes would be read as a host once sent back in Location.
  if (url.pathname.startsWith("//")) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}
