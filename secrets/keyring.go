package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ossa-platform/platform"
)

// KeySize is the size of a key: 32 bytes, for AES-256.
const KeySize = 32

// format is the first byte of every sealed value, the layout's version.
const format = 1

// nonceSize is AES-GCM's standard nonce: 96 random bits. With a random
// nonce a key may seal about 2^32 values before the chance of a repeated
// nonce matters; secrets are set by people, far fewer.
const nonceSize = 12

// ParseKey reads a key written in base64 (standard or URL alphabet, padded
// or not), which must decode to KeySize bytes. Errors never quote the key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("must be %d bytes in base64, not %d bytes (make one with: openssl rand -base64 32)", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("must be %d bytes in base64 (make one with: openssl rand -base64 32)", KeySize)
}

// NewKey returns a random key in base64, as ParseKey reads it.
func NewKey() string {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(key)
}

// KeyID names key without telling anything of it: the first 16 hex digits
// of a SHA-256 of it, under a label of its own.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("ossa secret key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// Keyring seals values under its current key and opens values sealed under
// any of its keys. It is safe for concurrent use.
type Keyring struct {
	current string
	keys    map[string]cipher.AEAD
	ids     []string // current first, then the previous keys in order
}

// NewKeyring returns a keyring that seals under current and opens what
// current or any of previous sealed. A previous key equal to the current
// one, or to another, is dropped.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("key %d is %d bytes, not %d", i, len(key), KeySize)
		}
		id := KeyID(key)
		if _, ok := k.keys[id]; ok {
			continue
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys[id] = aead
		k.ids = append(k.ids, id)
	}
	k.current = k.ids[0]
	return k, nil
}

// CurrentID is the ID of the key values are sealed under.
func (k *Keyring) CurrentID() string { return k.current }

// IDs are the IDs of every key of the keyring, the current one first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// Has reports whether the keyring holds the key id names.
func (k *Keyring) Has(id string) bool { _, ok := k.keys[id]; return ok }

// additionalData binds a sealed value to its key ID and its secret. Names
// and namespaces are DNS-1123 labels, which hold no NUL.
func additionalData(keyID, namespace, name string) []byte {
	return []byte("ossa secret v1\x00" + keyID + "\x00" + namespace + "\x00" + name)
}

// Seal encrypts value for the secret name of namespace under the current
// key, returning that key's ID and the sealed value.
func (k *Keyring) Seal(namespace, name, value string) (keyID string, sealed []byte, err error) {
	aead := k.keys[k.current]
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(value)+aead.Overhead())
	out[0] = format
	if _, err := rand.Read(out[1:]); err != nil {
		return "", nil, err
	}
	return k.current, aead.Seal(out, out[1:1+nonceSize], []byte(value), additionalData(k.current, namespace, name)), nil
}

// Open decrypts what Seal sealed under keyID for the secret name of
// namespace. A key the keyring does not have is EUNAVAILABLE; a sealed
// value that does not open (altered, or sealed for another secret or under
// another key) is EINTERNAL. The errors name the secret and the key ID,
// never a value.
func (k *Keyring) Open(namespace, name, keyID string, sealed []byte) (string, error) {
	aead, ok := k.keys[keyID]
	if !ok {
		return "", platform.Errorf(platform.EUNAVAILABLE,
			"it is encrypted under key %s, which this gateway does not have: set that key in OSSA_SECRET_KEY_PREVIOUS, or set the secret anew", keyID)
	}
	if len(sealed) < 1+nonceSize+aead.Overhead() || sealed[0] != format {
		return "", platform.Errorf(platform.EINTERNAL, "its stored value is not a sealed value this gateway can read")
	}
	value, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], additionalData(keyID, namespace, name))
	if err != nil {
		return "", platform.Errorf(platform.EINTERNAL,
			"its stored value does not decrypt under key %s: it was altered, or copied from another secret", keyID)
	}
	return string(value), nil
}

// LoadKeyFile reads the key kept in the file at path, creating the file
// with a new key, readable by its owner alone, when there is none. created
// reports a new file. The file appears whole or not at all: it is written
// aside and linked into place, which fails when another process got there
// first, whose key is then read.
func LoadKeyFile(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		created, err = writeKeyFile(path)
		if err != nil {
			return nil, false, fmt.Errorf("create the key file %s: %w", path, err)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, err
	}
	key, err = ParseKey(string(b))
	if err != nil {
		return nil, false, fmt.Errorf("the key in %s %w", path, err)
	}
	return key, created, nil
}

func writeKeyFile(path string) (bool, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
	if err != nil {
		return false, err
	}
	defer func() { _ = os.Remove(f.Name()) }() // linked into place, or failed: either way not needed
	_, werr := f.WriteString(NewKey() + "\n")
	if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return false, err
	}
	err = os.Link(f.Name(), path)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	return err == nil, err
}
