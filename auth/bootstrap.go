package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ossa-platform/platform"
)

// AdminKeyFile is the file of the data directory that holds the admin key
// the first start made, readable by its owner only. The CLI reads it when
// it is given no key.
const AdminKeyFile = "admin.key"

// Bootstrap makes the first admin key when keys holds none: it acts in
// DefaultNamespace, sees every namespace and holds ScopeAdmin. It writes
// the key to dir/AdminKeyFile (mode 0600) and returns it, to be shown
// once, and the file's path. When the store holds a key already (or
// another gateway made the first at the same moment) it returns "" and
// writes nothing.
func Bootstrap(ctx context.Context, keys platform.KeyStore, dir string) (key, path string, err error) {
	existing, err := keys.ListKeys(ctx, platform.AllNamespaces)
	if err != nil || len(existing) > 0 {
		return "", "", err
	}
	secret, prefix, hash := platform.NewAPIKeySecret()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, AdminKeyFile)
	// The file is written before the key is stored, so that a key that
	// works is never one nobody has.
	tmp, err := os.CreateTemp(dir, AdminKeyFile+".*")
	if err != nil {
		return "", "", err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after the rename, a no-op
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return "", "", err
	}
	if err := tmp.Close(); err != nil {
		return "", "", err
	}
	k := &platform.APIKey{Name: "admin (made by the first start)", Namespace: platform.DefaultNamespace,
		Namespaces: []string{platform.AllNamespaces}, Scopes: []platform.Scope{platform.ScopeAdmin},
		Prefix: prefix, Hash: hash, CreatedBy: "bootstrap"}
	stored, err := keys.CreateFirstKey(ctx, k)
	if err != nil || !stored {
		return "", "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", "", fmt.Errorf("the admin key %s was made but not written to %s: %w", prefix, path, err)
	}
	return secret, path, nil
}

// ReadKeyFile returns the key in dir/AdminKeyFile, or "" when there is no
// such file.
func ReadKeyFile(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, AdminKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
