// Package auth decides who may open which collabd document: it verifies
// JWTs (Verifier) or asks an HTTP endpoint of the application (Webhook),
// and turns the answer into a Grant, an access level on a set of rooms. It
// knows nothing of the server; the server gets a Grant from an Authorizer
// for each request and checks it with Grant.Allows.
//
// # Decisions
//
// An Authorizer returns the Grant of a request, or an error: ErrNoToken or
// ErrInvalidToken, or an error wrapping them (ErrTokenExpired is one), means
// 401; ErrForbidden means 403; ErrUnavailable (the webhook failed) denies
// too and means 503. Test with errors.Is. Error messages name no secret and
// may be shown to the client; the underlying cause, which may name internal
// addresses, stays reachable with errors.As for logs.
//
// Authorize does not check the room: the server calls
// grant.Allows(room, need) with the level the route needs (read to sync,
// write to send updates, admin for the admin routes). Allows ignores
// Grant.Expires, which the Authorizer checked when it decided; the server
// closes live connections at Expires with a timer. Levels are ordered none <
// read < write < admin, and a level includes those below it.
//
// # Room patterns
//
// Grant.Rooms holds room names and glob patterns. A pattern without '*' or
// '?' matches exactly that name. '*' matches any run of characters,
// including none and including '/'; '?' matches exactly one character (a
// UTF-8 code point); every other character stands for itself, and there is
// no escape. So "team/*" matches "team/a" and "team/a/b" but not "team",
// and "*" matches every room. Patterns are non-empty UTF-8 of at most
// MaxPatternLength bytes; a grant holds at most 256.
//
// # Tokens
//
// A Verifier accepts HS256 tokens signed with VerifierOptions.Secret, and
// EdDSA (Ed25519), ES256 (P-256) and RS256 (RSA of 2048 to 8192 bits)
// tokens signed by a key of VerifierOptions.KeysFile; nothing else ("alg":
// "none" included). The key for an algorithm is only ever of that
// algorithm's type: an HS256 token is checked against the secret alone, so
// a token signed with a public key's bytes as an HMAC secret fails. The
// claims:
//
//	exp     required: NumericDate after which the token is refused
//	nbf     optional: NumericDate before which it is refused
//	iat     optional: refused if in the future
//	aud     checked when VerifierOptions.Audience is set: must contain it
//	iss     checked when VerifierOptions.Issuer is set: must equal it
//	sub     optional: Grant.User
//	rooms   required: an array of room names and patterns, or one string
//	access  optional: "read" (the default), "write" or "admin"
//
// VerifierOptions.Leeway applies to exp, nbf and iat, and Grant.Expires is
// exp plus the leeway. A token header with "crit" is refused. A Verifier
// never returns ErrForbidden: whether the rooms cover the request is the
// server's Allows check. Mint makes HS256 tokens of this form.
//
// # Keys file
//
// The keys file is JSON if its first non-space character is '{', else PEM.
//
// PEM: any number of "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) or
// "CERTIFICATE" blocks (only the certificate's key is used; its dates and
// chain are not checked). A block's key ID is its "kid" PEM header:
//
//	-----BEGIN PUBLIC KEY-----
//	kid: 2026-01
//
//	MCowBQYDK2VwAyEA...
//	-----END PUBLIC KEY-----
//
// JSON: a JWK Set, {"keys":[...]}, or a single JWK, with keys
// {"kty":"OKP","crv":"Ed25519","x":...}, {"kty":"EC","crv":"P-256","x":...,
// "y":...} and {"kty":"RSA","n":...,"e":...}, each with an optional "kid".
// Keys with "use" other than "sig", with an "alg" other than EdDSA, ES256 or
// RS256, or of another type or curve are skipped; a malformed key, an RSA
// key under 2048 bits or a private key fails the whole file.
//
// A key without a kid gets its RFC 7638 JWK thumbprint as kid. Kids must be
// distinct. A token's "kid" header picks the key, which must be of the
// token's alg; a token without kid is accepted only when exactly one key of
// its alg is loaded. HS256 tokens ignore kid. Verifier.Reload re-reads the
// file (on SIGHUP); if the new file is bad the old keys stay.
//
// # Webhook
//
// A Webhook POSTs, with Content-Type application/json:
//
//	{"room": "team/notes", "token": "raw token or empty",
//	 "headers": {"Cookie": "a=1; b=2", "Origin": "https://app.example"}}
//
// headers holds the configured request headers the request carries
// (WebhookOptions.Headers, by default DefaultWebhookHeaders), several values
// joined by ", " ("; " for Cookie). room is "" for routes not about one
// room. The webhook answers 200 with
//
//	{"access": "read" | "write" | "admin" | "none",   required
//	 "user": "ada",                                   optional
//	 "rooms": ["team/*"],                             optional, default [room]
//	 "expires": "2026-12-31T23:00:00Z" or 1798758000, optional, default none
//	 "reason": "not a member of team"}                optional, shown on denial
//
// "none" denies with ErrForbidden. A 403 answer denies with ErrForbidden, a
// 401 with ErrInvalidToken, either with the answer's optional JSON
// "reason". Any other status, a redirect, a timeout (WebhookOptions.Timeout),
// a network error or a malformed answer denies with ErrUnavailable. An
// "expires" already past denies with ErrTokenExpired. The reason, cut to 100
// bytes, goes into the error message.
//
// Decisions, allows and denials alike, are cached per room, token and
// forwarded headers for WebhookOptions.CacheTTL (an allow no longer than its
// expires), up to WebhookOptions.CacheSize entries, the oldest evicted first.
// ErrUnavailable is never cached. Identical requests in flight at once share
// one call.
//
// # Concurrency
//
// Everything in the package is safe for concurrent use: Verifier (Verify,
// Authorize, Reload, Keys), Webhook (Authorize) and AuthorizerFunc, as far
// as its function is. Grant is a value; the Rooms slice of a returned grant
// belongs to the caller.
package auth
