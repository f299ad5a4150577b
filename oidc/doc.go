// Package oidc verifies OpenID Connect bearer tokens (JWTs) and makes
// their principals: the gateway's second way in, beside API keys.
//
// A Verifier discovers its issuer (Config.Issuer +
// /.well-known/openid-configuration) with github.com/coreos/go-oidc/v3,
// whose remote key set caches the issuer's keys (JWKS) and fetches them
// again when a token names a key ID it does not hold, which is how a
// rotation reaches the gateway; this package lets one such fetch through
// per Config.KeyRefreshInterval, so that tokens with made-up key IDs cannot
// make the gateway hammer the issuer. A token is accepted when it is a
// compact JWS signed with one of Config.Algorithms (never none, never an
// HS algorithm) by one of the issuer's keys, names the issuer (iss) and
// the audience (aud), has not expired (exp) and is valid already (nbf,
// with go-oidc's five minutes of leeway); Config.Claims then maps its
// claims to a namespace, the namespaces it sees and its scopes
// (Mapping.MapClaims).
//
// The issuer being down does not stop the gateway from starting: New
// waits a little for the first discovery, then returns a Verifier that
// tries again when asked to verify, waiting longer after each failure,
// and refuses tokens meanwhile with EUNAVAILABLE (503). The reasons of
// refusals (EUNAUTHORIZED, 401) are told in their messages, which never
// repeat the token. docs/security-oidc.md describes the settings.
package oidc
