package secrets

import (
	"context"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// DefaultCacheTTL is how long a Vault keeps a value it revealed, when
// CacheTTL is not set.
const DefaultCacheTTL = 5 * time.Second

// Vault is the secrets service over a store and a keyring: values are
// sealed before the store sees them and opened only by Reveal. It is safe
// for concurrent use.
type Vault struct {
	store platform.SecretStore
	keys  *Keyring

	// CacheTTL is how long a revealed value is kept in memory, so that
	// calls to an agent in quick succession do not each read and decrypt
	// its secret. Setting or deleting a secret through this Vault forgets
	// its value at once; another replica's change is seen within CacheTTL.
	// Negative: no cache. Default DefaultCacheTTL.
	CacheTTL time.Duration

	now   func() time.Time
	mu    sync.Mutex
	cache map[secretKey]cached
	// gen counts the values forgotten, so that a value read before a
	// change is not cached after it.
	gen uint64
}

type secretKey struct{ namespace, name string }

type cached struct {
	value   string
	expires time.Time
}

var _ platform.Secrets = (*Vault)(nil)

// NewVault returns the vault of store under keys.
func NewVault(store platform.SecretStore, keys *Keyring) *Vault {
	return &Vault{store: store, keys: keys, now: time.Now, cache: map[secretKey]cached{}}
}

// Keys is the vault's keyring.
func (v *Vault) Keys() *Keyring { return v.keys }

// Set stores value under name in namespace, sealed under the current key.
func (v *Vault) Set(ctx context.Context, namespace, name, value string) (*platform.Secret, bool, error) {
	if err := platform.ValidateSecret(name, value); err != nil {
		return nil, false, err
	}
	keyID, sealed, err := v.keys.Seal(namespace, name, value)
	if err != nil {
		return nil, false, err
	}
	s := &platform.SealedSecret{Secret: platform.Secret{Namespace: namespace, Name: name, KeyID: keyID}, Ciphertext: sealed}
	created, err := v.store.PutSecret(ctx, s)
	v.forget(namespace, name)
	if err != nil {
		return nil, false, err
	}
	meta := s.Secret
	return &meta, created, nil
}

// Lookup returns the secret's metadata.
func (v *Vault) Lookup(ctx context.Context, namespace, name string) (*platform.Secret, error) {
	s, err := v.store.FindSecret(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	meta := s.Secret
	return &meta, nil
}

// List returns one page of the secrets f selects.
func (v *Vault) List(ctx context.Context, f platform.SecretFilter) (platform.SecretPage, error) {
	return v.store.ListSecrets(ctx, f)
}

// Delete removes the secret.
func (v *Vault) Delete(ctx context.Context, namespace, name string) error {
	err := v.store.DeleteSecret(ctx, namespace, name)
	v.forget(namespace, name)
	return err
}

// Reveal returns the secret's value. An error names the secret, never a
// value: ENOTFOUND, or Keyring.Open's.
func (v *Vault) Reveal(ctx context.Context, namespace, name string) (string, error) {
	k := secretKey{namespace, name}
	ttl := v.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	now := v.now()
	v.mu.Lock()
	c, ok := v.cache[k]
	gen := v.gen
	v.mu.Unlock()
	if ttl > 0 && ok && now.Before(c.expires) {
		return c.value, nil
	}
	s, err := v.store.FindSecret(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	value, err := v.keys.Open(namespace, name, s.KeyID, s.Ciphertext)
	if err != nil {
		return "", err
	}
	if ttl > 0 {
		v.mu.Lock()
		if v.gen == gen {
			v.cache[k] = cached{value: value, expires: now.Add(ttl)}
		}
		v.mu.Unlock()
	}
	return value, nil
}

func (v *Vault) forget(namespace, name string) {
	v.mu.Lock()
	delete(v.cache, secretKey{namespace, name})
	v.gen++
	v.mu.Unlock()
}

// RotateReport is what Rotate did.
type RotateReport struct {
	// KeyID is the current key, every secret's after a complete rotation.
	KeyID string
	// Resealed counts the secrets re-encrypted under it.
	Resealed int
	// Failed are the secrets that could not be opened, by
	// "namespace/name", with why: sealed under a key the keyring lacks, or
	// altered. They are left as they are.
	Failed map[string]string
}

// rotateBatch is how many secrets Rotate reads at a time.
const rotateBatch = 100

// Rotate re-encrypts under the current key every secret of every
// namespace sealed under another key, one at a time: each is replaced only
// when its stored value is still the one read, so a value set meanwhile
// is never overwritten. It may run while gateways serve, on any number of
// replicas at once. A secret that cannot be opened is reported in Failed
// and left; Rotate goes on with the others.
func (v *Vault) Rotate(ctx context.Context) (RotateReport, error) {
	rep := RotateReport{KeyID: v.keys.CurrentID(), Failed: map[string]string{}}
	f := platform.SecretFilter{Namespace: platform.AllNamespaces, NotKeyID: rep.KeyID, Limit: rotateBatch}
	for {
		page, err := v.store.ListSecrets(ctx, f)
		if err != nil {
			return rep, err
		}
		for _, meta := range page.Items {
			s, err := v.store.FindSecret(ctx, meta.Namespace, meta.Name)
			if platform.ErrorCode(err) == platform.ENOTFOUND {
				continue // deleted meanwhile
			}
			if err != nil {
				return rep, err
			}
			if s.KeyID == rep.KeyID {
				continue // set anew meanwhile
			}
			value, err := v.keys.Open(s.Namespace, s.Name, s.KeyID, s.Ciphertext)
			if err != nil {
				rep.Failed[s.Namespace+"/"+s.Name] = platform.ErrorMessage(err)
				continue
			}
			keyID, sealed, err := v.keys.Seal(s.Namespace, s.Name, value)
			if err != nil {
				return rep, err
			}
			ok, err := v.store.ResealSecret(ctx, s.Namespace, s.Name, s.Ciphertext, keyID, sealed)
			if err != nil {
				return rep, err
			}
			if ok {
				rep.Resealed++
			}
		}
		if !page.More || len(page.Items) == 0 {
			return rep, nil
		}
		last := page.Items[len(page.Items)-1]
		f.AfterNamespace, f.AfterName = last.Namespace, last.Name
	}
}

// Stale counts the secrets sealed under another key than the current
// one: under a previous key of the keyring (which Rotate re-encrypts), and
// under a key it does not have (which no call can use).
func (v *Vault) Stale(ctx context.Context) (previous, unknown int, err error) {
	f := platform.SecretFilter{Namespace: platform.AllNamespaces, NotKeyID: v.keys.CurrentID(), Limit: platform.MaxPageSize}
	for {
		page, err := v.store.ListSecrets(ctx, f)
		if err != nil {
			return previous, unknown, err
		}
		for _, s := range page.Items {
			if v.keys.Has(s.KeyID) {
				previous++
			} else {
				unknown++
			}
		}
		if !page.More || len(page.Items) == 0 {
			return previous, unknown, nil
		}
		last := page.Items[len(page.Items)-1]
		f.AfterNamespace, f.AfterName = last.Namespace, last.Name
	}
}
