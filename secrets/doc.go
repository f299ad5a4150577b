// Package secrets keeps the values agents authenticate with, encrypted at
// rest: a Keyring seals each value with AES-256-GCM under the current key
// (OSSA_SECRET_KEY) and opens values sealed under it or under a previous
// key (OSSA_SECRET_KEY_PREVIOUS); a Vault puts the keyring in front of a
// platform.SecretStore, which only ever sees ciphertexts, and is the
// platform.Secrets the gateway and the agent client use.
//
// A sealed value is one format byte (1), a random 96-bit nonce, and the
// AES-GCM ciphertext with its tag. Its key ID is stored beside it, and the
// additional data authenticated with it binds it to that key ID and to the
// secret's namespace and name, so that a ciphertext copied onto another
// secret, or relabelled with another key ID, does not open.
//
// Rotation: a Keyring opens what any of its keys sealed and seals with the
// current one; Vault.Rotate re-encrypts under the current key every secret
// sealed under another (docs/security-secrets.md has the procedure).
package secrets
