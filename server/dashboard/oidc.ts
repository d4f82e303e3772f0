// Single sign-on through OpenID Connect (openid-client): authorization code flow with PKCE, state and
// nonce. The provider's metadata is discovered on first use (and again after a failure). Signing in
// needs a verified email that belongs to an existing Ratchet account: people are invited first, then
// may use the provider instead of a password. See docs/teams.md.
import * as client from "openid-client";

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
}

/** What the browser keeps (in a signed cookie) between leaving for the provider and coming back. */
export interface OidcPending {
  verifier: string;
  state: string;
  nonce: string;
}

export class OidcError extends Error {
  override name = "OidcError";
}

function loopback(url: URL): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}

export class OidcSignIn {
  readonly #settings: OidcSettings;
  readonly #redirectUri: string;
  #configuration: Promise<client.Configuration> | null = null;

  constructor(settings: OidcSettings, publicUrl: string) {
    this.#settings = settings;
    this.#redirectUri = `${publicUrl}/auth/oidc/callback`;
  }

  #discover(): Promise<client.Configuration> {
    this.#configuration ??= (async () => {
      const issuer = new URL(this.#settings.issuer);
      // Plain http only for a provider on this machine (development and tests).
      const insecure = issuer.protocol === "http:" && loopback(issuer);
      const authentication = this.#settings.clientSecret ? client.ClientSecretPost(this.#settings.clientSecret) : client.None();
      return client.discovery(issuer, this.#settings.clientId, this.#settings.clientSecret, authentication, insecure ? { execute: [client.allowInsecureRequests] } : undefined);
    })();
    this.#configuration.catch(() => (this.#configuration = null));
    return this.#configuration;
  }

  async start(): Promise<{ url: string; pending: OidcPending }> {
    const configuration = await this.#discover();
    const pending = { verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce() };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.#redirectUri,
      scope: "openid email profile",
      code_challenge: await client.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: "S256",
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /** The verified email of whoever came back with `callbackUrl`; throws OidcError otherwise. */
  async finish(callbackUrl: URL, pending: OidcPending): Promise<{ email: string; name: string }> {
    const configuration = await this.#discover();
    let claims: Record<string, unknown> | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      claims = idToken;
      // Providers that keep the ID token small give the email from the userinfo endpoint.
      if (idToken && typeof idToken.email !== "string") claims = { ...(await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub)) };
    } catch (error) {
      throw new OidcError(`The identity provider's answer was refused: ${(error as Error).message}`);
    }
    const email = typeof claims?.email === "string" ? claims.email.toLowerCase() : null;
    if (!email || claims?.email_verified !== true) throw new OidcError("The identity provider gave no verified email address");
    return { email, name: typeof claims?.name === "string" ? claims.name : "" };
  }
}
